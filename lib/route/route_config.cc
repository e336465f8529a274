// Routing presets and config validation (docs/ROUTING.md).
#include "route/route_config.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "core/error.h"

namespace sam {
namespace route {
namespace {

[[noreturn]] void bad(const char* fn, const std::string& what) {
  throwError(samInvalidArgument, std::string(fn) + ": " + what);
}

std::string str(long long v) { return std::to_string(v); }

// The fewest groups that can remain allowed when only N of the nodes are kept:
// the groups lying wholly on one node, summed over the N nodes holding fewest.
// (A group spanning nodes is allowed only if all its nodes are kept; leaving
// those out makes this a lower bound, exact when groups do not span nodes.)
int fewestAllowedGroups(const RouteSpec& s) {
  std::vector<int> perNode(s.numNodes, 0);
  for (int g = 0; g < s.G; ++g) {
    int node = s.rankNode[s.firstRankOfGroup(g)];
    bool oneNode = true;
    for (int r = s.firstRankOfGroup(g); r <= s.lastRankOfGroup(g); ++r) oneNode &= s.rankNode[r] == node;
    if (oneNode) perNode[node]++;
  }
  std::sort(perNode.begin(), perNode.end());
  int sum = 0;
  for (int i = 0; i < s.N; ++i) sum += perNode[i];
  return sum;
}

}  // namespace

RouteSpec resolveSpec(const samRouteConfig_t* c, const char* fn) {
  if (c == nullptr) bad(fn, "config is NULL");
  if (c->magic != SAM_ROUTE_CONFIG_MAGIC || c->size < sizeof(samRouteConfig_t))
    bad(fn, "config is not initialised (fill it with samRouteConfigPreset or SAM_ROUTE_CONFIG_INITIALIZER)");
  RouteSpec s;
  s.E = c->numExperts;
  s.R = c->numRanks;
  if (s.E <= 0) bad(fn, "config.numExperts is " + str(s.E) + ", must be > 0");
  if (s.R <= 0) bad(fn, "config.numRanks is " + str(s.R) + ", must be > 0");
  if (s.E % s.R != 0)
    bad(fn, "config.numExperts (" + str(s.E) + ") is not divisible by config.numRanks (" + str(s.R) + ")");
  s.G = c->numGroups == 0 ? s.R : c->numGroups;
  if (s.G < 0) bad(fn, "config.numGroups is " + str(c->numGroups) + ", must be >= 0 (0 = one per rank)");
  if (s.E % s.G != 0)
    bad(fn, "config.numExperts (" + str(s.E) + ") is not divisible by config.numGroups (" + str(s.G) + ")");
  s.groupSize = s.E / s.G;
  s.expertsPerRank = s.E / s.R;
  s.M = c->groupsPerToken;
  if (s.M < 1 || s.M > s.G)
    bad(fn, "config.groupsPerToken is " + str(s.M) + ", must be in [1, numGroups=" + str(s.G) + "]");
  if (c->scoreFunc != samScoreSoftmax && c->scoreFunc != samScoreSigmoid)
    bad(fn, "config.scoreFunc is " + str(c->scoreFunc) + ", not a samScoreFunc_t");
  s.score = c->scoreFunc;
  if (c->groupReduce != samGroupReduceSum && c->groupReduce != samGroupReduceMax &&
      c->groupReduce != samGroupReduceTopN)
    bad(fn, "config.groupReduce is " + str(c->groupReduce) + ", not a samGroupReduce_t");
  s.reduce = c->groupReduce;
  if (s.reduce == samGroupReduceTopN) {
    s.topN = c->groupReduceTopN;
    if (s.topN < 1 || s.topN > s.groupSize)
      bad(fn, "config.groupReduceTopN is " + str(s.topN) + ", must be in [1, experts per group=" +
                  str(s.groupSize) + "]");
  }
  s.k = c->topk;
  if (s.k < 1 || s.k > 32) bad(fn, "config.topk is " + str(s.k) + ", must be in [1, 32]");
  if (static_cast<long long>(s.k) > static_cast<long long>(s.M) * s.groupSize)
    bad(fn, "config.topk (" + str(s.k) + ") exceeds the experts in groupsPerToken=" + str(s.M) +
                " groups of " + str(s.groupSize) + " experts (" + str((long long)s.M * s.groupSize) + ")");
  s.renorm = c->renormalize != 0;
  if (!std::isfinite(c->scale)) bad(fn, "config.scale is not finite");
  s.scale = c->scale;
  if (!(c->capacityFactor >= 0.0f) || !std::isfinite(c->capacityFactor))
    bad(fn, "config.capacityFactor must be a finite value >= 0 (0 = dropless)");
  s.capacityFactor = c->capacityFactor;
  s.bias = c->selectionBias;

  // Nodes: ids 0..nodes-1, each holding at least one rank.
  s.rankNode.assign(s.R, 0);
  s.N = c->nodeLimit;
  if (s.N < 0) bad(fn, "config.nodeLimit is " + str(s.N) + ", must be >= 0 (0 = none)");
  if (c->rankNodes != nullptr) {
    int maxNode = 0;
    for (int r = 0; r < s.R; ++r) {
      int n = c->rankNodes[r];
      if (n < 0 || n >= s.R)
        bad(fn, "config.rankNodes[" + str(r) + "] is " + str(n) + ", must be in [0, numRanks)");
      s.rankNode[r] = n;
      maxNode = std::max(maxNode, n);
    }
    s.numNodes = maxNode + 1;
    std::vector<int> seen(s.numNodes, 0);
    for (int r = 0; r < s.R; ++r) seen[s.rankNode[r]] = 1;
    for (int n = 0; n < s.numNodes; ++n)
      if (!seen[n]) bad(fn, "config.rankNodes: node " + str(n) + " has no rank (node ids must be 0..nodes-1)");
  } else if (s.N > 0) {
    bad(fn, "config.nodeLimit is " + str(s.N) + " but config.rankNodes is NULL");
  }
  if (s.N > s.numNodes)
    bad(fn, "config.nodeLimit is " + str(s.N) + ", more than the " + str(s.numNodes) + " nodes");
  s.nodeRankStart.assign(s.numNodes + 1, 0);
  for (int r = 0; r < s.R; ++r) s.nodeRankStart[s.rankNode[r] + 1]++;
  for (int n = 0; n < s.numNodes; ++n) s.nodeRankStart[n + 1] += s.nodeRankStart[n];
  s.nodeRanks.resize(s.R);
  {
    std::vector<int> fill(s.nodeRankStart.begin(), s.nodeRankStart.end() - 1);
    for (int r = 0; r < s.R; ++r) s.nodeRanks[fill[s.rankNode[r]]++] = r;
  }
  if (s.nodeLimited()) {
    int fewest = fewestAllowedGroups(s);
    long long held = static_cast<long long>(std::min(fewest, s.M)) * s.groupSize;
    if (held < s.k)
      bad(fn, "config.nodeLimit=" + str(s.N) + " can leave only " + str(fewest) + " groups (" + str(held) +
                  " experts within groupsPerToken), fewer than topk=" + str(s.k));
  }
  return s;
}

int64_t capacityFor(const RouteSpec& spec, int64_t numTokens) {
  if (spec.capacityFactor <= 0.0f) return 0;
  return static_cast<int64_t>(
      std::ceil(static_cast<double>(spec.capacityFactor) * static_cast<double>(numTokens) * spec.M / spec.R));
}

}  // namespace route
}  // namespace sam

