// The CPU reference of routing: the definition (docs/ROUTING.md), written to be
// read. The CUDA kernels must give the same indices and the same floats.
#pragma once

#include <cstdint>
#include <vector>

#include "route/route_config.h"
#include "sam.h"

namespace sam {
namespace route {

// One logit as a float (fp16/bf16 widen exactly).
float logitToFloat(const void* logits, samDataType_t dtype, size_t i);
// Bytes of one logit; throws samInvalidArgument for a dtype routing does not take.
size_t logitBytes(samDataType_t dtype, const char* fn);

// s = softmax(x) or sigmoid(x) for one token, in the one defined order.
void tokenScores(const RouteSpec& spec, const float* x, float* s);

// The routing decision of one token.
struct TokenRoute {
  std::vector<int> experts;       // [k] descending sel, ties to the lower index
  std::vector<char> groupChosen;  // [G] stage 1's groups
  int lowest = -1;                // selected expert with the lowest s (ties: lower index)
};
// Stages 1 and 2 (§1): from s and sel (= s + bias, or s itself).
void routeToken(const RouteSpec& spec, const float* s, const float* sel, TokenRoute& out);
// w_i = s[e_i], renormalised over the k if asked, times scale (float, fixed order).
void tokenWeights(const RouteSpec& spec, const float* s, const TokenRoute& route, float* w);
// Per-token alignment term: sum over experts outside the chosen groups of
// max(0, s[e] - s[lowest]).
double tokenAlignment(const RouteSpec& spec, const float* s, const TokenRoute& route);

// The forward pass of a whole batch, into host vectors. Throws sam::Error
// (samNumericError) naming the first non-finite logit or bias entry.
struct ForwardResult {
  std::vector<int32_t> expertIdx;   // [T*k]
  std::vector<float> weights;       // [T*k]
  std::vector<int32_t> rankCounts;  // [R]
  std::vector<int32_t> expertCounts;// [E]
  std::vector<int32_t> dropped;     // [T]
  samRouteStats_t stats{};
};
void forwardReference(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                      const char* fn, ForwardResult& out);

// gradLogits [T*E] (computed in double, stored as float). Throws on bad input.
void backwardReference(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                       const int32_t* expertIdx, const float* gradWeights, const samRouteLossCoef_t& coef,
                       const char* fn, std::vector<float>& gradLogits);

// Statistics and losses from the batch sums, shared by both backends:
// scoreSum[e] = sum_t s[t,e]; counts after capacity; alignment summed over t.
void finishStats(const RouteSpec& spec, int64_t T, const double* scoreSum, const int32_t* expertCounts,
                 const int32_t* rankCounts, int64_t pairsDropped, double alignment, int64_t capacity,
                 samRouteStats_t* stats);

// The "logits[t, e] is nan" message of a samNumericError.
std::string badLogitMessage(const char* fn, int64_t t, int e, float value);
std::string badBiasMessage(const char* fn, int e, float value);

}  // namespace route
}  // namespace sam
