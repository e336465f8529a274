#include "sam_perf_route_ref.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

namespace samperf {

namespace {

// Indices 0..n-1 sorted by descending value, ties to the lower index.
std::vector<int> orderDesc(const std::vector<double>& v) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](int a, int b) { return v[a] > v[b]; });
  return idx;
}

// Smallest gap between neighbours among the first `upTo`+1 of a descending order:
// below it, float rounding in the library may legitimately order them otherwise.
double boundaryGap(const std::vector<double>& v, const std::vector<int>& order, size_t upTo) {
  double gap = INFINITY;
  for (size_t i = 0; i + 1 < order.size() && i < upTo; ++i) gap = std::min(gap, v[order[i]] - v[order[i + 1]]);
  return gap;
}

double reduceGroup(const samRouteConfig_t& cfg, const std::vector<double>& sel, const std::vector<int>& experts) {
  std::vector<double> vals;
  for (int e : experts) vals.push_back(sel[e]);
  std::sort(vals.begin(), vals.end(), std::greater<double>());
  if (cfg.groupReduce == samGroupReduceMax) return vals.empty() ? -INFINITY : vals[0];
  size_t n = cfg.groupReduce == samGroupReduceTopN ? std::min<size_t>(cfg.groupReduceTopN, vals.size()) : vals.size();
  return std::accumulate(vals.begin(), vals.begin() + n, 0.0);
}

}  // namespace

RouteCheck checkRoutes(const samRouteConfig_t& cfg, const float* logits, int64_t numTokens,
                       const int32_t* expertIdx, const float* weights) {
  RouteCheck out;
  const int E = cfg.numExperts, R = cfg.numRanks, k = cfg.topk;
  const int G = cfg.numGroups > 0 ? cfg.numGroups : R;
  const int perGroup = E / G, perRank = E / R;
  const double tieEps = 1e-6;  // float scores are good to ~1e-7 here
  std::vector<double> s(E), sel(E);
  for (int64_t t = 0; t < numTokens; ++t) {
    const float* x = logits + t * E;
    // 1. scores, and the selection scores with the bias
    if (cfg.scoreFunc == samScoreSigmoid) {
      for (int e = 0; e < E; ++e) s[e] = 1.0 / (1.0 + std::exp(-static_cast<double>(x[e])));
    } else {
      double m = *std::max_element(x, x + E), z = 0;
      for (int e = 0; e < E; ++e) z += std::exp(x[e] - m);
      for (int e = 0; e < E; ++e) s[e] = std::exp(x[e] - m) / z;
    }
    for (int e = 0; e < E; ++e) sel[e] = s[e] + (cfg.selectionBias ? cfg.selectionBias[e] : 0.0f);
    double gap = INFINITY;

    // 2. node limit: keep the top-N nodes, scored by the same reduce over their experts
    std::vector<bool> groupAllowed(G, true);
    if (cfg.nodeLimit > 0 && cfg.rankNodes) {
      int nodes = *std::max_element(cfg.rankNodes, cfg.rankNodes + R) + 1;
      std::vector<double> nodeScore(nodes);
      for (int n = 0; n < nodes; ++n) {
        std::vector<int> ex;
        for (int e = 0; e < E; ++e)
          if (cfg.rankNodes[e / perRank] == n) ex.push_back(e);
        nodeScore[n] = reduceGroup(cfg, sel, ex);
      }
      std::vector<int> order = orderDesc(nodeScore);
      size_t keep = std::min<size_t>(cfg.nodeLimit, nodes);
      gap = std::min(gap, boundaryGap(nodeScore, order, keep));
      std::vector<bool> nodeKept(nodes, false);
      for (size_t i = 0; i < keep; ++i) nodeKept[order[i]] = true;
      for (int g = 0; g < G; ++g)
        for (int e = g * perGroup; e < (g + 1) * perGroup; ++e)
          if (!nodeKept[cfg.rankNodes[e / perRank]]) groupAllowed[g] = false;
    }
    // 3. switch: the top-M allowed groups
    std::vector<double> groupScore(G, -INFINITY);
    for (int g = 0; g < G; ++g) {
      if (!groupAllowed[g]) continue;
      std::vector<int> ex(perGroup);
      std::iota(ex.begin(), ex.end(), g * perGroup);
      groupScore[g] = reduceGroup(cfg, sel, ex);
    }
    std::vector<int> gOrder = orderDesc(groupScore);
    size_t M = std::min<size_t>(cfg.groupsPerToken, G);
    if (M < static_cast<size_t>(G)) gap = std::min(gap, boundaryGap(groupScore, gOrder, M));
    std::vector<double> cand(E, -INFINITY);
    for (size_t i = 0; i < M; ++i)
      if (groupScore[gOrder[i]] > -INFINITY)
        for (int e = gOrder[i] * perGroup; e < (gOrder[i] + 1) * perGroup; ++e) cand[e] = sel[e];
    // 4. mixture: the top-k experts of the chosen groups, in descending order
    std::vector<int> eOrder = orderDesc(cand);
    gap = std::min(gap, boundaryGap(cand, eOrder, k));
    // 5. weights
    std::vector<double> w(k);
    double sum = 0;
    for (int i = 0; i < k; ++i) sum += (w[i] = s[eOrder[i]]);
    for (int i = 0; i < k; ++i) {
      if (cfg.renormalize && sum > 0) w[i] /= sum;
      w[i] *= cfg.scale;
    }
    if (gap < tieEps) {
      ++out.nearTies;
      continue;
    }
    for (int i = 0; i < k; ++i) {
      int32_t got = expertIdx[t * k + i];
      if (got < 0) continue;  // dropped by capacity
      if (got != eOrder[i]) ++out.wrong;
      double ref = w[i], diff = std::fabs(weights[t * k + i] - ref);
      if (!(diff <= 1e-5 * std::fabs(ref) + 1e-7)) ++out.wrong;
    }
  }
  return out;
}

}  // namespace samperf
