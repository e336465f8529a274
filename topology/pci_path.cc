#include "topology/pci_path.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace sam {
namespace topo {
namespace {

bool isHostBridge(hwloc_obj_t o) {
  return o->type == HWLOC_OBJ_BRIDGE && o->attr->bridge.upstream_type == HWLOC_OBJ_BRIDGE_HOST;
}

// Bridges strictly between `from` and its ancestor `top`.
int bridgesBelow(hwloc_obj_t from, hwloc_obj_t top) {
  int n = 0;
  for (hwloc_obj_t o = from->parent; o != nullptr && o != top; o = o->parent)
    if (o->type == HWLOC_OBJ_BRIDGE) ++n;
  return n;
}

hwloc_obj_t commonAncestor(hwloc_obj_t a, hwloc_obj_t b) {
  std::vector<hwloc_obj_t> up;
  for (hwloc_obj_t o = a; o != nullptr; o = o->parent) up.push_back(o);
  for (hwloc_obj_t o = b; o != nullptr; o = o->parent)
    if (std::find(up.begin(), up.end(), o) != up.end()) return o;
  return nullptr;
}

}  // namespace

int numaOf(hwloc_topology_t hw, hwloc_obj_t obj) {
  if (obj == nullptr) return -1;
  hwloc_obj_t pci = pciDeviceOf(obj);
  if (pci != nullptr) {
    const char* v = hwloc_obj_get_info_by_name(pci, kInfoNumaNode);
    if (v != nullptr && *v != '\0') return atoi(v);
  }
  hwloc_obj_t cpuSide = hwloc_get_non_io_ancestor_obj(hw, obj);
  if (cpuSide == nullptr || cpuSide->nodeset == nullptr) return -1;
  if (hwloc_bitmap_weight(cpuSide->nodeset) != 1) return -1;
  return hwloc_bitmap_first(cpuSide->nodeset);
}

int cpuSideNumaCount(hwloc_topology_t hw, hwloc_obj_t obj) {
  hwloc_obj_t cpuSide = obj != nullptr ? hwloc_get_non_io_ancestor_obj(hw, obj) : nullptr;
  return (cpuSide != nullptr && cpuSide->nodeset != nullptr) ? hwloc_bitmap_weight(cpuSide->nodeset) : 0;
}

hwloc_obj_t pciDeviceOf(hwloc_obj_t obj) {
  for (hwloc_obj_t o = obj; o != nullptr; o = o->parent) {
    if (o->type == HWLOC_OBJ_PCI_DEVICE) return o;
    if (o->type != HWLOC_OBJ_OS_DEVICE) return nullptr;  // only OS devices sit below PCI devices
  }
  return nullptr;
}

std::string pciBusId(hwloc_obj_t pci) {
  if (pci == nullptr || pci->type != HWLOC_OBJ_PCI_DEVICE) return "";
  const hwloc_obj_attr_u::hwloc_pcidev_attr_s& p = pci->attr->pcidev;
  char buf[32];
  snprintf(buf, sizeof(buf), "%04x:%02x:%02x.%01x", unsigned(p.domain), unsigned(p.bus),
           unsigned(p.dev), unsigned(p.func));
  return buf;
}

samLinkClass_t pciLinkClass(hwloc_topology_t hw, hwloc_obj_t a, hwloc_obj_t b) {
  if (a == nullptr || b == nullptr) return samLinkSys;
  if (a == b) return samLinkSelf;
  hwloc_obj_t lca = commonAncestor(a, b);
  if (lca == nullptr) return samLinkSys;
  if (lca->type == HWLOC_OBJ_BRIDGE) {
    if (isHostBridge(lca)) return samLinkPhb;
    return std::max(bridgesBelow(a, lca), bridgesBelow(b, lca)) <= 1 ? samLinkPix : samLinkPxb;
  }
  if (lca->type == HWLOC_OBJ_PCI_DEVICE || lca->type == HWLOC_OBJ_OS_DEVICE) return samLinkPix;
  hwloc_obj_t ca = hwloc_get_non_io_ancestor_obj(hw, a);
  hwloc_obj_t cb = hwloc_get_non_io_ancestor_obj(hw, b);
  if (ca && cb && ca->nodeset && cb->nodeset && hwloc_bitmap_intersects(ca->nodeset, cb->nodeset))
    return samLinkNode;
  return samLinkSys;
}

}  // namespace topo
}  // namespace sam
