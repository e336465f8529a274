#include "topology/gpu_probe.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "core/log.h"
#include "topology/nvlink.h"
#include "topology/nvml_api.h"

namespace sam {
namespace topo {
namespace {

template <typename Fn>
Fn symbol(void* lib, const char* name) {
  return reinterpret_cast<Fn>(dlsym(lib, name));
}

struct Nvml {
  void* lib = nullptr;
  nvml::InitFn init = nullptr;
  nvml::ShutdownFn shutdown = nullptr;
  nvml::GetCountFn getCount = nullptr;
  nvml::GetHandleByIndexFn getHandle = nullptr;
  nvml::GetNameFn getName = nullptr;
  nvml::GetUuidFn getUuid = nullptr;
  nvml::GetPciInfoFn getPci = nullptr;
  nvml::GetNvLinkStateFn linkState = nullptr;
  nvml::GetNvLinkRemotePciInfoFn linkRemotePci = nullptr;
  nvml::GetNvLinkRemoteDeviceTypeFn linkRemoteType = nullptr;  // optional (newer drivers)
  nvml::GetNvLinkVersionFn linkVersion = nullptr;              // optional
  nvml::ErrorStringFn errorString = nullptr;                   // optional
  bool initialised = false;

  const char* why(nvml::Return r) const { return errorString ? errorString(r) : "NVML error"; }

  // Loads the library and the entry points we need; false (logged) if absent.
  bool open() {
    lib = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) {
      SAM_INFO(LOG_TOPO, "NVML not available (%s): GPU names, UUIDs and NVLinks from hwloc only", dlerror());
      return false;
    }
    init = symbol<nvml::InitFn>(lib, "nvmlInit_v2");
    shutdown = symbol<nvml::ShutdownFn>(lib, "nvmlShutdown");
    getCount = symbol<nvml::GetCountFn>(lib, "nvmlDeviceGetCount_v2");
    getHandle = symbol<nvml::GetHandleByIndexFn>(lib, "nvmlDeviceGetHandleByIndex_v2");
    getName = symbol<nvml::GetNameFn>(lib, "nvmlDeviceGetName");
    getUuid = symbol<nvml::GetUuidFn>(lib, "nvmlDeviceGetUUID");
    getPci = symbol<nvml::GetPciInfoFn>(lib, "nvmlDeviceGetPciInfo_v3");
    linkState = symbol<nvml::GetNvLinkStateFn>(lib, "nvmlDeviceGetNvLinkState");
    linkRemotePci = symbol<nvml::GetNvLinkRemotePciInfoFn>(lib, "nvmlDeviceGetNvLinkRemotePciInfo_v2");
    linkRemoteType = symbol<nvml::GetNvLinkRemoteDeviceTypeFn>(lib, "nvmlDeviceGetNvLinkRemoteDeviceType");
    linkVersion = symbol<nvml::GetNvLinkVersionFn>(lib, "nvmlDeviceGetNvLinkVersion");
    errorString = symbol<nvml::ErrorStringFn>(lib, "nvmlErrorString");
    if (!init || !shutdown || !getCount || !getHandle || !getPci) {
      SAM_INFO(LOG_TOPO, "NVML library lacks nvmlInit_v2/nvmlDeviceGetPciInfo_v3: not used");
      return false;
    }
    nvml::Return r = init();
    if (r != nvml::kSuccess) {
      SAM_INFO(LOG_TOPO, "nvmlInit failed (%s): GPU details from hwloc only", why(r));
      return false;
    }
    initialised = true;
    return true;
  }

