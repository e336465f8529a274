// The topology section of the C API (sam.h).
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "topology/gpu_probe.h"
#include "topology/hwloc_load.h"
#include "topology/model.h"
#include "topology/topology.h"

namespace sam {
namespace topo {

std::unique_ptr<samTopology> discoverLive(bool probeGpus) {
  HwlocPtr hw = hwlocLoadLive();
  annotateNumaFromSysfs(hw.get());
  if (!probeGpus) return buildModel(std::move(hw), "this machine", nullptr);
  GpuProbe probe = topo::probeGpus();
  annotateWithProbe(hw.get(), probe);
  return buildModel(std::move(hw), "this machine", &probe);
}

std::unique_ptr<samTopology> loadXmlFile(const std::string& path) {
  return buildModel(hwlocLoadXmlFile(path), path, nullptr);
}

std::unique_ptr<samTopology> loadSynthetic(const std::string& description) {
  return buildModel(hwlocLoadSynthetic(description), "synthetic:" + description, nullptr);
}

}  // namespace topo
}  // namespace sam

namespace {

samResult_t checkTopo(const char* fn, samTopology_t topo) {
  if (topo == nullptr) return sam::fail(samInvalidArgument, std::string(fn) + ": topo is NULL");
  return samSuccess;
}

samResult_t checkGpu(const char* fn, samTopology_t topo, const char* what, int index) {
  int n = int(topo->gpus.size());
  if (index < 0 || index >= n)
    return sam::failf(samInvalidArgument, "%s: %s is %d, must be in [0, %d) (GPUs of %s)", fn, what, index, n,
                      topo->source.c_str());
  return samSuccess;
}

}  // namespace

