// The CPU reference against a brute force written from the definition
// (ARCHITECTURE §1, docs/ROUTING.md): full sorts instead of repeated argmax,
// losses in double straight from their formulas.
#include <gtest/gtest.h>

#include <algorithm>
#include <numeric>

#include "route/route_config.h"
#include "route/route_math.h"
#include "route/route_ref.h"
#include "route_test_util.h"

using namespace routetest;

namespace {

struct Brute {
  std::vector<int32_t> idx, rankCounts, expertCounts, dropped;
  std::vector<double> w;
  double eb = 0, db = 0, align = 0;
  int64_t pairsDropped = 0, pairsRouted = 0, tokenRank = 0, capacity = 0;
};

// Indices sorted by (value desc, index asc): the definition of "top" with ties.
std::vector<int> ranked(const std::vector<float>& v, const std::vector<int>& candidates) {
  std::vector<int> order(candidates);
  std::sort(order.begin(), order.end(), [&](int a, int b) { return v[a] > v[b] || (v[a] == v[b] && a < b); });
  return order;
}

// A group's sum in warp order, written out as docs/ROUTING.md says: value i
// into partial i % 32, then the butterfly of 32 lanes, read at lane 0.
float warpOrderLiteral(const std::vector<float>& vals) {
  float lane[32] = {0};
  for (size_t i = 0; i < vals.size(); ++i) lane[i % 32] += vals[i];
  for (int o = 16; o >= 1; o /= 2) {
    float next[32];
    for (int l = 0; l < 32; ++l) next[l] = lane[l] + lane[l ^ o];
    std::copy(next, next + 32, lane);
  }
  return lane[0];
}

float reduceLiteral(const samRouteConfig_t& c, std::vector<float> vals, bool group) {
  if (c.groupReduce == samGroupReduceSum)
    return group ? warpOrderLiteral(vals) : std::accumulate(vals.begin(), vals.end(), 0.0f);
  if (c.groupReduce == samGroupReduceMax) return *std::max_element(vals.begin(), vals.end());
  std::stable_sort(vals.begin(), vals.end(), [](float a, float b) { return a > b; });
  float sum = 0.0f;
  for (int i = 0; i < c.groupReduceTopN; ++i) sum += vals[i];
  return sum;
}

Brute brute(const samRouteConfig_t& c, const std::vector<float>& x, int64_t T) {
  const sam::route::RouteSpec spec = sam::route::resolveSpec(&c, "brute");
  const int E = c.numExperts, R = c.numRanks, G = spec.G, k = c.topk, gs = E / G, epr = E / R;
  Brute b;
  b.idx.assign(T * k, -1);
  b.w.assign(T * k, 0.0);
  std::vector<std::vector<float>> S(T, std::vector<float>(E));
  std::vector<std::vector<char>> chosen(T, std::vector<char>(G, 0));
  for (int64_t t = 0; t < T; ++t) {
    std::vector<float>& s = S[t];
    sam::route::tokenScores(spec, &x[t * E], s.data());
    std::vector<float> sel(E);
    for (int e = 0; e < E; ++e) sel[e] = c.selectionBias ? s[e] + c.selectionBias[e] : s[e];
    std::vector<int> allowedGroups;
    std::vector<char> nodeKept(spec.numNodes, 1);
    if (c.nodeLimit > 0) {
      std::vector<float> ns(spec.numNodes);
      std::vector<int> nodes(spec.numNodes);
      std::iota(nodes.begin(), nodes.end(), 0);
      for (int n = 0; n < spec.numNodes; ++n) {
        std::vector<float> vals;
        for (int e = 0; e < E; ++e)
          if (c.rankNodes[e / epr] == n) vals.push_back(sel[e]);
        ns[n] = reduceLiteral(c, vals, false);
      }
      std::vector<int> order = ranked(ns, nodes);
      std::fill(nodeKept.begin(), nodeKept.end(), 0);
      for (int i = 0; i < c.nodeLimit; ++i) nodeKept[order[i]] = 1;
    }
    std::vector<float> gscore(G);
    for (int g = 0; g < G; ++g) {
      bool ok = true;
      for (int e = g * gs; e < (g + 1) * gs; ++e) ok &= nodeKept[c.rankNodes ? c.rankNodes[e / epr] : 0] != 0;
      if (!ok) continue;
      allowedGroups.push_back(g);
      gscore[g] = reduceLiteral(c, std::vector<float>(sel.begin() + g * gs, sel.begin() + (g + 1) * gs), true);
    }
    std::vector<int> gorder = ranked(gscore, allowedGroups);
    for (int i = 0; i < std::min<int>(c.groupsPerToken, gorder.size()); ++i) chosen[t][gorder[i]] = 1;
    std::vector<int> cands;
    for (int e = 0; e < E; ++e)
      if (chosen[t][e / gs]) cands.push_back(e);
    std::vector<int> eorder = ranked(sel, cands);
    double denom = 0;
    for (int i = 0; i < k; ++i) denom += s[eorder[i]];
    for (int i = 0; i < k; ++i) {
      b.idx[t * k + i] = eorder[i];
      double wi = s[eorder[i]];
      if (c.renormalize) wi /= denom;
      b.w[t * k + i] = wi * c.scale;
    }
    // alignment: lowest-scored selected expert, penalise better experts outside the chosen groups
    double lowest = 1e300;
    for (int i = 0; i < k; ++i) lowest = std::min(lowest, (double)s[eorder[i]]);
    for (int e = 0; e < E; ++e)
      if (!chosen[t][e / gs]) b.align += std::max(0.0, (double)s[e] - lowest);
  }
  b.dropped.assign(T, 0);
  if (c.capacityFactor > 0) {
    b.capacity = (int64_t)std::ceil((double)c.capacityFactor * T * c.groupsPerToken / R);
    for (int r = 0; r < R; ++r) {
      struct P { float score; int64_t t; };
      std::vector<P> pairs;
      for (int64_t t = 0; t < T; ++t) {
        float score = 0;
        bool any = false;
        for (int i = 0; i < k; ++i)
          if (b.idx[t * k + i] / epr == r) score += S[t][b.idx[t * k + i]], any = true;
        if (any) pairs.push_back({score, t});
      }
      std::sort(pairs.begin(), pairs.end(),
                [](const P& a, const P& q) { return a.score > q.score || (a.score == q.score && a.t < q.t); });
      for (size_t p = b.capacity; p < pairs.size(); ++p) {
        const int64_t t = pairs[p].t;
        b.dropped[t]++;
        b.pairsDropped++;
        for (int i = 0; i < k; ++i)
          if (b.idx[t * k + i] >= 0 && b.idx[t * k + i] / epr == r) b.idx[t * k + i] = -1, b.w[t * k + i] = 0;
      }
    }
  }
  b.expertCounts.assign(E, 0);
  b.rankCounts.assign(R, 0);
  for (int64_t t = 0; t < T; ++t)
    for (int r = 0; r < R; ++r) {
      bool on = false;
      for (int i = 0; i < k; ++i) on |= b.idx[t * k + i] >= 0 && b.idx[t * k + i] / epr == r;
      b.rankCounts[r] += on;
      b.tokenRank += on;
    }
  for (int32_t e : b.idx)
    if (e >= 0) b.expertCounts[e]++, b.pairsRouted++;
  if (T > 0 && b.pairsRouted > 0) {
    for (int e = 0; e < E; ++e) {
      double P = 0;
      for (int64_t t = 0; t < T; ++t) P += S[t][e];
      b.eb += (double)b.expertCounts[e] / b.pairsRouted * (P / T);
    }
    b.eb *= E;
    for (int g = 0; g < G; ++g) {
      double f = 0, P = 0;
      for (int e = g * gs; e < (g + 1) * gs; ++e) {
        f += (double)b.expertCounts[e] / b.pairsRouted;
        for (int64_t t = 0; t < T; ++t) P += S[t][e];
      }
      b.db += f * (P / T);
    }
    b.db *= G;
  }
  return b;
}

void expectMatches(const samRouteConfig_t& c, const std::vector<float>& x, int64_t T) {
  SCOPED_TRACE(describe(c) + " T=" + std::to_string(T));
  const Brute b = brute(c, x, T);
  HostOut h(T, c.topk, c.numExperts, c.numRanks);
  ASSERT_EQ(samRouteForward(&c, samMemHost, x.data(), samFloat32, T, &h.out, &h.stats, nullptr), samSuccess)
      << samGetLastError();
  ASSERT_EQ(h.idx, b.idx);
  for (size_t i = 0; i < b.w.size(); ++i) ASSERT_NEAR(h.w[i], b.w[i], 1e-6 * std::max(1.0, std::fabs(b.w[i]))) << i;
  EXPECT_EQ(h.expertCounts, b.expertCounts);
  EXPECT_EQ(h.rankCounts, b.rankCounts);
  EXPECT_EQ(h.dropped, b.dropped);
  EXPECT_EQ(h.stats.tokens, T);
  EXPECT_EQ(h.stats.pairsRouted, b.pairsRouted);
  EXPECT_EQ(h.stats.tokenRankPairs, b.tokenRank);
  EXPECT_EQ(h.stats.pairsDropped, b.pairsDropped);
  EXPECT_EQ(h.stats.capacity, b.capacity);
  EXPECT_NEAR(h.stats.expertBalanceLoss, b.eb, 1e-9 * std::max(1.0, b.eb));
  EXPECT_NEAR(h.stats.deviceBalanceLoss, b.db, 1e-9 * std::max(1.0, b.db));
  EXPECT_NEAR(h.stats.alignmentLoss, b.align, 1e-9 * std::max(1.0, b.align));
}

}  // namespace