  ~Nvml() {
    if (initialised) shutdown();
    if (lib != nullptr) dlclose(lib);
  }
};

std::string fixedString(const char* buf, size_t size) { return std::string(buf, strnlen(buf, size)); }

// Fills names, UUIDs and bus ids; returns the NVML handles, in probe order.
std::vector<nvml::Device> listNvmlGpus(const Nvml& lib, GpuProbe* probe) {
  std::vector<nvml::Device> devices;
  unsigned count = 0;
  nvml::Return r = lib.getCount(&count);
  if (r != nvml::kSuccess) {
    SAM_INFO(LOG_TOPO, "nvmlDeviceGetCount failed (%s)", lib.why(r));
    return devices;
  }
  for (unsigned i = 0; i < count; ++i) {
    nvml::Device dev = nullptr;
    if ((r = lib.getHandle(i, &dev)) != nvml::kSuccess) {
      SAM_INFO(LOG_TOPO, "nvmlDeviceGetHandleByIndex(%u) failed (%s): GPU skipped", i, lib.why(r));
      continue;
    }
    nvml::PciInfo pci{};
    if ((r = lib.getPci(dev, &pci)) != nvml::kSuccess) {
      SAM_INFO(LOG_TOPO, "nvmlDeviceGetPciInfo(%u) failed (%s): GPU skipped", i, lib.why(r));
      continue;
    }
    ProbedGpu g;
    g.busId = normaliseBusId(fixedString(pci.busId, sizeof(pci.busId)));
    if (g.busId.empty()) continue;
    char buf[nvml::kNameBufferSize] = "";
    if (lib.getName && lib.getName(dev, buf, sizeof(buf)) == nvml::kSuccess) g.name = fixedString(buf, sizeof(buf));
    char ubuf[nvml::kUuidBufferSize] = "";
    if (lib.getUuid && lib.getUuid(dev, ubuf, sizeof(ubuf)) == nvml::kSuccess) g.uuid = fixedString(ubuf, sizeof(ubuf));
    probe->gpus.push_back(g);
    devices.push_back(dev);
  }
  return devices;
}

// Counts each GPU's active links by what is at their far end.
void countNvlinks(const Nvml& lib, const std::vector<nvml::Device>& devices, GpuProbe* probe) {
  const size_t n = devices.size();
  probe->directLinks.assign(n * n, 0);
  probe->switchLinks.assign(n, 0);
  probe->perLinkMBps.assign(n, kNvlinkMBps);
  if (!lib.linkState || !lib.linkRemotePci) return;
  for (size_t a = 0; a < n; ++a) {
    for (unsigned link = 0; link < nvml::kMaxLinksProbed; ++link) {
      int state = 0;
      // NVML answers INVALID_ARGUMENT past the last link, NOT_SUPPORTED
      // on GPUs without NVLink: either way this GPU is done.
      if (lib.linkState(devices[a], link, &state) != nvml::kSuccess) break;
      if (state != nvml::kEnableStateEnabled) continue;
      nvml::PciInfo remote{};
      if (lib.linkRemotePci(devices[a], link, &remote) != nvml::kSuccess) continue;
      unsigned version = 0;
      if (lib.linkVersion && lib.linkVersion(devices[a], link, &version) == nvml::kSuccess && version == 1)
        probe->perLinkMBps[a] = kNvlink1MBps;
      std::string peer = normaliseBusId(fixedString(remote.busId, sizeof(remote.busId)));
      auto it = std::find_if(probe->gpus.begin(), probe->gpus.begin() + n,
                             [&](const ProbedGpu& g) { return g.busId == peer; });
      if (it != probe->gpus.begin() + n) {
        probe->directLinks[a * n + size_t(it - probe->gpus.begin())] += 1;
        continue;
      }
      // Not one of our GPUs: an NVSwitch, a CPU (IBM NPU), or a GPU hidden
      // from us (cgroups, CUDA_VISIBLE_DEVICES does not hide from NVML).
      unsigned type = 0xff;
      if (lib.linkRemoteType && lib.linkRemoteType(devices[a], link, &type) == nvml::kSuccess) {
        if (type == nvml::kDeviceTypeSwitch) probe->switchLinks[a] += 1;
        continue;
      }
      // Older NVML: an NVIDIA device that is not a GPU we know is a switch.
      if ((remote.pciDeviceId & 0xffff) == 0x10de) probe->switchLinks[a] += 1;
    }
  }
}

// CUDA ordinals by bus id, from the driver API (what cudaSetDevice numbers).
void addCudaOrdinals(GpuProbe* probe) {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    SAM_INFO(LOG_TOPO, "CUDA driver not available (%s): CUDA ordinals from hwloc only", dlerror());
    return;
  }
  // libcuda is never dlclose'd: once initialised it keeps driver threads.
  auto init = symbol<cu::InitFn>(lib, "cuInit");
  auto getCount = symbol<cu::DeviceGetCountFn>(lib, "cuDeviceGetCount");
  auto get = symbol<cu::DeviceGetFn>(lib, "cuDeviceGet");
  auto busIdOf = symbol<cu::DeviceGetPciBusIdFn>(lib, "cuDeviceGetPCIBusId");
  int count = 0;
  cu::Result r = cu::kSuccess;
  if (!init || !getCount || !get || !busIdOf) {
    SAM_INFO(LOG_TOPO, "CUDA driver lacks cuInit/cuDeviceGetPCIBusId: CUDA ordinals unknown");
    return;
  }
  if ((r = init(0)) != cu::kSuccess || (r = getCount(&count)) != cu::kSuccess) {
    SAM_INFO(LOG_TOPO, "cuInit/cuDeviceGetCount failed (CUresult %d): CUDA ordinals unknown", r);
    return;
  }
  for (int ordinal = 0; ordinal < count; ++ordinal) {
    cu::Device dev = 0;
    char buf[64] = "";
    if (get(&dev, ordinal) != cu::kSuccess || busIdOf(buf, int(sizeof(buf)), dev) != cu::kSuccess) continue;
    std::string busId = normaliseBusId(fixedString(buf, sizeof(buf)));
    if (busId.empty()) continue;
    auto it = std::find_if(probe->gpus.begin(), probe->gpus.end(),
                           [&](const ProbedGpu& g) { return g.busId == busId; });
    if (it == probe->gpus.end()) {
      probe->gpus.push_back(ProbedGpu{busId, "", "", ordinal});
    } else {
      it->cudaIndex = ordinal;
    }
  }
}

}  // namespace

