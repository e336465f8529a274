// NVLink between GPUs as hwloc records it: a distances matrix named
// "NVLinkBandwidth" (values in MB/s) over GPU objects (NVML/CUDA OS devices
// or PCI devices), NVSwitches (PCI devices) and CPU-side objects (POWER).
#pragma once

#include <hwloc.h>

#include <cstdint>
#include <vector>

#include "topology/topology.h"

namespace sam {
namespace topo {

// hwloc's per-link one-way rates (topology-nvml.c): NVLink 1 = 20 GB/s,
// NVLink 2 and later = 25 GB/s. We use the same so that a matrix we write
// reads back like one written by hwloc's own NVML plugin.
constexpr uint64_t kNvlink1MBps = 20000;
constexpr uint64_t kNvlinkMBps = 25000;
// The value hwloc puts on the diagonal ("local is faster than remote").
constexpr uint64_t kNvlinkSelfMBps = 1000000;
constexpr const char* kNvlinkMatrixName = "NVLinkBandwidth";

// Per GPU pair (gpus x gpus, row-major) NVLink bandwidth in MB/s from the
// topology's NVLinkBandwidth matrix: the direct value plus, through
// NVSwitches, the smaller of the two GPUs' total switch bandwidths. Links to
// CPUs are ignored. Returns false (and leaves *pairMBps alone) when the
// topology has no such matrix.
bool readNvlinkMatrix(hwloc_topology_t hw, const std::vector<Gpu>& gpus, std::vector<uint64_t>* pairMBps);

// The number of links behind a bandwidth: a multiple of 25 GB/s counts as
// NVLink 2+ links, else a multiple of 20 GB/s as NVLink 1 links, else 0
// (unknown: shown as "NVL").
int nvlinksFromBandwidth(uint64_t mbps);

// Adds an NVLinkBandwidth matrix between the given GPUs' PCI objects
// (pairMBps: gpus x gpus) so that a saved XML file keeps NVLinks found
// through NVML. GPUs without a PCI object are left out. Returns false (after
// a WARN) if hwloc refuses it.
bool addNvlinkMatrix(hwloc_topology_t hw, const std::vector<Gpu>& gpus, const std::vector<uint64_t>& pairMBps);

}  // namespace topo
}  // namespace sam
