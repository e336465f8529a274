// The measurement of one (k, token count) point on every rank: route, then
// for SAM and (optionally) the baseline: plan, a checked dispatch, combine and
// round trip, their timed loops, and the traffic of one call of each; plus the
// memcpy ceiling. Results are already reduced over ranks (max time, summed
// #wrong and traffic), identical on every rank.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "sam.h"
#include "sam_perf_args.h"
#include "sam_perf_ranks.h"

namespace samperf {

struct OpResult {
  bool ran = false;
  double timeUs = 0;   // max over ranks of the mean time per call
  double algbw = 0;    // GB/s (docs/PERF.md)
  double busbw = 0;
  int64_t wrong = 0;   // summed over ranks; -1 when not checked
};

// Bytes and messages of one call, summed over ranks, by where they went.
struct TrafficResult {
  double selfBytes = 0, shmBytes = 0, ucxBytes = 0, otherBytes = 0;
  double remoteMessages = 0;
  double remoteBytes() const { return shmBytes + ucxBytes + otherBytes; }
};

struct PointResult {
  int topk = 0;
  int64_t tokens = 0;       // per rank
  double bytes = 0;         // mean per rank of SAM's dispatched bytes (one vector per (token, rank))
  samDataType_t dtype = samFloat32;
  std::map<std::string, OpResult> ops;           // key "op/impl": "dispatch/sam", "route/sam"
  std::map<std::string, TrafficResult> traffic;  // key "op/impl"
  std::map<std::string, double> sendVectors;     // per impl, summed over ranks
  OpResult memcpyCeiling;                        // time and algbw of a memcpy of the dispatched bytes
  int64_t routeNearTies = 0;
  // SAM dispatch/combine calls whose plan counters (samPlanGetTraffic)
  // disagreed with the communicator's (samCommGetTraffic), and how many were compared.
  int64_t planCounterMismatches = 0, planCounterChecks = 0;
};

struct LayerSetup {
  samRouteConfig_t route{};
  int topk = 0;
};

// The routing config for this run (preset, E, R, k), checked by the library.
LayerSetup makeLayerSetup(const Options& opt, const Ranks& ranks, int topk);

PointResult runPoint(Ranks& ranks, const Options& opt, const LayerSetup& setup, int64_t numTokens);

}  // namespace samperf
