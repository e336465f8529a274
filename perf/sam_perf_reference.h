// The dense single-process reference of one MoE layer and the counting of
// wrong elements, for SAM and the baseline alike:
//  - expert rows: the rows a rank's local experts receive must be exactly the
//    tokens routed to them (compared as a multiset per expert, since the order
//    inside an expert is the implementation's business);
//  - output: y[t] = sum_i w_i f_{e_i}(x[t]) with a tolerance scaled by the
//    data type's unit roundoff and the number of rounded terms.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "sam.h"

namespace samperf {

struct Layer {
  int nranks = 1;
  int experts = 0;
  int hidden = 0;
  int topk = 0;
  samDataType_t dtype = samFloat32;
  uint64_t seed = 0;
  int localExperts() const { return experts / nranks; }
  size_t rowBytes() const;
};

// One rank's routing result.
struct Routes {
  std::vector<int32_t> expertIdx;  // [T, k]
  std::vector<float> weights;      // [T, k]
};

// Routes sized for numTokens tokens (indices -1, weights 0).
Routes routesFor(int64_t numTokens, int topk);

// samRouteForward on the host of these logits [T, E] into r (sized by
// routesFor); throws with the library's message on failure. Allocates nothing,
// so a benchmark can time it.
void routeInto(const samRouteConfig_t& cfg, const float* logits, int64_t numTokens, Routes& r);

// Routes of `rank`'s tokens, recomputed from the seed (samRouteForward).
Routes routeRank(const Layer& layer, const samRouteConfig_t& cfg, int rank, int64_t numTokens);

// The rows each local expert of `rank` must receive: per local expert, the
// hash of every expected row and how many times it occurs.
using RowMultiset = std::unordered_map<uint64_t, int64_t>;
std::vector<RowMultiset> expectedExpertRows(const Layer& layer, int rank, int64_t numTokens,
                                            const std::vector<Routes>& allRanks);

// Elements of `rows` [offsets[L], H] (grouped by local expert by `offsets`
// [L + 1]) that are not an expected row of their expert; a missing row counts
// its H elements too.
int64_t countWrongExpertRows(const Layer& layer, const std::vector<RowMultiset>& expected,
                             const void* rows, const int64_t* offsets);

// Elements of y [T, H] that differ from the dense reference beyond tolerance.
int64_t countWrongOutput(const Layer& layer, int64_t numTokens, const void* x, const Routes& routes,
                         const void* y);

// Fills with 0xff bytes: a NaN in every data type, so unwritten output shows.
void poison(void* data, size_t bytes);

}  // namespace samperf