extern "C" {

samResult_t samRoutePresetFromName(const char* name, samRoutePreset_t* preset) {
  return sam::apiCall("samRoutePresetFromName", [&] {
    SAM_CHECK_PTR(name, "samRoutePresetFromName");
    SAM_CHECK_PTR(preset, "samRoutePresetFromName");
    static const struct { const char* name; samRoutePreset_t p; } kNames[] = {
        {"switch", samPresetSwitch}, {"gshard", samPresetGshard}, {"sam", samPresetSam},
        {"deepseek-v2", samPresetDeepseekV2}, {"deepseek-v3", samPresetDeepseekV3}};
    for (const auto& n : kNames)
      if (std::strcmp(n.name, name) == 0) {
        *preset = n.p;
        return samSuccess;
      }
    return sam::fail(samInvalidArgument, std::string("samRoutePresetFromName: unknown preset \"") + name +
                                             "\" (switch, gshard, sam, deepseek-v2, deepseek-v3)");
  });
}

samResult_t samRouteConfigPreset(samRoutePreset_t preset, int numExperts, int numRanks,
                                 samRouteConfig_t* config) {
  return sam::apiCall("samRouteConfigPreset", [&] {
    const char* fn = "samRouteConfigPreset";
    SAM_CHECK_PTR(config, fn);
    SAM_CHECK_ARG(numExperts > 0, fn, "numExperts is " + std::to_string(numExperts) + ", must be > 0");
    SAM_CHECK_ARG(numRanks > 0, fn, "numRanks is " + std::to_string(numRanks) + ", must be > 0");
    SAM_CHECK_ARG(numExperts % numRanks == 0, fn,
                  "numExperts (" + std::to_string(numExperts) + ") is not divisible by numRanks (" +
                      std::to_string(numRanks) + ")");
    samRouteConfig_t c = SAM_ROUTE_CONFIG_INITIALIZER;
    c.numExperts = numExperts;
    c.numRanks = numRanks;
    c.numGroups = numRanks;
    c.scale = 1.0f;
    c.groupReduceTopN = 2;
    switch (preset) {
      case samPresetSwitch:  // top-1 over all experts
        c.groupsPerToken = c.numGroups;
        c.topk = 1;
        break;
      case samPresetGshard:  // plain top-2
        c.groupsPerToken = c.numGroups;
        c.topk = std::min(2, numExperts);
        break;
      case samPresetSam:  // one device, then its best experts (raw probabilities)
        c.groupsPerToken = 1;
        c.groupReduce = samGroupReduceSum;
        c.topk = std::min(2, numExperts / numRanks);
        break;
      case samPresetDeepseekV2:
      case samPresetDeepseekV3: {
        SAM_CHECK_ARG(numExperts % 8 == 0, fn,
                      "numExperts (" + std::to_string(numExperts) +
                          ") must be divisible by 8: the deepseek presets use 8 expert groups");
        c.numGroups = 8;
        const bool v2 = preset == samPresetDeepseekV2;
        c.groupsPerToken = v2 ? 3 : 4;
        c.topk = std::min(v2 ? 6 : 8, c.groupsPerToken * numExperts / 8);
        c.scoreFunc = v2 ? samScoreSoftmax : samScoreSigmoid;
        c.groupReduce = v2 ? samGroupReduceMax : samGroupReduceTopN;
        c.groupReduceTopN = v2 ? 2 : std::min(2, numExperts / 8);
        c.renormalize = v2 ? 0 : 1;
        c.scale = v2 ? 16.0f : 2.5f;
        break;
      }
      default:
        return sam::fail(samInvalidArgument, std::string(fn) + ": preset " + std::to_string((int)preset) +
                                                 " is not a samRoutePreset_t");
    }
    *config = c;
    return samSuccess;
  });
}

samResult_t samRouteConfigCheck(const samRouteConfig_t* config) {
  return sam::apiCall("samRouteConfigCheck", [&] {
    sam::route::resolveSpec(config, "samRouteConfigCheck");
    return samSuccess;
  });
}

}  // extern "C"
