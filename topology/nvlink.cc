#include "topology/nvlink.h"

#include <hwloc/distances.h>

#include <algorithm>
#include <cstring>

#include "core/log.h"
#include "topology/pci_path.h"

namespace sam {
namespace topo {
namespace {

constexpr uint16_t kNvidiaVendor = 0x10de;

// hwloc marks NVSwitches it found through NVML with subtype "NVSwitch"; a
// matrix from elsewhere may not, so also accept an NVIDIA PCI bridge-class
// device (class 0x06xx), which is what an NVSwitch is.
bool isNvSwitch(hwloc_obj_t o) {
  if (o->type != HWLOC_OBJ_PCI_DEVICE) return false;
  if (o->subtype != nullptr && strcmp(o->subtype, "NVSwitch") == 0) return true;
  return o->attr->pcidev.vendor_id == kNvidiaVendor && (o->attr->pcidev.class_id >> 8) == 0x06;
}

int gpuIndexOf(hwloc_obj_t o, const std::vector<Gpu>& gpus) {
  hwloc_obj_t pci = pciDeviceOf(o);
  if (pci == nullptr) return -1;
  for (size_t g = 0; g < gpus.size(); ++g)
    if (gpus[g].pci == pci) return int(g);
  return -1;
}

}  // namespace

bool readNvlinkMatrix(hwloc_topology_t hw, const std::vector<Gpu>& gpus, std::vector<uint64_t>* pairMBps) {
  unsigned nr = 1;
  hwloc_distances_s* d = nullptr;
  if (hwloc_distances_get_by_name(hw, kNvlinkMatrixName, &nr, &d, 0) != 0 || nr == 0 || d == nullptr)
    return false;
  const size_t n = gpus.size();
  const unsigned m = d->nbobjs;
  std::vector<int> gpuOf(m, -1);
  std::vector<bool> isSwitch(m, false);
  for (unsigned i = 0; i < m; ++i) {
    gpuOf[i] = gpuIndexOf(d->objs[i], gpus);
    isSwitch[i] = gpuOf[i] < 0 && isNvSwitch(d->objs[i]);
  }
  std::vector<uint64_t> direct(n * n, 0), gpuSwitch(n * m, 0);
  for (unsigned i = 0; i < m; ++i) {
    int a = gpuOf[i];
    if (a < 0) continue;
    for (unsigned j = 0; j < m; ++j) {
      uint64_t v = d->values[i * m + j];
      if (i == j || v == 0) continue;
      if (isSwitch[j]) gpuSwitch[a * m + j] = std::max(gpuSwitch[a * m + j], v);
      int b = gpuOf[j];
      // Two matrix objects may stand for one GPU (its CUDA and NVML devices).
      if (b >= 0 && b != a) direct[a * n + b] = std::max(direct[a * n + b], v);
    }
  }
  hwloc_distances_release(hw, d);
  std::vector<uint64_t> toSwitches(n, 0);
  for (size_t a = 0; a < n; ++a)
    for (unsigned j = 0; j < m; ++j) toSwitches[a] += gpuSwitch[a * m + j];
  std::vector<uint64_t> out(n * n, 0);
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b)
      if (a != b) out[a * n + b] = std::max(direct[a * n + b], direct[b * n + a]) +
                                   std::min(toSwitches[a], toSwitches[b]);
  SAM_TRACE(LOG_TOPO, "NVLinkBandwidth matrix: %u objects, %zu GPUs", m, n);
  *pairMBps = std::move(out);
  return true;
}

int nvlinksFromBandwidth(uint64_t mbps) {
  if (mbps == 0) return 0;
  if (mbps % kNvlinkMBps == 0) return int(mbps / kNvlinkMBps);
  if (mbps % kNvlink1MBps == 0) return int(mbps / kNvlink1MBps);
  return 0;
}

bool addNvlinkMatrix(hwloc_topology_t hw, const std::vector<Gpu>& gpus, const std::vector<uint64_t>& pairMBps) {
  const size_t n = gpus.size();
  std::vector<size_t> seen;
  for (size_t g = 0; g < n; ++g)
    if (gpus[g].pci != nullptr) seen.push_back(g);
  if (seen.size() < 2) return false;  // hwloc wants at least two objects
  const size_t m = seen.size();
  std::vector<hwloc_obj_t> objs(m);
  std::vector<hwloc_uint64_t> values(m * m, 0);
  for (size_t i = 0; i < m; ++i) {
    objs[i] = gpus[seen[i]].pci;
    for (size_t j = 0; j < m; ++j)
      values[i * m + j] = i == j ? kNvlinkSelfMBps : pairMBps[seen[i] * n + seen[j]];
  }
  hwloc_distances_add_handle_t h = hwloc_distances_add_create(
      hw, kNvlinkMatrixName, HWLOC_DISTANCES_KIND_FROM_USER | HWLOC_DISTANCES_KIND_MEANS_BANDWIDTH, 0);
  // add_values and add_commit free the handle themselves on error.
  if (h == nullptr || hwloc_distances_add_values(hw, h, unsigned(m), objs.data(), values.data(), 0) != 0 ||
      hwloc_distances_add_commit(hw, h, 0) != 0) {
    SAM_WARN(LOG_TOPO, "hwloc refused the NVLink matrix from NVML: a saved XML file will lack NVLinks");
    return false;
  }
  return true;
}

}  // namespace topo
}  // namespace sam
