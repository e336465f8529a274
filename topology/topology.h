// The topology model behind samTopology_t: what hwloc (and, on a live machine,
// NVML and the CUDA driver) say about CPUs, GPUs, NICs and the links between
// GPUs. Built once, read-only afterwards, so queries need no locking.
#pragma once

#include <hwloc.h>

#include <memory>
#include <string>
#include <vector>

#include "sam.h"

namespace sam {
namespace topo {

struct Gpu {
  samGpuInfo_t info{};
  hwloc_obj_t pci = nullptr;  // the GPU's PCI device; null if only NVML saw it
  float pcieGBps = 0.f;       // hwloc's PCIe link speed of the device, 0 if unknown
};

struct Nic {
  samNicInfo_t info{};
  hwloc_obj_t anchor = nullptr;  // the NIC's PCI device, else its OS device
};

// Owns an hwloc topology.
struct HwlocDeleter {
  void operator()(hwloc_topology* t) const { hwloc_topology_destroy(t); }
};
using HwlocPtr = std::unique_ptr<hwloc_topology, HwlocDeleter>;

}  // namespace topo
}  // namespace sam

struct samTopology {
  sam::topo::HwlocPtr hw;
  std::string source;  // "this machine", a file path or "synthetic:<desc>"
  int counts[samTopoNics + 1] = {};
  std::vector<sam::topo::Gpu> gpus;
  std::vector<sam::topo::Nic> nics;
  std::vector<samLinkInfo_t> gpuLinks;  // gpus x gpus, row-major
  std::vector<samLinkInfo_t> nicLinks;  // gpus x nics, row-major

  const samLinkInfo_t& gpuLink(int a, int b) const { return gpuLinks[a * gpus.size() + b]; }
  const samLinkInfo_t& nicLink(int g, int n) const { return nicLinks[g * nics.size() + n]; }
};

namespace sam {
namespace topo {

// Builders; each throws sam::Error with a message naming the source.
// The live machine: hwloc, then NVML/CUDA when probeGpus (SAM_TOPO_GPU_PROBE).
std::unique_ptr<samTopology> discoverLive(bool probeGpus);
std::unique_ptr<samTopology> loadXmlFile(const std::string& path);
// An hwloc synthetic description ("pack:2 numa:2 core:4 pu:2"); for tests.
std::unique_ptr<samTopology> loadSynthetic(const std::string& description);

}  // namespace topo
}  // namespace sam