extern "C" {

const char* samLinkClassString(samLinkClass_t link) {
  switch (link) {
    case samLinkSelf: return "SELF";
    case samLinkNvl: return "NVL";
    case samLinkPix: return "PIX";
    case samLinkPxb: return "PXB";
    case samLinkPhb: return "PHB";
    case samLinkNode: return "NODE";
    case samLinkSys: return "SYS";
    case samLinkNet: return "NET";
    default: return "UNKNOWN";
  }
}

samResult_t samTopologyDiscover(samTopology_t* topo) {
  return sam::apiCall("samTopologyDiscover", [&] {
    SAM_CHECK_PTR(topo, "samTopologyDiscover");
    std::unique_ptr<samTopology> t;
    std::string file = sam::paramString("SAM_TOPO_FILE");
    if (!file.empty()) {
      SAM_INFO(LOG_TOPO, "SAM_TOPO_FILE: topology from %s instead of this machine", file.c_str());
      t = sam::topo::loadXmlFile(file);
    } else {
      t = sam::topo::discoverLive(sam::paramInt("SAM_TOPO_GPU_PROBE") != 0);
    }
    std::string dump = sam::paramString("SAM_TOPO_DUMP_FILE");
    if (!dump.empty()) {
      // A dump is a debugging aid: failing to write it must not fail discovery.
      try {
        sam::topo::hwlocSaveXml(t->hw.get(), dump);
        SAM_INFO(LOG_TOPO, "SAM_TOPO_DUMP_FILE: topology saved to %s", dump.c_str());
      } catch (const sam::Error& e) {
        SAM_WARN(LOG_TOPO, "SAM_TOPO_DUMP_FILE: %s", e.detail.c_str());
      }
    }
    *topo = t.release();
    return samSuccess;
  });
}

samResult_t samTopologyLoadXml(const char* path, samTopology_t* topo) {
  return sam::apiCall("samTopologyLoadXml", [&] {
    SAM_CHECK_PTR(path, "samTopologyLoadXml");
    SAM_CHECK_PTR(topo, "samTopologyLoadXml");
    SAM_CHECK_ARG(*path != '\0', "samTopologyLoadXml", "path is empty");
    *topo = sam::topo::loadXmlFile(path).release();
    return samSuccess;
  });
}

samResult_t samTopologySaveXml(samTopology_t topo, const char* path) {
  return sam::apiCall("samTopologySaveXml", [&] {
    SAM_CHECK(checkTopo("samTopologySaveXml", topo));
    SAM_CHECK_PTR(path, "samTopologySaveXml");
    SAM_CHECK_ARG(*path != '\0', "samTopologySaveXml", "path is empty");
    sam::topo::hwlocSaveXml(topo->hw.get(), path);
    return samSuccess;
  });
}

samResult_t samTopologyGetCount(samTopology_t topo, samTopoCount_t what, int* count) {
  return sam::apiCall("samTopologyGetCount", [&] {
    SAM_CHECK(checkTopo("samTopologyGetCount", topo));
    SAM_CHECK_PTR(count, "samTopologyGetCount");
    if (int(what) < int(samTopoPackages) || int(what) > int(samTopoNics))
      return sam::failf(samInvalidArgument, "samTopologyGetCount: what is %d, must be a samTopoCount_t (0..%d)",
                        int(what), int(samTopoNics));
    *count = topo->counts[what];
    return samSuccess;
  });
}

samResult_t samTopologyGetGpu(samTopology_t topo, int index, samGpuInfo_t* info) {
  return sam::apiCall("samTopologyGetGpu", [&] {
    SAM_CHECK(checkTopo("samTopologyGetGpu", topo));
    SAM_CHECK_PTR(info, "samTopologyGetGpu");
    SAM_CHECK(checkGpu("samTopologyGetGpu", topo, "index", index));
    *info = topo->gpus[size_t(index)].info;
    return samSuccess;
  });
}

samResult_t samTopologyGetNic(samTopology_t topo, int index, samNicInfo_t* info) {
  return sam::apiCall("samTopologyGetNic", [&] {
    SAM_CHECK(checkTopo("samTopologyGetNic", topo));
    SAM_CHECK_PTR(info, "samTopologyGetNic");
    int n = int(topo->nics.size());
    if (index < 0 || index >= n)
      return sam::failf(samInvalidArgument, "samTopologyGetNic: index is %d, must be in [0, %d) (NICs of %s)",
                        index, n, topo->source.c_str());
    *info = topo->nics[size_t(index)].info;
    return samSuccess;
  });
}

samResult_t samTopologyGetLink(samTopology_t topo, int gpuA, int gpuB, samLinkInfo_t* info) {
  return sam::apiCall("samTopologyGetLink", [&] {
    SAM_CHECK(checkTopo("samTopologyGetLink", topo));
    SAM_CHECK_PTR(info, "samTopologyGetLink");
    SAM_CHECK(checkGpu("samTopologyGetLink", topo, "gpuA", gpuA));
    SAM_CHECK(checkGpu("samTopologyGetLink", topo, "gpuB", gpuB));
    *info = topo->gpuLink(gpuA, gpuB);
    return samSuccess;
  });
}

samResult_t samTopologyGetNicLink(samTopology_t topo, int gpu, int nic, samLinkInfo_t* info) {
  return sam::apiCall("samTopologyGetNicLink", [&] {
    SAM_CHECK(checkTopo("samTopologyGetNicLink", topo));
    SAM_CHECK_PTR(info, "samTopologyGetNicLink");
    SAM_CHECK(checkGpu("samTopologyGetNicLink", topo, "gpu", gpu));
    int n = int(topo->nics.size());
    if (nic < 0 || nic >= n)
      return sam::failf(samInvalidArgument, "samTopologyGetNicLink: nic is %d, must be in [0, %d) (NICs of %s)",
                        nic, n, topo->source.c_str());
    *info = topo->nicLink(gpu, nic);
    return samSuccess;
  });
}

samResult_t samTopologyDestroy(samTopology_t topo) {
  return sam::apiCall("samTopologyDestroy", [&] {
    delete topo;  // NULL is a no-op
    return samSuccess;
  });
}

}  // extern "C"