TEST(RouteReference, ScoresMatchDoublePrecision) {
  auto rng = freshRng("scores");
  for (int E : {1, 5, 33, 64, 257}) {
    samRouteConfig_t c = preset(samPresetGshard, E, 1);
    c.topk = 1;
    for (samScoreFunc_t f : {samScoreSoftmax, samScoreSigmoid}) {
      c.scoreFunc = f;
      const auto spec = sam::route::resolveSpec(&c, "t");
      std::vector<float> x = randomLogits(rng, 1, E, 30.0f), s(E);
      sam::route::tokenScores(spec, x.data(), s.data());
      double m = *std::max_element(x.begin(), x.end()), sum = 0;
      for (float v : x) sum += std::exp((double)v - m);
      for (int e = 0; e < E; ++e) {
        const double want = f == samScoreSoftmax ? std::exp((double)x[e] - m) / sum : 1 / (1 + std::exp(-(double)x[e]));
        // fp32 rounds x - max (absolute error |x - max| * 2^-24), which exp turns
        // into that relative error: inherent to fp32 inputs, not to our exp.
        const double conditioning = std::fabs((double)x[e] - m) * 6e-8;
        EXPECT_NEAR(s[e], want, (1e-6 + conditioning) * want + 1e-37) << "E=" << E << " e=" << e;
      }
    }
  }
}

