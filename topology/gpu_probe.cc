#include "topology/gpu_probe.h"

#include <dlfcn.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
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
  probe->nvml = true;  // NVML listed this process's GPUs (maybe none)
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
      unsigned version = 0;
      if (lib.linkVersion && lib.linkVersion(devices[a], link, &version) == nvml::kSuccess && version == 1)
        probe->perLinkMBps[a] = kNvlink1MBps;
      // What is at the far end: the remote device type where NVML has it
      // (a switch's PCI info may be unavailable, e.g. in a VM), else the
      // remote PCI device: one of our GPUs, or an NVIDIA device that is not
      // (an NVSwitch). CPUs (IBM NPUs) and GPUs hidden from us are skipped.
      unsigned type = 0xff;
      bool typed = lib.linkRemoteType && lib.linkRemoteType(devices[a], link, &type) == nvml::kSuccess;
      if (typed && type == nvml::kDeviceTypeSwitch) {
        probe->switchLinks[a] += 1;
        continue;
      }
      if (typed && type != nvml::kDeviceTypeGpu) continue;
      nvml::PciInfo remote{};
      if (lib.linkRemotePci(devices[a], link, &remote) != nvml::kSuccess) continue;
      std::string peer = normaliseBusId(fixedString(remote.busId, sizeof(remote.busId)));
      auto it = std::find_if(probe->gpus.begin(), probe->gpus.begin() + long(n),
                             [&](const ProbedGpu& g) { return g.busId == peer; });
      if (it != probe->gpus.begin() + long(n)) {
        probe->directLinks[a * n + size_t(it - probe->gpus.begin())] += 1;
      } else if (!typed && (remote.pciDeviceId & 0xffff) == 0x10de) {
        probe->switchLinks[a] += 1;
      }
    }
  }
}

// CUDA ordinals without initialising CUDA: the NVML GPUs as CUDA would
// number them. CUDA_VISIBLE_DEVICES lists indices or UUID prefixes and stops
// at the first entry it cannot use; indices follow CUDA's enumeration order,
// which is the PCI order under CUDA_DEVICE_ORDER=PCI_BUS_ID and, in practice,
// also by default when all GPUs are alike. With unlike GPUs and the default
// (fastest first) order the numbering is not knowable here: left unknown.
void deriveCudaOrdinals(GpuProbe* probe) {
  std::vector<size_t> pciOrder(probe->gpus.size());
  for (size_t i = 0; i < pciOrder.size(); ++i) pciOrder[i] = i;
  std::sort(pciOrder.begin(), pciOrder.end(),
            [&](size_t a, size_t b) { return probe->gpus[a].busId < probe->gpus[b].busId; });
  const char* order = getenv("CUDA_DEVICE_ORDER");
  bool pciOrdered = order != nullptr && strcmp(order, "PCI_BUS_ID") == 0;
  bool alike = std::all_of(probe->gpus.begin(), probe->gpus.end(),
                           [&](const ProbedGpu& g) { return g.name == probe->gpus.front().name; });
  if (!pciOrdered && !alike) {
    SAM_INFO(LOG_TOPO, "GPUs of different models and CUDA_DEVICE_ORDER != PCI_BUS_ID: CUDA ordinals unknown");
    return;
  }
  std::vector<size_t> visible;
  const char* env = getenv("CUDA_VISIBLE_DEVICES");
  if (env == nullptr) {
    visible = pciOrder;
  } else {
    std::string list = env;
    size_t pos = 0;
    while (pos <= list.size()) {
      size_t comma = list.find(',', pos);
      std::string tok = list.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
      pos = comma == std::string::npos ? list.size() + 1 : comma + 1;
      tok.erase(0, tok.find_first_not_of(" \t"));
      tok.erase(tok.find_last_not_of(" \t") + 1);
      size_t found = probe->gpus.size();
      if (!tok.empty() && tok.find_first_not_of("0123456789") == std::string::npos) {
        size_t idx = size_t(strtoul(tok.c_str(), nullptr, 10));
        if (idx < pciOrder.size()) found = pciOrder[idx];
      } else if (tok.rfind("GPU-", 0) == 0) {
        for (size_t i = 0; i < probe->gpus.size(); ++i)
          if (probe->gpus[i].uuid.rfind(tok, 0) == 0) found = i;
      }
      if (found == probe->gpus.size() ||
          std::find(visible.begin(), visible.end(), found) != visible.end())
        break;  // CUDA ignores the rest of the list from here
      visible.push_back(found);
    }
  }
  for (size_t ordinal = 0; ordinal < visible.size(); ++ordinal) probe->gpus[visible[ordinal]].cudaIndex = int(ordinal);
}

// CUDA ordinals by bus id from the driver API (what cudaSetDevice numbers),
// but only if this process already loaded libcuda: cuInit in a process that
// had no CUDA yet would break CUDA in the children it forks later (ranks
// spawned after discovery), so otherwise they are derived from NVML.
void addCudaOrdinals(GpuProbe* probe) {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
  if (lib == nullptr) {
    SAM_INFO(LOG_TOPO, "CUDA not loaded in this process: CUDA ordinals derived from NVML");
    deriveCudaOrdinals(probe);
    return;
  }
  // libcuda stays loaded (the application loaded it; we hold one reference).
  auto init = symbol<cu::InitFn>(lib, "cuInit");
  auto getCount = symbol<cu::DeviceGetCountFn>(lib, "cuDeviceGetCount");
  auto get = symbol<cu::DeviceGetFn>(lib, "cuDeviceGet");
  auto busIdOf = symbol<cu::DeviceGetPciBusIdFn>(lib, "cuDeviceGetPCIBusId");
  int count = 0;
  cu::Result r = cu::kSuccess;
  if (!init || !getCount || !get || !busIdOf) {
    SAM_INFO(LOG_TOPO, "CUDA driver lacks cuInit/cuDeviceGetPCIBusId: CUDA ordinals derived from NVML");
    deriveCudaOrdinals(probe);
    return;
  }
  if ((r = init(0)) != cu::kSuccess || (r = getCount(&count)) != cu::kSuccess) {
    SAM_INFO(LOG_TOPO, "cuInit/cuDeviceGetCount failed (CUresult %d): CUDA ordinals derived from NVML", r);
    deriveCudaOrdinals(probe);
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
