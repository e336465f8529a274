// Where I/O devices sit in the PCI tree, and the link class of the path
// between two of them, with nvidia-smi's names (PIX, PXB, PHB, NODE, SYS).
#pragma once

#include <hwloc.h>

#include <string>

#include "sam.h"

namespace sam {
namespace topo {

// Info on a PCI device recording the NUMA node the OS gives it (sysfs
// numa_node), written at live discovery where hwloc's locality spans
// several NUMA nodes (a VM, sub-NUMA clustering); kept in saved files.
constexpr const char* kInfoNumaNode = "SAMNumaNode";

// The NUMA node (os index) local to an I/O object: kInfoNumaNode on its PCI
// device if set, else the one NUMA node of its first non-I/O ancestor, or -1
// when that ancestor spans none or several.
int numaOf(hwloc_topology_t hw, hwloc_obj_t obj);
// How many NUMA nodes the first non-I/O ancestor of obj spans.
int cpuSideNumaCount(hwloc_topology_t hw, hwloc_obj_t obj);

// The PCI device an object hangs from (itself if it is one), or null.
hwloc_obj_t pciDeviceOf(hwloc_obj_t obj);

// "0000:84:00.0" for a PCI device, "" for anything else.
std::string pciBusId(hwloc_obj_t pci);

// The class of the PCIe path between two I/O objects:
//  - lowest common ancestor is a PCI bridge: PIX if neither side crosses
//    more than one further bridge below it (one switch: downstream port ->
//    upstream port), else PXB;
//  - it is a host bridge: PHB;
//  - otherwise (different host bridges): NODE if the two devices' CPU-side
//    localities share a NUMA node, else SYS.
// A null object (a device hwloc does not see) gives SYS.
samLinkClass_t pciLinkClass(hwloc_topology_t hw, hwloc_obj_t a, hwloc_obj_t b);

}  // namespace topo
}  // namespace sam
