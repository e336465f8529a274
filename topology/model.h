// Building the samTopology model from a loaded hwloc topology.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "topology/gpu_probe.h"
#include "topology/topology.h"

namespace sam {
namespace topo {

// Hwloc info names we read (and, from NVML, write on GPU PCI devices so that
// a saved file keeps them): the ones hwloc's own NVML/CUDA plugins use, plus
// our CUDA ordinal.
constexpr const char* kInfoGpuModel = "GPUModel";
constexpr const char* kInfoUuid = "NVIDIAUUID";
constexpr const char* kInfoCudaIndex = "SAMCudaIndex";
// Marks a GPU on the PCI bus that the driver does not show to this process
// (cgroups: a container given some of the machine's GPUs); such GPUs are
// left out of the model, as nvidia-smi leaves them out.
constexpr const char* kInfoHidden = "SAMHiddenGpu";

// NVIDIA 3D/VGA controllers among the PCI devices (except those marked
// kInfoHidden), in PCI bus order, with
// what hwloc knows of them (names, UUIDs, CUDA ordinals from OS devices or
// from the infos above).
std::vector<Gpu> findGpus(hwloc_topology_t hw);

// Writes what the probe learnt into the hwloc topology: GPUModel, NVIDIAUUID
// and SAMCudaIndex infos on the GPUs' PCI devices, kInfoHidden on those NVML
// does not list (when NVML answered), and an NVLinkBandwidth matrix when
// hwloc has none or a weaker one.
void annotateWithProbe(hwloc_topology_t hw, const GpuProbe& probe);

// Live machines only: where hwloc places a PCI device under CPUs of several
// NUMA nodes, records the node the OS gives it (see kInfoNumaNode).
void annotateNumaFromSysfs(hwloc_topology_t hw);

// The model of a loaded topology. probe (may be null) adds the GPUs hwloc
// did not see and their NVLinks.
std::unique_ptr<samTopology> buildModel(HwlocPtr hw, const std::string& source, const GpuProbe* probe);

template <size_t N>
void copyString(char (&dst)[N], const std::string& src) {
  size_t n = src.size() < N - 1 ? src.size() : N - 1;
  src.copy(dst, n);
  dst[n] = '\0';
}

}  // namespace topo
}  // namespace sam
