#include "comm/gpu_links.h"

#include <map>
#include <sstream>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "topology/topology.h"

namespace sam {
namespace {

// One rank's contribution: its GPU's bus id ("" if none), then one line per
// GPU of its machine: "<bus id> <link class from our GPU>".
std::string encodeGpuView(const samTopology& topo, int gpu) {
  std::ostringstream os;
  os << (gpu >= 0 ? topo.gpus[gpu].info.pciBusId : "") << "\n";
  if (gpu >= 0)
    for (size_t other = 0; other < topo.gpus.size(); ++other)
      os << topo.gpus[other].info.pciBusId << " " << static_cast<int>(topo.gpuLink(gpu, static_cast<int>(other)).linkClass)
         << "\n";
  return os.str();
}

struct GpuView {
  std::string busId;
  std::map<std::string, samLinkClass_t> linkTo;  // bus id -> class from our GPU
};

GpuView decodeGpuView(const std::string& blob) {
  GpuView v;
  std::istringstream is(blob);
  std::getline(is, v.busId);
  std::string bus;
  int cls;
  while (is >> bus >> cls)
    if (cls >= 0 && cls < samNumLinkClasses) v.linkTo[bus] = static_cast<samLinkClass_t>(cls);
  return v;
}

// The GPU of CUDA ordinal `device` in the topology, or -1.
int gpuOfCudaDevice(const samTopology& topo, int device) {
  for (size_t g = 0; g < topo.gpus.size(); ++g)
    if (topo.gpus[g].info.cudaIndex == device) return static_cast<int>(g);
  return -1;
}

int cudaVisibleGpus(const samTopology& topo) {
  int n = 0;
  for (const auto& g : topo.gpus) n += g.info.cudaIndex >= 0 ? 1 : 0;
  return n;
}

}  // namespace

samResult_t addGpuLinks(samComm* comm, bool cudaDeviceWasChosen) {
  std::string mine;
  try {
    std::unique_ptr<samTopology> topo = topo::discoverConfigured();
    int visible = cudaVisibleGpus(*topo);
    if (!cudaDeviceWasChosen && visible > 0) comm->config.cudaDevice = comm->cluster.localRank[comm->rank] % visible;
    int gpu = gpuOfCudaDevice(*topo, comm->config.cudaDevice);
    if (gpu < 0)
      SAM_INFO(LOG_INIT, "cuda backend: no GPU with CUDA ordinal %d in the topology (%d visible); links stay NODE",
               comm->config.cudaDevice, visible);
    mine = encodeGpuView(*topo, gpu);
  } catch (const Error& e) {
    // Every rank must still take part in the allgather below.
    SAM_WARN(LOG_INIT, "cuda backend: topology unavailable, links between local ranks stay NODE: %s", e.detail.c_str());
    mine = "\n";
  }
  std::vector<std::string> blobs;
  SAM_CHECK(comm->bootstrap->allgather(mine, &blobs));
  std::vector<GpuView> views;
  for (const std::string& b : blobs) views.push_back(decodeGpuView(b));

  ClusterView& c = comm->cluster;
  const int n = comm->nranks;
  for (int r = 0; r < n; ++r) c.gpuBusId[r] = views[r].busId;
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b) {
      if (a == b || !c.sameNode(a, b) || views[a].busId.empty() || views[b].busId.empty()) continue;
      auto it = views[a].linkTo.find(views[b].busId);
      if (it != views[a].linkTo.end()) c.links[static_cast<size_t>(a) * n + b] = it->second;
    }
  SAM_INFO(LOG_INIT, "cuda backend: rank %d on CUDA device %d, GPU %s", comm->rank, comm->config.cudaDevice,
           c.gpuBusId[comm->rank].empty() ? "(none)" : c.gpuBusId[comm->rank].c_str());
  return samSuccess;
}

}  // namespace sam
