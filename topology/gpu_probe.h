// What the NVIDIA driver says about this machine's GPUs, for the parts hwloc
// may lack (a Debian hwloc has no CUDA/NVML plugin and sees GPUs only as PCI
// devices): names, UUIDs, CUDA ordinals and NVLinks. NVML and the CUDA
// driver are dlopen'ed; without them the probe is empty and discovery uses
// hwloc alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace sam {
namespace topo {

struct ProbedGpu {
  std::string busId;  // normalised "0000:84:00.0"
  std::string name;
  std::string uuid;
  int cudaIndex = -1;  // this process's CUDA ordinal (honours CUDA_VISIBLE_DEVICES)
};

struct GpuProbe {
  // NVML listed this process's GPUs: names, UUIDs and NVLinks are known,
  // and a GPU it does not list is not usable here.
  bool nvml = false;
  std::vector<ProbedGpu> gpus;  // NVML's order; CUDA-only GPUs appended
  // Link counts between probed GPUs (gpus x gpus) and from each GPU to
  // NVSwitches; links to CPUs (IBM NPUs) are not counted.
  std::vector<int> directLinks;
  std::vector<int> switchLinks;
  std::vector<uint64_t> perLinkMBps;  // per GPU: 20000 for NVLink 1, else 25000

  // NVLink bandwidth in MB/s between probed GPUs a and b (direct links plus
  // what the NVSwitches allow: the smaller of the two GPUs' switch links).
  uint64_t pairMBps(size_t a, size_t b) const;
  int pairLinks(size_t a, size_t b) const;
};

// Never throws and never fails: anything missing is logged at INFO.
GpuProbe probeGpus();

// "00000000:84:00.0" or "0000:84:00.0" -> "0000:84:00.0" (lower case); ""
// if it does not parse.
std::string normaliseBusId(const std::string& busId);

}  // namespace topo
}  // namespace sam
