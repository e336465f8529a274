// The CPU reference of routing (docs/ROUTING.md). Plain loops, one token at a
// time; every float operation in the order the CUDA kernels use.
#include "route/route_ref.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/half.h"
#include "route/route_math.h"

namespace sam {
namespace route {

float logitToFloat(const void* logits, samDataType_t dtype, size_t i) {
  switch (dtype) {
    case samFloat32: return static_cast<const float*>(logits)[i];
    case samBfloat16: return bf16ToFloat(static_cast<const uint16_t*>(logits)[i]);
    case samFloat16: return fp16ToFloat(static_cast<const uint16_t*>(logits)[i]);
    default: throwError(samInternalError, "logitToFloat: unsupported dtype");
  }
}

size_t logitBytes(samDataType_t dtype, const char* fn) {
  switch (dtype) {
    case samFloat32: return 4;
    case samFloat16: return 2;
    case samBfloat16: return 2;
    default:
      throwError(samInvalidArgument, std::string(fn) + ": dtype " + std::to_string((int)dtype) +
                                         " is not a logits type (samFloat32, samFloat16 or samBfloat16)");
  }
}

std::string badLogitMessage(const char* fn, int64_t t, int e, float value) {
  return std::string(fn) + ": logits[" + std::to_string(t) + ", " + std::to_string(e) + "] is " +
         (std::isnan(value) ? "NaN" : (value > 0 ? "+Inf" : "-Inf")) + " (token " + std::to_string(t) +
         ", expert " + std::to_string(e) + ")";
}

std::string badBiasMessage(const char* fn, int e, float value) {
  return std::string(fn) + ": config.selectionBias[" + std::to_string(e) + "] is " +
         (std::isnan(value) ? "NaN" : "Inf");
}

void tokenScores(const RouteSpec& spec, const float* x, float* s) {
  const int E = spec.E;
  if (spec.score == samScoreSigmoid) {
    for (int e = 0; e < E; ++e) s[e] = routeSigmoid(x[e], kExp2Table);
    return;
  }
  float m = x[0];
  for (int e = 1; e < E; ++e) m = std::max(m, x[e]);
  // The denominator is summed the way a warp of 32 lanes sums it: lane l adds
  // experts l, l+32, l+64, ... in order, then the 32 partial sums are combined
  // by a butterfly (xor 16, 8, 4, 2, 1). Any fixed order would do; this one is
  // the GPU's, so both backends get the same bits.
  for (int e = 0; e < E; ++e) s[e] = routeExpNonPos(x[e] - m, kExp2Table);
  // One division per token, then a product per expert (what the kernel does).
  const float inv = 1.0f / warpOrderSum(s, E);
  for (int e = 0; e < E; ++e) s[e] = s[e] * inv;
}

namespace {

// reduce(values) for a group or node score; values in ascending expert order.
// A group's sum is taken in warp order (the fast kernels sum a group held one
// value per lane by shuffles); a node's sum in ascending order.
float reduceScores(const RouteSpec& spec, const std::vector<float>& v, bool group) {
  switch (spec.reduce) {
    case samGroupReduceSum: {
      if (group) return warpOrderSum(v.data(), static_cast<int>(v.size()));
      float sum = 0.0f;
      for (float x : v) sum += x;  // ascending expert order
      return sum;
    }
    case samGroupReduceMax: return *std::max_element(v.begin(), v.end());
    case samGroupReduceTopN: {
      // The n largest, added largest first (ties: the lower expert first).
      std::vector<char> used(v.size(), 0);
      float sum = 0.0f;
      for (int pick = 0; pick < spec.topN && pick < static_cast<int>(v.size()); ++pick) {
        int best = -1;
        for (int i = 0; i < static_cast<int>(v.size()); ++i)
          if (!used[i] && (best < 0 || beats(v[i], i, v[best], best))) best = i;
        used[best] = 1;
        sum += v[best];
      }
      return sum;
    }
  }
  return 0.0f;
}

// Marks the best `count` candidates (descending score, ties to the lower index).
void keepTop(const std::vector<float>& score, const std::vector<char>& candidate, int count,
             std::vector<char>& kept) {
  kept.assign(score.size(), 0);
  for (int pick = 0; pick < count; ++pick) {
    int best = -1;
    for (int i = 0; i < static_cast<int>(score.size()); ++i)
      if (candidate[i] && !kept[i] && (best < 0 || beats(score[i], i, score[best], best))) best = i;
    if (best < 0) return;  // fewer candidates than count
    kept[best] = 1;
  }
}

}  // namespace

void routeToken(const RouteSpec& spec, const float* s, const float* sel, TokenRoute& out) {
  const int G = spec.G, gs = spec.groupSize;
  out.groupChosen.assign(G, 1);
  if (!spec.allGroups()) {
    // Node limit: score each node by the reduce over its ranks' experts, keep the top N.
    std::vector<char> allowed(G, 1);
    if (spec.nodeLimited()) {
      std::vector<float> nodeScore(spec.numNodes);
      for (int n = 0; n < spec.numNodes; ++n) {
        std::vector<float> v;
        for (int i = spec.nodeRankStart[n]; i < spec.nodeRankStart[n + 1]; ++i) {
          const int r = spec.nodeRanks[i];
          for (int e = r * spec.expertsPerRank; e < (r + 1) * spec.expertsPerRank; ++e) v.push_back(sel[e]);
        }
        nodeScore[n] = reduceScores(spec, v, false);
      }
      std::vector<char> keptNode;
      keepTop(nodeScore, std::vector<char>(spec.numNodes, 1), spec.N, keptNode);
      for (int g = 0; g < G; ++g)  // a group is allowed if it lies wholly on kept nodes
        for (int r = spec.firstRankOfGroup(g); r <= spec.lastRankOfGroup(g); ++r)
          if (!keptNode[spec.rankNode[r]]) allowed[g] = 0;
    }
    // Stage 1 (switch): the top M groups among the allowed ones.
    std::vector<float> groupScore(G, 0.0f);
    for (int g = 0; g < G; ++g)
      if (allowed[g]) groupScore[g] = reduceScores(spec, std::vector<float>(sel + g * gs, sel + (g + 1) * gs), true);
    keepTop(groupScore, allowed, spec.M, out.groupChosen);
  }
  // Stage 2 (mixture): the top k experts of the chosen groups, by sel.
  std::vector<char> candidate(spec.E), taken;
  for (int e = 0; e < spec.E; ++e) candidate[e] = out.groupChosen[spec.groupOf(e)];
  std::vector<float> selv(sel, sel + spec.E);
  out.experts.clear();
  std::vector<char> picked(spec.E, 0);
  for (int i = 0; i < spec.k; ++i) {
    int best = -1;
    for (int e = 0; e < spec.E; ++e)
      if (candidate[e] && !picked[e] && (best < 0 || beats(sel[e], e, sel[best], best))) best = e;
    picked[best] = 1;  // always found: config checks guarantee k experts in the chosen groups
    out.experts.push_back(best);
  }
  out.lowest = out.experts[0];
  for (int e : out.experts)
    if (s[e] < s[out.lowest] || (s[e] == s[out.lowest] && e < out.lowest)) out.lowest = e;
}

void tokenWeights(const RouteSpec& spec, const float* s, const TokenRoute& route, float* w) {
  float denom = 0.0f;
  for (int i = 0; i < spec.k; ++i) denom += s[route.experts[i]];  // slot order
  for (int i = 0; i < spec.k; ++i) {
    float wi = s[route.experts[i]];
    if (spec.renorm) wi = denom > 0.0f ? wi / denom : 0.0f;
    w[i] = wi * spec.scale;
  }
}

double tokenAlignment(const RouteSpec& spec, const float* s, const TokenRoute& route) {
  double sum = 0.0;
  const double floor = s[route.lowest];
  for (int e = 0; e < spec.E; ++e)
    if (!route.groupChosen[spec.groupOf(e)]) sum += std::max(0.0, static_cast<double>(s[e]) - floor);
  return sum;
}

void firstNonFinite(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T, int64_t* t, int* e) {
  *t = -1;
  *e = -1;
  const size_t n = static_cast<size_t>(T) * spec.E;
  for (size_t i = 0; i < n; ++i)
    if (!std::isfinite(logitToFloat(logits, dtype, i))) {
      *t = static_cast<int64_t>(i / spec.E);
      *e = static_cast<int>(i % spec.E);
      return;
    }
  if (spec.bias)
    for (int j = 0; j < spec.E; ++j)
      if (!std::isfinite(spec.bias[j])) {
        *e = j;
        return;
      }
}

namespace {

void checkFinite(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T, const char* fn) {
  int64_t t = -1;
  int e = -1;
  firstNonFinite(spec, logits, dtype, T, &t, &e);
  if (t >= 0) throwError(samNumericError, badLogitMessage(fn, t, e, logitToFloat(logits, dtype, t * spec.E + e)));
  if (e >= 0) throwError(samNumericError, badBiasMessage(fn, e, spec.bias[e]));
}

// s and sel of token t.
void scoresOf(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t t, std::vector<float>& x,
              std::vector<float>& s, std::vector<float>& sel) {
  for (int e = 0; e < spec.E; ++e) x[e] = logitToFloat(logits, dtype, static_cast<size_t>(t) * spec.E + e);
  tokenScores(spec, x.data(), s.data());
  for (int e = 0; e < spec.E; ++e) sel[e] = spec.bias ? s[e] + spec.bias[e] : s[e];
}

}  // namespace

void forwardReference(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T, const char* fn,
                      ForwardResult& out) {
  checkFinite(spec, logits, dtype, T, fn);
  const int E = spec.E, k = spec.k, R = spec.R;
  out.expertIdx.assign(static_cast<size_t>(T) * k, -1);
  out.weights.assign(static_cast<size_t>(T) * k, 0.0f);
  out.dropped.assign(T, 0);
  std::vector<float> sraw(static_cast<size_t>(T) * k);  // s of each selected expert
  std::vector<double> scoreSum(E, 0.0);
  double alignment = 0.0;
  std::vector<float> x(E), s(E), sel(E);
  TokenRoute route;
  for (int64_t t = 0; t < T; ++t) {
    scoresOf(spec, logits, dtype, t, x, s, sel);
    routeToken(spec, s.data(), sel.data(), route);
    tokenWeights(spec, s.data(), route, &out.weights[t * k]);
    for (int i = 0; i < k; ++i) {
      out.expertIdx[t * k + i] = route.experts[i];
      sraw[t * k + i] = s[route.experts[i]];
    }
    for (int e = 0; e < E; ++e) scoreSum[e] += s[e];
    alignment += tokenAlignment(spec, s.data(), route);
  }

  // Capacity: per rank, keep the C (token, rank) pairs of highest score, the
  // score of a pair being the sum of s over the token's experts on that rank
  // (float, slot order); ties go to the lower token.
  const int64_t C = capacityFor(spec, T);
  int64_t pairsDropped = 0;
  if (spec.capacityFactor > 0.0f) {
    struct Pair { float score; int64_t t; };
    std::vector<std::vector<Pair>> perRank(R);
    for (int64_t t = 0; t < T; ++t)
      for (int i = 0; i < k; ++i) {
        const int r = spec.rankOf(out.expertIdx[t * k + i]);
        bool first = true;
        for (int j = 0; j < i; ++j) first &= spec.rankOf(out.expertIdx[t * k + j]) != r;
        if (!first) continue;
        float score = 0.0f;
        for (int j = 0; j < k; ++j)
          if (spec.rankOf(out.expertIdx[t * k + j]) == r) score += sraw[t * k + j];
        perRank[r].push_back({score, t});
      }
    std::vector<std::vector<int>> droppedRanks(T);
    for (int r = 0; r < R; ++r) {
      auto& pairs = perRank[r];
      std::stable_sort(pairs.begin(), pairs.end(), [](const Pair& a, const Pair& b) { return a.score > b.score; });
      for (size_t p = static_cast<size_t>(C); p < pairs.size(); ++p) droppedRanks[pairs[p].t].push_back(r);
    }
    for (int64_t t = 0; t < T; ++t) {
      for (int r : droppedRanks[t])
        for (int i = 0; i < k; ++i)
          if (out.expertIdx[t * k + i] >= 0 && spec.rankOf(out.expertIdx[t * k + i]) == r) {
            out.expertIdx[t * k + i] = -1;
            out.weights[t * k + i] = 0.0f;
          }
      out.dropped[t] = static_cast<int32_t>(droppedRanks[t].size());
      pairsDropped += out.dropped[t];
    }
  }

  // Counts of what is kept: a token counts once for each rank it goes to.
  out.expertCounts.assign(E, 0);
  out.rankCounts.assign(R, 0);
  for (int64_t t = 0; t < T; ++t) {
    std::vector<char> rankSeen(R, 0);
    for (int i = 0; i < k; ++i) {
      const int e = out.expertIdx[t * k + i];
      if (e < 0) continue;
      out.expertCounts[e]++;
      if (!rankSeen[spec.rankOf(e)]) out.rankCounts[spec.rankOf(e)]++;
      rankSeen[spec.rankOf(e)] = 1;
    }
  }
  finishStats(spec, T, scoreSum.data(), out.expertCounts.data(), out.rankCounts.data(), pairsDropped, alignment, C,
              &out.stats);
}

void finishStats(const RouteSpec& spec, int64_t T, const double* scoreSum, const int32_t* expertCounts,
                 const int32_t* rankCounts, int64_t pairsDropped, double alignment, int64_t capacity,
                 samRouteStats_t* stats) {
  samRouteStats_t st{};
  st.tokens = T;
  for (int e = 0; e < spec.E; ++e) st.pairsRouted += expertCounts[e];
  for (int r = 0; r < spec.R; ++r) st.tokenRankPairs += rankCounts[r];
  st.pairsDropped = pairsDropped;
  st.capacity = capacity;
  if (T > 0 && st.pairsRouted > 0) {
    const double pairs = static_cast<double>(st.pairsRouted);
    double eb = 0.0;
    for (int e = 0; e < spec.E; ++e) eb += (expertCounts[e] / pairs) * (scoreSum[e] / T);
    st.expertBalanceLoss = spec.E * eb;
    double db = 0.0;
    for (int g = 0; g < spec.G; ++g) {
      double f = 0.0, p = 0.0;
      for (int e = g * spec.groupSize; e < (g + 1) * spec.groupSize; ++e) {
        f += expertCounts[e] / pairs;
        p += scoreSum[e] / T;
      }
      db += f * p;
    }
    st.deviceBalanceLoss = spec.G * db;
  }
  st.alignmentLoss = alignment;
  *stats = st;
}

void backwardReference(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                       const int32_t* expertIdx, const float* gradWeights, const samRouteLossCoef_t& coef,
                       const char* fn, std::vector<float>& gradLogits) {
  checkFinite(spec, logits, dtype, T, fn);
  const int E = spec.E, k = spec.k;
  // f_e from the routes as given (kept pairs), held constant as Switch does.
  std::vector<int64_t> count(E, 0);
  int64_t pairs = 0;
  for (int64_t i = 0; i < T * k; ++i) {
    const int e = expertIdx[i];
    if (e < -1 || e >= E)
      throwError(samInvalidArgument, std::string(fn) + ": expertIdx[" + std::to_string(i / k) + ", " +
                                         std::to_string(i % k) + "] is " + std::to_string(e) +
                                         ", must be -1 (dropped) or in [0, " + std::to_string(E) + ")");
    if (e >= 0) count[e]++, pairs++;
  }
  gradLogits.assign(static_cast<size_t>(T) * E, 0.0f);
  std::vector<float> x(E), s(E), sel(E);
  std::vector<double> g(E);
  TokenRoute route;
  for (int64_t t = 0; t < T; ++t) {
    scoresOf(spec, logits, dtype, t, x, s, sel);
    routeToken(spec, s.data(), sel.data(), route);  // the decision, held fixed
    const int32_t* idx = expertIdx + t * k;
    for (int i = 0; i < k; ++i)
      if (idx[i] != -1 && idx[i] != route.experts[i])
        throwError(samInvalidArgument, std::string(fn) + ": expertIdx[" + std::to_string(t) + ", " +
                                           std::to_string(i) + "] is " + std::to_string(idx[i]) +
                                           " but these logits and config route that slot to expert " +
                                           std::to_string(route.experts[i]));
    std::fill(g.begin(), g.end(), 0.0);  // g = dL/ds
    if (gradWeights) {
      const float* gw = gradWeights + t * k;
      if (!spec.renorm) {
        for (int i = 0; i < k; ++i)
          if (idx[i] >= 0) g[idx[i]] += static_cast<double>(gw[i]) * spec.scale;
      } else {
        // w_i = scale * s_i / D, D summed over all k selected (dropped ones too:
        // the forward renormalised before capacity).
        double D = 0.0, A = 0.0;
        for (int i = 0; i < k; ++i) D += s[route.experts[i]];
        for (int i = 0; i < k; ++i)
          if (idx[i] >= 0) A += static_cast<double>(gw[i]) * s[idx[i]];
        if (D > 0.0) {
          for (int i = 0; i < k; ++i) {
            if (idx[i] >= 0) g[idx[i]] += spec.scale * gw[i] / D;
            g[route.experts[i]] -= spec.scale * A / (D * D);
          }
        }
      }
    }
    if (pairs > 0) {
      for (int e = 0; e < E; ++e) {
        const double fe = static_cast<double>(count[e]) / pairs;
        g[e] += coef.expertBalance * static_cast<double>(E) * fe / T;
      }
      if (coef.deviceBalance != 0.0f)
        for (int grp = 0; grp < spec.G; ++grp) {
          double fg = 0.0;
          for (int e = grp * spec.groupSize; e < (grp + 1) * spec.groupSize; ++e) fg += count[e];
          fg /= pairs;
          for (int e = grp * spec.groupSize; e < (grp + 1) * spec.groupSize; ++e)
            g[e] += coef.deviceBalance * static_cast<double>(spec.G) * fg / T;
        }
    }
    if (coef.alignment != 0.0f)
      for (int e = 0; e < E; ++e)
        if (!route.groupChosen[spec.groupOf(e)] && s[e] > s[route.lowest]) {
          g[e] += coef.alignment;
          g[route.lowest] -= coef.alignment;
        }
    float* out = &gradLogits[static_cast<size_t>(t) * E];
    if (spec.score == samScoreSoftmax) {
      double dot = 0.0;
      for (int e = 0; e < E; ++e) dot += g[e] * s[e];
      for (int e = 0; e < E; ++e) out[e] = static_cast<float>(s[e] * (g[e] - dot));
    } else {
      for (int e = 0; e < E; ++e) out[e] = static_cast<float>(g[e] * s[e] * (1.0 - static_cast<double>(s[e])));
    }
  }
}

}  // namespace route
}  // namespace sam
