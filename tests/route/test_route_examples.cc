// One hand-worked example per preset: the numbers in the comments were worked
// out by hand from the definition (softmax of logits ln(a) is a / sum a).
#include <gtest/gtest.h>

#include <cmath>

#include "route_test_util.h"

using namespace routetest;

namespace {

std::vector<float> logOf(std::initializer_list<double> a) {
  std::vector<float> x;
  for (double v : a) x.push_back((float)std::log(v));
  return x;
}

HostOut run(const samRouteConfig_t& c, const std::vector<float>& x, int64_t T) {
  HostOut h(T, c.topk, c.numExperts, c.numRanks);
  EXPECT_EQ(samRouteForward(&c, samMemHost, x.data(), samFloat32, T, &h.out, &h.stats, nullptr), samSuccess)
      << samGetLastError();
  return h;
}

}  // namespace

// switch, E=4 R=2: logits ln[1,3,1,1] -> s = [1/6, 1/2, 1/6, 1/6]; top-1 = expert 1, w = 1/2.
// f = [0,1,0,0], P = s: expert balance 4 * 1 * 1/2 = 2. Groups = ranks {0,1},{2,3}:
// f_g = [1, 0], P_g = [2/3, 1/3]: device balance 2 * 2/3 = 4/3. M = G: no alignment term.
TEST(RouteExamples, Switch) {
  samRouteConfig_t c = preset(samPresetSwitch, 4, 2);
  ASSERT_EQ(c.topk, 1);
  HostOut h = run(c, logOf({1, 3, 1, 1}), 1);
  EXPECT_EQ(h.idx, (std::vector<int32_t>{1}));
  EXPECT_NEAR(h.w[0], 0.5, 1e-6);
  EXPECT_EQ(h.rankCounts, (std::vector<int32_t>{1, 0}));
  EXPECT_EQ(h.expertCounts, (std::vector<int32_t>{0, 1, 0, 0}));
  EXPECT_NEAR(h.stats.expertBalanceLoss, 2.0, 1e-6);
  EXPECT_NEAR(h.stats.deviceBalanceLoss, 4.0 / 3.0, 1e-6);
  EXPECT_EQ(h.stats.alignmentLoss, 0.0);
}

// gshard, same logits, k=2: expert 1 (1/2), then a three-way tie at 1/6 among
// experts 0, 2, 3: the lower index, 0, wins. Both on rank 0: rankCounts [1, 0].
TEST(RouteExamples, GshardTieGoesToLowerIndex) {
  samRouteConfig_t c = preset(samPresetGshard, 4, 2);
  HostOut h = run(c, logOf({1, 3, 1, 1}), 1);
  EXPECT_EQ(h.idx, (std::vector<int32_t>{1, 0}));
  EXPECT_NEAR(h.w[0], 0.5, 1e-6);
  EXPECT_NEAR(h.w[1], 1.0 / 6.0, 1e-6);
  EXPECT_EQ(h.rankCounts, (std::vector<int32_t>{1, 0}));
}

