// Estimated one-way bandwidth of a path, by link class (docs/TOPOLOGY.md
// has the table). Estimates for placement decisions, not measurements.
#pragma once

#include <cstdint>

#include "sam.h"

namespace sam {
namespace topo {

// PCIe figures when hwloc does not know the device's link speed: a Gen4 x16
// link carries about 24 GB/s one way in practice.
constexpr double kPcieDefaultGBps = 24.0;
constexpr double kPhbCapGBps = 20.0;   // through one CPU's root complex
constexpr double kNodeCapGBps = 16.0;  // between root complexes of one socket
constexpr double kSysCapGBps = 10.0;   // across the SMP interconnect
constexpr double kNetGBps = 12.5;      // a 100 Gb/s NIC

// nvlinkMBps: the NVLink bandwidth of the pair (for samLinkNvl). pcieGBps:
// the slower device's PCIe link speed as hwloc reports it, 0 if unknown.
double estimateBandwidthGBps(samLinkClass_t link, uint64_t nvlinkMBps, double pcieGBps);

}  // namespace topo
}  // namespace sam
