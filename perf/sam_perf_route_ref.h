// An independent, deliberately plain reading of the routing definition
// (ARCHITECTURE §1), in double precision, to check samRouteForward's output.
// It shares no code with lib/route, so a bug there shows as #wrong here.
#pragma once

#include <cstdint>

#include "sam.h"

namespace samperf {

struct RouteCheck {
  int64_t wrong = 0;     // index or weight elements that disagree
  int64_t nearTies = 0;  // tokens not compared: two candidates within 1e-6
};

// Routes token rows `logits` [T, E] (fp32) by `cfg` and compares with the
// library's expertIdx/weights [T, k]. Dropped pairs (index -1) are skipped:
// capacity is a cross-token decision this per-token reference does not model.
RouteCheck checkRoutes(const samRouteConfig_t& cfg, const float* logits, int64_t numTokens,
                       const int32_t* expertIdx, const float* weights);

}  // namespace samperf