// Every preset, and every combination of the options, on small random cases.
TEST(RouteReference, MatchesBruteForceOverAllOptions) {
  auto rng = freshRng("options");
  const int E = 24, R = 6;
  const int rankNodes[R] = {0, 0, 1, 1, 2, 2};
  std::vector<float> bias(E);
  std::uniform_real_distribution<float> ub(-0.05f, 0.05f);
  for (auto& v : bias) v = ub(rng);
  int checked = 0;
  for (int G : {6, 3, 12, 24})
    for (samScoreFunc_t score : {samScoreSoftmax, samScoreSigmoid})
      for (samGroupReduce_t reduce : {samGroupReduceSum, samGroupReduceMax, samGroupReduceTopN})
        for (int M : {1, 2, G})
          for (int N : {0, 1, 2})
            for (int k : {1, 3, 8})
              for (int renorm : {0, 1})
                for (int withBias : {0, 1})
                  for (float cap : {0.0f, 0.7f}) {
                    samRouteConfig_t c = SAM_ROUTE_CONFIG_INITIALIZER;
                    c.numExperts = E, c.numRanks = R, c.numGroups = G, c.groupsPerToken = M;
                    c.nodeLimit = N, c.rankNodes = N ? rankNodes : nullptr, c.topk = k;
                    c.scoreFunc = score, c.groupReduce = reduce, c.groupReduceTopN = 2;
                    c.renormalize = renorm, c.scale = renorm ? 2.5f : 1.0f, c.capacityFactor = cap;
                    c.selectionBias = withBias ? bias.data() : nullptr;
                    if (reduce == samGroupReduceTopN && E / G < 2) c.groupReduceTopN = 1;
                    if (samRouteConfigCheck(&c) != samSuccess) continue;
                    for (int64_t T : {1, 9}) {
                      expectMatches(c, randomLogits(rng, T, E), T);
                      // Heavy ties: logits from {0, 1, 2} exercise every tie rule.
                      std::vector<float> tied(T * E);
                      for (auto& v : tied) v = (float)(rng() % 3);
                      expectMatches(c, tied, T);
                    }
                    ++checked;
                  }
  EXPECT_GT(checked, 1000);
  std::vector<float> bias64(64);
  for (auto& v : bias64) v = ub(rng);
  for (int p = 0; p <= samPresetDeepseekV3; ++p)
    for (int R2 : {1, 2, 4, 8}) {
      samRouteConfig_t c = preset((samRoutePreset_t)p, 64, R2);
      if (p == samPresetDeepseekV3) c.selectionBias = bias64.data();
      expectMatches(c, randomLogits(rng, 33, 64), 33);
      c.capacityFactor = 1.0f;
      expectMatches(c, randomLogits(rng, 33, 64), 33);
    }
}