uint64_t GpuProbe::pairMBps(size_t a, size_t b) const {
  if (a == b || a >= switchLinks.size() || b >= switchLinks.size()) return 0;
  const size_t n = switchLinks.size();
  uint64_t rate = std::min(perLinkMBps[a], perLinkMBps[b]);
  uint64_t direct = uint64_t(std::max(directLinks[a * n + b], directLinks[b * n + a]));
  return (direct + uint64_t(std::min(switchLinks[a], switchLinks[b]))) * rate;
}

int GpuProbe::pairLinks(size_t a, size_t b) const {
  if (a == b || a >= switchLinks.size() || b >= switchLinks.size()) return 0;
  const size_t n = switchLinks.size();
  return std::max(directLinks[a * n + b], directLinks[b * n + a]) + std::min(switchLinks[a], switchLinks[b]);
}

std::string normaliseBusId(const std::string& busId) {
  // domain:bus:device.function, each field hex digits only (sscanf's %x
  // would also take "0x" prefixes and signs).
  unsigned field[4] = {0, 0, 0, 0};
  const char seps[4] = {':', ':', '.', '\0'};
  size_t pos = 0;
  for (int f = 0; f < 4; ++f) {
    size_t start = pos;
    while (pos < busId.size() && isxdigit(static_cast<unsigned char>(busId[pos])) && pos - start < 8) {
      char c = char(tolower(busId[pos++]));
      field[f] = field[f] * 16 + unsigned(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    if (pos == start) return "";
    if (f < 3) {
      if (pos >= busId.size() || busId[pos] != seps[f]) return "";
      ++pos;
    }
  }
  if (pos != busId.size()) return "";
  if (field[0] > 0xffff || field[1] > 0xff || field[2] > 0x1f || field[3] > 7) return "";
  char buf[32];
  snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%x", field[0], field[1], field[2], field[3]);
  return buf;
}

GpuProbe probeGpus() {
  GpuProbe probe;
  {
    Nvml lib;
    if (lib.open()) {
      probe.nvml = true;
      std::vector<nvml::Device> devices = listNvmlGpus(lib, &probe);
      countNvlinks(lib, devices, &probe);
      SAM_INFO(LOG_TOPO, "NVML: %zu GPUs", probe.gpus.size());
    }
  }
  addCudaOrdinals(&probe);
  return probe;
}

}  // namespace topo
}  // namespace sam
