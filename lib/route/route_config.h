// A routing config checked once and resolved into the numbers the reference
// and the kernels use (G filled in, node layout precomputed).
#pragma once

#include <string>
#include <vector>

#include "sam.h"

namespace sam {
namespace route {

struct RouteSpec {
  int E = 0, R = 0, G = 0;  // experts, ranks, groups
  int M = 0;                // groups per token
  int N = 0;                // node limit (0: none, or >= numNodes: no effect)
  int k = 0;
  int groupSize = 0;        // E / G
  int expertsPerRank = 0;   // E / R
  samScoreFunc_t score = samScoreSoftmax;
  samGroupReduce_t reduce = samGroupReduceSum;
  int topN = 1;             // n of samGroupReduceTopN
  bool renorm = false;
  float scale = 1.0f;
  float capacityFactor = 0.0f;
  const float* bias = nullptr;  // in the memory space of the call
  int numNodes = 1;
  std::vector<int> rankNode;    // [R]
  std::vector<int> nodeRankStart, nodeRanks;  // CSR: ranks of each node, ascending

  // True when stage 1 keeps every group (no group or node limit applies).
  bool allGroups() const { return nodeLimited() ? false : M >= G; }
  bool nodeLimited() const { return N > 0 && N < numNodes; }
  int rankOf(int expert) const { return expert / expertsPerRank; }
  int groupOf(int expert) const { return expert / groupSize; }
  int firstRankOfGroup(int g) const { return (g * groupSize) / expertsPerRank; }
  int lastRankOfGroup(int g) const { return ((g + 1) * groupSize - 1) / expertsPerRank; }
};

// Checks every field (throws sam::Error(samInvalidArgument) naming the field,
// prefixed by `fn`) and resolves the config.
RouteSpec resolveSpec(const samRouteConfig_t* config, const char* fn);

// Per-rank capacity ceil(capacityFactor * T * M / R), 0 when dropless.
int64_t capacityFor(const RouteSpec& spec, int64_t numTokens);

}  // namespace route
}  // namespace sam