TEST(RouteReference, ZeroTokens) {
  samRouteConfig_t c = preset(samPresetSam, 8, 2);
  HostOut h(0, c.topk, 8, 2);
  ASSERT_EQ(samRouteForward(&c, samMemHost, nullptr, samFloat32, 0, &h.out, &h.stats, nullptr), samSuccess);
  EXPECT_EQ(h.rankCounts, std::vector<int32_t>(2, 0));
  EXPECT_EQ(h.expertCounts, std::vector<int32_t>(8, 0));
  EXPECT_EQ(h.stats.tokens, 0);
  EXPECT_EQ(h.stats.pairsRouted, 0);
  EXPECT_EQ(h.stats.expertBalanceLoss, 0.0);
}

TEST(RouteReference, HalfAndBf16AreRoutedAsTheirFloatValues) {
  auto rng = freshRng("dtypes");
  samRouteConfig_t c = preset(samPresetDeepseekV2, 32, 4);
  const int64_t T = 17;
  std::vector<float> x = randomLogits(rng, T, 32);
  for (samDataType_t dt : {samFloat16, samBfloat16}) {
    Logits packed = pack(x, dt);
    std::vector<float> widened(x.size());
    for (size_t i = 0; i < x.size(); ++i) widened[i] = sam::route::logitToFloat(packed.data(), dt, i);
    HostOut a(T, c.topk, 32, 4), b(T, c.topk, 32, 4);
    ASSERT_EQ(samRouteForward(&c, samMemHost, packed.data(), dt, T, &a.out, &a.stats, nullptr), samSuccess);
    ASSERT_EQ(samRouteForward(&c, samMemHost, widened.data(), samFloat32, T, &b.out, &b.stats, nullptr), samSuccess);
    EXPECT_EQ(a.idx, b.idx);
    EXPECT_EQ(a.w, b.w);
    for (size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(widened[i], x[i], dt == samFloat16 ? 4e-3 : 3e-2);
  }
}

// Our exp (route_math.h) is what both backends share: check it against libm,
// and the floor at -87 it documents.
TEST(RouteReference, ExpIsAccurateAndFloored) {
  using sam::route::kExp2Table;
  using sam::route::routeExpNonPos;
  double worst = 0;
  for (float x = -110.0f; x <= 0.0f; x += 0.000731f) {
    const float y = routeExpNonPos(x, kExp2Table);
    if (x < -87.0f) {
      EXPECT_EQ(y, routeExpNonPos(-87.0f, kExp2Table)) << x;
      continue;
    }
    const double want = std::exp((double)x);
    worst = std::max(worst, std::fabs(y - want) / want);
  }
  // Every table entry, and the ends of each reduction interval.
  for (int n = -8032; n <= 0; ++n)
    for (float x : {(float)(n * (M_LN2 / 64)), std::nextafter((float)((n + 0.5) * (M_LN2 / 64)), 0.0f)}) {
      if (x > 0.0f || x < -87.0f) continue;
      const double want = std::exp((double)x);
      worst = std::max(worst, std::fabs(routeExpNonPos(x, kExp2Table) - want) / want);
    }
  EXPECT_LT(worst, 1.2e-7);  // about one ulp
  EXPECT_EQ(routeExpNonPos(0.0f, kExp2Table), 1.0f);
  EXPECT_EQ(routeExpNonPos(-0.0f, kExp2Table), 1.0f);
  EXPECT_GT(routeExpNonPos(-1e30f, kExp2Table), 0.0f);  // the floor, no underflow
  // The table: entry j + (j << 17) is 2^(j/64) as the nearest float.
  for (uint32_t j = 0; j < 64; ++j)
    EXPECT_EQ(sam::route::floatFromBits(kExp2Table[j] + (j << 17)), (float)std::exp2(j / 64.0)) << j;
}

TEST(RouteReference, SigmoidIsAccurate) {
  double worst = 0;
  for (float x = -120.0f; x < 120.0f; x += 0.000917f) {
    const float y = sam::route::routeSigmoid(x, sam::route::kExp2Table);
    const double want = 1.0 / (1.0 + std::exp(-(double)x));
    if (x < -87.0f) {
      EXPECT_NEAR(y, want, 2e-38) << x;  // exp's floor
    } else {
      worst = std::max(worst, std::fabs(y - want) / want);
    }
  }
  EXPECT_LT(worst, 2.4e-7);  // exp's ulp, then the add and the division
  EXPECT_EQ(sam::route::routeSigmoid(0.0f, sam::route::kExp2Table), 0.5f);
  EXPECT_EQ(sam::route::routeSigmoid(1e30f, sam::route::kExp2Table), 1.0f);
}

// The order fact the row kernel's byMax mode rests on (route_rows.cuh,
// RowGroups::byMax): ranked by (value desc, index asc), the top k experts
// lie in the k groups ranked by (max desc, group asc). Rows with few
// distinct values, so that maxima, picks and runners-up tie across groups;
// the groups of 32 as the row kernel has them.
TEST(RouteReference, TopKExpertsLieInTheTopKGroupsByMax) {
  auto rng = freshRng("top groups by max");
  std::uniform_int_distribution<int> levels(2, 6);
  int rows = 0;
  for (int E : {128, 256})
    for (int k = 1; k < E / 32; ++k)
      for (int rep = 0; rep < 2000; ++rep, ++rows) {
        const int G = E / 32;
        std::uniform_int_distribution<int> level(0, levels(rng) - 1);
        std::vector<float> x(E);
        for (auto& v : x) v = 0.25f * level(rng);
        std::vector<int> all(E), groups(G);
        std::iota(all.begin(), all.end(), 0);
        std::iota(groups.begin(), groups.end(), 0);
        std::vector<float> groupMax(G);
        for (int g = 0; g < G; ++g) groupMax[g] = *std::max_element(x.begin() + 32 * g, x.begin() + 32 * g + 32);
        const std::vector<int> experts = ranked(x, all), best = ranked(groupMax, groups);
        for (int j = 0; j < k; ++j) {
          const int g = experts[j] / 32;
          ASSERT_NE(std::find(best.begin(), best.begin() + k, g), best.begin() + k)
              << "E " << E << " k " << k << ": pick " << j << " (expert " << experts[j] << ") in group " << g
              << ", outside the top " << k << " groups by max";
        }
      }
  EXPECT_EQ(rows, 2000 * (3 + 7));
}