// sam, E=4 R=2 k=2: logits ln[4,1,3,3] -> s = [4,1,3,3]/11. Device masses:
// rank 0: 5/11, rank 1: 6/11 -> rank 1, although expert 0 is the best single
// expert. Its experts 2, 3 tie at 3/11 -> order [2, 3]; raw weights 3/11 each.
// Alignment: lowest selected s = 3/11 (expert 2 by the tie rule); off-device:
// max(0, 4/11 - 3/11) + max(0, 1/11 - 3/11) = 1/11.
// Expert balance: f_2 = f_3 = 1/2 -> 4 * (1/2 * 3/11 + 1/2 * 3/11) = 12/11.
// Device balance: f_g = [0, 1], P_g = [5/11, 6/11] -> 2 * 6/11 = 12/11.
TEST(RouteExamples, Sam) {
  samRouteConfig_t c = preset(samPresetSam, 4, 2);
  ASSERT_EQ(c.topk, 2);
  HostOut h = run(c, logOf({4, 1, 3, 3}), 1);
  EXPECT_EQ(h.idx, (std::vector<int32_t>{2, 3}));
  EXPECT_NEAR(h.w[0], 3.0 / 11, 1e-6);
  EXPECT_NEAR(h.w[1], 3.0 / 11, 1e-6);
  EXPECT_EQ(h.rankCounts, (std::vector<int32_t>{0, 1}));
  EXPECT_EQ(h.expertCounts, (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(h.stats.tokenRankPairs, 1);
  EXPECT_EQ(h.stats.pairsRouted, 2);
  EXPECT_NEAR(h.stats.alignmentLoss, 1.0 / 11, 1e-6);
  EXPECT_NEAR(h.stats.expertBalanceLoss, 12.0 / 11, 1e-6);
  EXPECT_NEAR(h.stats.deviceBalanceLoss, 12.0 / 11, 1e-6);
}

// deepseek-v2, E=16 (8 groups of 2), R=2, M=3, k=6, max, scale 16.
// a = [1,2 | 8,1 | 3,3 | 1,1 | 7,6 | 5,0.5 | 1,4 | 1,1], sum 45.5, s = a/45.5.
// Group max: [2, 8, 3, 1, 7, 5, 4, 1] -> groups 1, 4, 5. (A sum would pick group 2,
// mass 6, over group 5, mass 5.5: max is what decides here.)
// Their experts by score: 2 (8), 8 (7), 9 (6), 10 (5), 3 (1), 11 (0.5);
// weights 16 * a / 45.5. Experts 2,3 on rank 0 and 8..11 on rank 1: rankCounts [1, 1].
TEST(RouteExamples, DeepseekV2) {
  samRouteConfig_t c = preset(samPresetDeepseekV2, 16, 2);
  HostOut h = run(c, logOf({1, 2, 8, 1, 3, 3, 1, 1, 7, 6, 5, 0.5, 1, 4, 1, 1}), 1);
  EXPECT_EQ(h.idx, (std::vector<int32_t>{2, 8, 9, 10, 3, 11}));
  const double a[] = {8, 7, 6, 5, 1, 0.5};
  for (int i = 0; i < 6; ++i) EXPECT_NEAR(h.w[i], 16 * a[i] / 45.5, 2e-6) << i;
  EXPECT_EQ(h.rankCounts, (std::vector<int32_t>{1, 1}));
  // Same logits with a sum reduce: groups 4 (13), 1 (9), 2 (6) instead.
  c.groupReduce = samGroupReduceSum;
  HostOut h2 = run(c, logOf({1, 2, 8, 1, 3, 3, 1, 1, 7, 6, 5, 0.5, 1, 4, 1, 1}), 1);
  EXPECT_EQ(h2.idx, (std::vector<int32_t>{2, 8, 9, 4, 5, 3}));
}

// deepseek-v3, E=32 (8 groups of 4), R=4, sigmoid, sum of top 2, M=4, k=8,
// renorm, scale 2.5. Logits 0 -> s = 0.5 everywhere; the bias decides:
// sel = 0.5 + b with b (by group)
//   g0 [.5,0,0,0] top2 1.0+.5=1.5 | g1 [.25,.25,0,0] 1.5 | g2 [.375,.25,.125,0] 1.625
//   g3 [.25,.25,0,0] 1.5 | g4 [0,0,0,.125] 1.125 | g5 [.25,.25,0,0] 1.5 | g6, g7 0 -> 1.0
// Top 4 groups: g2, then the 1.5 tie of g0, g1, g3, g5 -> the lower three: g0, g1, g3.
// Experts by sel: 0 (1.0), 8 (.875), then .75: 4, 5, 9, 12, 13, then .625: 10.
// Weights: s = 0.5 each, renormalised over 8 -> 1/8, times 2.5 = 0.3125 (the
// bias only selects). Ranks of 8 experts: 0, 4, 5 -> rank 0; 8..13 -> rank 1.
TEST(RouteExamples, DeepseekV3) {
  samRouteConfig_t c = preset(samPresetDeepseekV3, 32, 4);
  std::vector<float> bias = {.5f, 0, 0, 0, .25f, .25f, 0, 0, .375f, .25f, .125f, 0, .25f, .25f, 0, 0,
                             0,   0, 0, .125f, .25f, .25f, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
  c.selectionBias = bias.data();
  HostOut h = run(c, std::vector<float>(32, 0.0f), 1);
  EXPECT_EQ(h.idx, (std::vector<int32_t>{0, 8, 4, 5, 9, 12, 13, 10}));
  for (int i = 0; i < 8; ++i) EXPECT_EQ(h.w[i], 0.3125f) << i;
  EXPECT_EQ(h.rankCounts, (std::vector<int32_t>{1, 1, 0, 0}));
}

// Capacity, sam E=4 R=2 k=1, factor 1, T=4: C = ceil(1 * 4 * 1 / 2) = 2.
// Token scores on rank 1 (experts 2,3): tokens 0..3 all prefer rank 1 with
// s = 0.9, 0.6, 0.8, 0.6 -> keep tokens 0 (0.9) and 2 (0.8); tokens 1 and 3 tie
// at 0.6 and are both beyond C: dropped, expertIdx -1, weight 0, dropped = 1.
TEST(RouteExamples, CapacityDropsLowestScoreFirst) {
  samRouteConfig_t c = preset(samPresetSam, 4, 2);
  c.topk = 1;
  c.capacityFactor = 1.0f;
  // Softmax of ln[a]: token t's expert 2 gets the listed share.
  std::vector<float> x;
  for (double p : {0.9, 0.6, 0.8, 0.6}) {
    auto row = logOf({(1 - p) / 3, (1 - p) / 3, p, (1 - p) / 3});
    x.insert(x.end(), row.begin(), row.end());
  }
  HostOut h = run(c, x, 4);
  EXPECT_EQ(h.idx, (std::vector<int32_t>{2, -1, 2, -1}));
  EXPECT_EQ(h.w[1], 0.0f);
  EXPECT_EQ(h.dropped, (std::vector<int32_t>{0, 1, 0, 1}));
  EXPECT_EQ(h.rankCounts, (std::vector<int32_t>{0, 2}));
  EXPECT_EQ(h.stats.capacity, 2);
  EXPECT_EQ(h.stats.pairsDropped, 2);
  EXPECT_EQ(h.stats.tokenRankPairs, 2);
}
