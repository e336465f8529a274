#include "topology/model.h"

#include <hwloc/distances.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <tuple>

#include "core/log.h"
#include "topology/link_cost.h"
#include "topology/nvlink.h"
#include "topology/pci_path.h"

namespace sam {
namespace topo {
namespace {

constexpr uint16_t kNvidiaVendor = 0x10de;
constexpr uint16_t kClassVga = 0x0300;
constexpr uint16_t kClass3d = 0x0302;

const char* info(hwloc_obj_t o, const char* name) {
  const char* v = hwloc_obj_get_info_by_name(o, name);
  return v != nullptr && *v != '\0' ? v : nullptr;
}

bool startsWith(const char* s, const char* prefix) { return s != nullptr && strncmp(s, prefix, strlen(prefix)) == 0; }

// Fills name, UUID and CUDA ordinal from the PCI device's OS devices (as
// hwloc's NVML and CUDA plugins create them: nvmlN, cudaN), else from infos
// on the PCI device itself (ours, see annotateWithProbe, or hwloc's
// PCIDevice name from the PCI database).
void describeGpu(hwloc_obj_t pci, Gpu* g) {
  std::string nvmlName, cudaName, uuid;
  int cudaIndex = -1;
  for (hwloc_obj_t c = pci->io_first_child; c != nullptr; c = c->next_sibling) {
    if (c->type != HWLOC_OBJ_OS_DEVICE || c->name == nullptr) continue;
    if (startsWith(c->name, "nvml")) {
      if (const char* v = info(c, kInfoGpuModel)) nvmlName = v;
      if (const char* v = info(c, kInfoUuid)) uuid = v;
    } else if (startsWith(c->name, "cuda")) {
      char* end = nullptr;
      long idx = strtol(c->name + 4, &end, 10);
      if (end != c->name + 4 && *end == '\0' && idx >= 0) cudaIndex = int(idx);
      if (const char* v = info(c, kInfoGpuModel)) cudaName = v;
    }
  }
  std::string name = !nvmlName.empty() ? nvmlName : cudaName;
  if (name.empty() && info(pci, kInfoGpuModel)) name = info(pci, kInfoGpuModel);
  if (name.empty() && info(pci, "PCIDevice")) name = info(pci, "PCIDevice");
  if (uuid.empty() && info(pci, kInfoUuid)) uuid = info(pci, kInfoUuid);
  if (cudaIndex < 0 && info(pci, kInfoCudaIndex)) cudaIndex = atoi(info(pci, kInfoCudaIndex));
  copyString(g->info.name, name);
  copyString(g->info.uuid, uuid);
  g->info.cudaIndex = cudaIndex;
}

bool hasOsDevice(hwloc_obj_t pci, hwloc_obj_osdev_type_t type) {
  if (pci == nullptr) return false;
  for (hwloc_obj_t c = pci->io_first_child; c != nullptr; c = c->next_sibling)
    if (c->type == HWLOC_OBJ_OS_DEVICE && c->attr->osdev.type == type) return true;
  return false;
}

std::string firstNetdev(hwloc_obj_t pci) {
  if (pci == nullptr) return "";
  for (hwloc_obj_t c = pci->io_first_child; c != nullptr; c = c->next_sibling)
    if (c->type == HWLOC_OBJ_OS_DEVICE && c->attr->osdev.type == HWLOC_OBJ_OSDEV_NETWORK && c->name)
      return c->name;
  return "";
}

// NICs: OpenFabrics devices (kind ib: InfiniBand, RoCE, any verbs device;
// netdev = the network interface on the same PCI device) and network
// interfaces that are not the netdev of such a device (kind eth). Ordered by
// PCI bus id, interfaces without a PCI device (virtual) last.
std::vector<Nic> findNics(hwloc_topology_t hw) {
  std::vector<Nic> nics;
  for (hwloc_obj_t o = nullptr; (o = hwloc_get_next_osdev(hw, o)) != nullptr;) {
    if (o->name == nullptr) continue;
    hwloc_obj_t pci = pciDeviceOf(o);
    Nic n;
    if (o->attr->osdev.type == HWLOC_OBJ_OSDEV_OPENFABRICS) {
      n.info.kind = samNicIb;
      copyString(n.info.netdev, firstNetdev(pci));
    } else if (o->attr->osdev.type == HWLOC_OBJ_OSDEV_NETWORK) {
      if (hasOsDevice(pci, HWLOC_OBJ_OSDEV_OPENFABRICS)) continue;  // e.g. ib0 of mlx5_0
      n.info.kind = samNicEth;
    } else {
      continue;
    }
    copyString(n.info.name, o->name);
    copyString(n.info.pciBusId, pciBusId(pci));
    n.anchor = pci != nullptr ? pci : o;
    n.info.numa = numaOf(hw, n.anchor);
    nics.push_back(n);
  }
  auto key = [](const Nic& n) {
    return std::make_tuple(n.info.pciBusId[0] == '\0', std::string(n.info.pciBusId), std::string(n.info.name));
  };
  std::stable_sort(nics.begin(), nics.end(), [&](const Nic& a, const Nic& b) { return key(a) < key(b); });
  for (size_t i = 0; i < nics.size(); ++i) nics[i].info.index = int(i);
  return nics;
}

// The NUMA node of a PCI device hwloc does not show, from sysfs.
int sysfsNuma(const std::string& busId) {
  std::string path = "/sys/bus/pci/devices/" + busId + "/numa_node";
  FILE* f = fopen(path.c_str(), "r");
  if (f == nullptr) return -1;
  int node = -1;
  if (fscanf(f, "%d", &node) != 1) node = -1;
  fclose(f);
  return node;
}

int findProbed(const GpuProbe& probe, const char* busId) {
  for (size_t i = 0; i < probe.gpus.size(); ++i)
    if (probe.gpus[i].busId == busId) return int(i);
  return -1;
}

// NVLink bandwidth per GPU pair: hwloc's matrix, raised by what NVML saw.
std::vector<uint64_t> nvlinkPairs(hwloc_topology_t hw, const std::vector<Gpu>& gpus, const GpuProbe* probe) {
  const size_t n = gpus.size();
  std::vector<uint64_t> mbps(n * n, 0);
  readNvlinkMatrix(hw, gpus, &mbps);
  if (probe == nullptr) return mbps;
  for (size_t a = 0; a < n; ++a) {
    int pa = findProbed(*probe, gpus[a].info.pciBusId);
    for (size_t b = 0; b < n && pa >= 0; ++b) {
      int pb = findProbed(*probe, gpus[b].info.pciBusId);
      if (pb >= 0) mbps[a * n + b] = std::max(mbps[a * n + b], probe->pairMBps(size_t(pa), size_t(pb)));
    }
  }
  return mbps;
}

samLinkInfo_t ioLink(hwloc_topology_t hw, const Gpu& g, hwloc_obj_t other, int otherNuma, double otherPcie) {
  samLinkInfo_t l{};
  if (g.pci != nullptr && other != nullptr) {
    l.linkClass = pciLinkClass(hw, g.pci, other);
  } else {  // a GPU only NVML saw: all we know is its NUMA node
    l.linkClass = (g.info.numa >= 0 && g.info.numa == otherNuma) ? samLinkNode : samLinkSys;
  }
  double pcie = (g.pcieGBps > 0 && otherPcie > 0) ? std::min<double>(g.pcieGBps, otherPcie)
                                                  : std::max<double>(g.pcieGBps, otherPcie);
  l.bandwidthGBps = estimateBandwidthGBps(l.linkClass, 0, pcie);
  return l;
}

void computeLinks(samTopology* t, const GpuProbe* probe) {
  const size_t n = t->gpus.size(), m = t->nics.size();
  hwloc_topology_t hw = t->hw.get();
  std::vector<uint64_t> nv = nvlinkPairs(hw, t->gpus, probe);
  t->gpuLinks.assign(n * n, samLinkInfo_t{});
  for (size_t a = 0; a < n; ++a) {
    for (size_t b = 0; b < n; ++b) {
      samLinkInfo_t& l = t->gpuLinks[a * n + b];
      if (a == b) {
        l.linkClass = samLinkSelf;
      } else if (nv[a * n + b] > 0) {
        l.linkClass = samLinkNvl;
        l.nvlinks = nvlinksFromBandwidth(nv[a * n + b]);
        l.bandwidthGBps = estimateBandwidthGBps(samLinkNvl, nv[a * n + b], 0);
      } else {
        l = ioLink(hw, t->gpus[a], t->gpus[b].pci, t->gpus[b].info.numa, t->gpus[b].pcieGBps);
      }
    }
  }
  t->nicLinks.assign(n * m, samLinkInfo_t{});
  for (size_t g = 0; g < n; ++g) {
    int best = -1;
    for (size_t k = 0; k < m; ++k) {
      const Nic& nic = t->nics[k];
      float nicPcie = nic.anchor->type == HWLOC_OBJ_PCI_DEVICE ? nic.anchor->attr->pcidev.linkspeed : 0.f;
      samLinkInfo_t& l = t->nicLinks[g * m + k];
      l = ioLink(hw, t->gpus[g], nic.anchor, nic.info.numa, nicPcie);
      // Nearest: the closest class; on a tie an RDMA (ib) NIC, then the lower index.
      if (best < 0) { best = int(k); continue; }
      const samLinkInfo_t& cur = t->nicLinks[g * m + size_t(best)];
      if (l.linkClass < cur.linkClass ||
          (l.linkClass == cur.linkClass && nic.info.kind == samNicIb && t->nics[best].info.kind != samNicIb))
        best = int(k);
    }
    t->gpus[g].info.nearestNic = best;
  }
}

}  // namespace

std::vector<Gpu> findGpus(hwloc_topology_t hw) {
  std::vector<Gpu> gpus;
  for (hwloc_obj_t o = nullptr; (o = hwloc_get_next_pcidev(hw, o)) != nullptr;) {
    const hwloc_obj_attr_u::hwloc_pcidev_attr_s& p = o->attr->pcidev;
    if (p.vendor_id != kNvidiaVendor || (p.class_id != kClassVga && p.class_id != kClass3d)) continue;
    if (info(o, kInfoHidden)) continue;
    Gpu g;
    g.pci = o;
    g.pcieGBps = p.linkspeed;
    copyString(g.info.pciBusId, pciBusId(o));
    g.info.numa = numaOf(hw, o);
    g.info.nearestNic = -1;
    describeGpu(o, &g);
    gpus.push_back(g);
  }
  std::sort(gpus.begin(), gpus.end(),
            [](const Gpu& a, const Gpu& b) { return strcmp(a.info.pciBusId, b.info.pciBusId) < 0; });
  return gpus;
}

void annotateNumaFromSysfs(hwloc_topology_t hw) {
  for (hwloc_obj_t o = nullptr; (o = hwloc_get_next_pcidev(hw, o)) != nullptr;) {
    if (cpuSideNumaCount(hw, o) <= 1 || info(o, kInfoNumaNode)) continue;
    int node = sysfsNuma(pciBusId(o));
    if (node >= 0) hwloc_obj_add_info(o, kInfoNumaNode, std::to_string(node).c_str());
  }
}

void annotateWithProbe(hwloc_topology_t hw, const GpuProbe& probe) {
  if (probe.nvml) {
    for (const Gpu& g : findGpus(hw)) {
      if (findProbed(probe, g.info.pciBusId) >= 0) continue;
      hwloc_obj_add_info(g.pci, kInfoHidden, "1");
      SAM_INFO(LOG_TOPO, "GPU %s is on the PCI bus but not visible to this process: left out", g.info.pciBusId);
    }
  }
  std::vector<Gpu> gpus = findGpus(hw);
  const size_t n = gpus.size();
  std::vector<uint64_t> fromProbe(n * n, 0);
  bool anyLink = false;
  for (size_t a = 0; a < n; ++a) {
    int pa = findProbed(probe, gpus[a].info.pciBusId);
    if (pa < 0) continue;
    const ProbedGpu& p = probe.gpus[size_t(pa)];
    if (!p.name.empty() && !info(gpus[a].pci, kInfoGpuModel)) hwloc_obj_add_info(gpus[a].pci, kInfoGpuModel, p.name.c_str());
    if (!p.uuid.empty() && !info(gpus[a].pci, kInfoUuid)) hwloc_obj_add_info(gpus[a].pci, kInfoUuid, p.uuid.c_str());
    if (p.cudaIndex >= 0 && !info(gpus[a].pci, kInfoCudaIndex))
      hwloc_obj_add_info(gpus[a].pci, kInfoCudaIndex, std::to_string(p.cudaIndex).c_str());
    for (size_t b = 0; b < n; ++b) {
      int pb = findProbed(probe, gpus[b].info.pciBusId);
      if (pb < 0) continue;
      fromProbe[a * n + b] = probe.pairMBps(size_t(pa), size_t(pb));
      anyLink = anyLink || fromProbe[a * n + b] > 0;
    }
  }
  if (!anyLink) return;
  std::vector<uint64_t> fromHwloc(n * n, 0);
  if (readNvlinkMatrix(hw, gpus, &fromHwloc)) {
    bool weaker = false;
    for (size_t i = 0; i < n * n; ++i) weaker = weaker || fromHwloc[i] < fromProbe[i];
    if (!weaker) return;
    // hwloc's NVML plugin drops links it cannot place (an NVSwitch it does
    // not see, an NVLink version it does not know): replace its matrix.
    unsigned nr = 1;
    hwloc_distances_s* d = nullptr;
    if (hwloc_distances_get_by_name(hw, kNvlinkMatrixName, &nr, &d, 0) == 0 && nr > 0 && d != nullptr)
      hwloc_distances_release_remove(hw, d);
    for (size_t i = 0; i < n * n; ++i) fromProbe[i] = std::max(fromProbe[i], fromHwloc[i]);
  }
  if (addNvlinkMatrix(hw, gpus, fromProbe)) SAM_INFO(LOG_TOPO, "NVLink matrix from NVML added to the topology");
}

std::unique_ptr<samTopology> buildModel(HwlocPtr hw, const std::string& source, const GpuProbe* probe) {
  auto t = std::make_unique<samTopology>();
  t->source = source;
  t->hw = std::move(hw);
  hwloc_topology_t h = t->hw.get();
  t->counts[samTopoPackages] = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PACKAGE);
  t->counts[samTopoNumaNodes] = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_NUMANODE);
  t->counts[samTopoCores] = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_CORE);
  t->counts[samTopoPus] = hwloc_get_nbobjs_by_type(h, HWLOC_OBJ_PU);
  t->gpus = findGpus(h);
  if (probe != nullptr) {  // GPUs the driver knows but hwloc does not show
    for (const ProbedGpu& p : probe->gpus) {
      bool known = std::any_of(t->gpus.begin(), t->gpus.end(),
                               [&](const Gpu& g) { return p.busId == g.info.pciBusId; });
      if (known) continue;
      Gpu g;
      copyString(g.info.pciBusId, p.busId);
      copyString(g.info.name, p.name);
      copyString(g.info.uuid, p.uuid);
      g.info.cudaIndex = p.cudaIndex;
      g.info.numa = sysfsNuma(p.busId);
      g.info.nearestNic = -1;
      t->gpus.push_back(g);
      SAM_INFO(LOG_TOPO, "GPU %s known to the driver but not to hwloc: PCI path unknown", p.busId.c_str());
    }
    std::sort(t->gpus.begin(), t->gpus.end(),
              [](const Gpu& a, const Gpu& b) { return strcmp(a.info.pciBusId, b.info.pciBusId) < 0; });
  }
  for (size_t i = 0; i < t->gpus.size(); ++i) t->gpus[i].info.index = int(i);
  t->nics = findNics(h);
  t->counts[samTopoGpus] = int(t->gpus.size());
  t->counts[samTopoNics] = int(t->nics.size());
  computeLinks(t.get(), probe);
  SAM_INFO(LOG_TOPO, "%s: %d packages, %d NUMA nodes, %d cores, %d PUs, %d GPUs, %d NICs", source.c_str(),
           t->counts[samTopoPackages], t->counts[samTopoNumaNodes], t->counts[samTopoCores],
           t->counts[samTopoPus], t->counts[samTopoGpus], t->counts[samTopoNics]);
  return t;
}

}  // namespace topo
}  // namespace sam
