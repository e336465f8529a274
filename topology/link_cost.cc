#include "topology/link_cost.h"

#include <algorithm>

namespace sam {
namespace topo {

double estimateBandwidthGBps(samLinkClass_t link, uint64_t nvlinkMBps, double pcieGBps) {
  const double pcie = pcieGBps > 0 ? pcieGBps : kPcieDefaultGBps;
  switch (link) {
    case samLinkSelf: return 0.0;  // not a link
    case samLinkNvl: return double(nvlinkMBps) / 1000.0;
    case samLinkPix:
    case samLinkPxb: return pcie;
    case samLinkPhb: return std::min(pcie, kPhbCapGBps);
    case samLinkNode: return std::min(pcie, kNodeCapGBps);
    case samLinkSys: return std::min(pcie, kSysCapGBps);
    case samLinkNet: return kNetGBps;
    default: return 0.0;
  }
}

}  // namespace topo
}  // namespace sam
