// samRouteBackward against central finite differences of the loss written in
// double, with the routing decisions of the forward pass held fixed.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "route/route_config.h"
#include "route/route_ref.h"
#include "route_test_util.h"

using namespace routetest;

namespace {

// What the forward decided, frozen: selected experts (pre-capacity), kept
// slots, chosen groups, the lowest selected expert, and f_e.
struct Frozen {
  std::vector<int32_t> idx;                 // as returned (with -1)
  std::vector<std::vector<int>> selected;   // [T][k] before capacity
  std::vector<std::vector<char>> chosen;    // [T][G]
  std::vector<int> lowest;                  // [T]
  std::vector<double> f;                    // [E]
};

Frozen freeze(const samRouteConfig_t& c, const std::vector<float>& x, int64_t T) {
  const auto spec = sam::route::resolveSpec(&c, "grad");
  Frozen fz;
  HostOut h(T, c.topk, c.numExperts, c.numRanks);
  EXPECT_EQ(samRouteForward(&c, samMemHost, x.data(), samFloat32, T, &h.out, nullptr, nullptr), samSuccess);
  fz.idx = h.idx;
  std::vector<float> s(c.numExperts), sel(c.numExperts);
  for (int64_t t = 0; t < T; ++t) {
    sam::route::tokenScores(spec, &x[t * c.numExperts], s.data());
    for (int e = 0; e < c.numExperts; ++e) sel[e] = c.selectionBias ? s[e] + c.selectionBias[e] : s[e];
    sam::route::TokenRoute r;
    sam::route::routeToken(spec, s.data(), sel.data(), r);
    fz.selected.push_back(r.experts);
    fz.chosen.push_back(r.groupChosen);
    fz.lowest.push_back(r.lowest);
  }
  fz.f.assign(c.numExperts, 0.0);
  double pairs = 0;
  for (int32_t e : fz.idx)
    if (e >= 0) fz.f[e] += 1, pairs += 1;
  for (auto& v : fz.f) v /= pairs;
  return fz;
}

double lossAt(const samRouteConfig_t& c, const sam::route::RouteSpec& spec, const std::vector<double>& x, int64_t T,
              const Frozen& fz, const std::vector<float>& gw, const samRouteLossCoef_t& coef) {
  const int E = c.numExperts, k = c.topk, G = spec.G, gs = E / G;
  std::vector<std::vector<double>> S(T, std::vector<double>(E));
  for (int64_t t = 0; t < T; ++t) {
    const double* xr = &x[t * E];
    if (c.scoreFunc == samScoreSigmoid) {
      for (int e = 0; e < E; ++e) S[t][e] = 1 / (1 + std::exp(-xr[e]));
    } else {
      double m = *std::max_element(xr, xr + E), sum = 0;
      for (int e = 0; e < E; ++e) sum += std::exp(xr[e] - m);
      for (int e = 0; e < E; ++e) S[t][e] = std::exp(xr[e] - m) / sum;
    }
  }
  double L = 0;
  for (int64_t t = 0; t < T; ++t) {
    double D = 0;
    for (int e : fz.selected[t]) D += S[t][e];
    for (int i = 0; i < k; ++i) {
      const int e = fz.idx[t * k + i];
      if (e < 0) continue;
      const double w = (c.renormalize ? S[t][e] / D : S[t][e]) * c.scale;
      L += gw[t * k + i] * w;
    }
    for (int e = 0; e < E; ++e)
      if (!fz.chosen[t][e / gs]) L += coef.alignment * std::max(0.0, S[t][e] - S[t][fz.lowest[t]]);
  }
  double eb = 0, db = 0;
  for (int e = 0; e < E; ++e) {
    double P = 0;
    for (int64_t t = 0; t < T; ++t) P += S[t][e];
    eb += fz.f[e] * P / T;
  }
  for (int g = 0; g < G; ++g) {
    double f = 0, P = 0;
    for (int e = g * gs; e < (g + 1) * gs; ++e) {
      f += fz.f[e];
      for (int64_t t = 0; t < T; ++t) P += S[t][e];
    }
    db += f * P / T;
  }
  return L + coef.expertBalance * E * eb + coef.deviceBalance * G * db;
}

void checkGradient(samRouteConfig_t c, std::mt19937_64& rng) {
  SCOPED_TRACE(describe(c));
  const int64_t T = 6;
  const int E = c.numExperts, k = c.topk;
  const auto spec = sam::route::resolveSpec(&c, "grad");
  std::vector<float> x = randomLogits(rng, T, E, 2.0f);
  std::vector<float> gw(T * k);
  std::uniform_real_distribution<float> u(-1, 1);
  for (auto& v : gw) v = u(rng);
  const samRouteLossCoef_t coef{0.7f, 0.3f, 1.3f};
  const Frozen fz = freeze(c, x, T);
  std::vector<float> grad(T * E, 1e30f);
  ASSERT_EQ(samRouteBackward(&c, samMemHost, x.data(), samFloat32, T, fz.idx.data(), gw.data(), &coef, grad.data(),
                             nullptr),
            samSuccess)
      << samGetLastError();
  // The loss is evaluated at the float logits (what the forward saw), in double.
  std::vector<double> xd(x.begin(), x.end());
  const double h = 1e-6;  // small: a step across an alignment kink (s_e = s_low) is then rare
  for (size_t i = 0; i < xd.size(); ++i) {
    std::vector<double> xp = xd, xm = xd;
    xp[i] += h;
    xm[i] -= h;
    const double fd = (lossAt(c, spec, xp, T, fz, gw, coef) - lossAt(c, spec, xm, T, fz, gw, coef)) / (2 * h);
    EXPECT_NEAR(grad[i], fd, 2e-5 + 2e-4 * std::fabs(fd)) << "logit " << i / E << "," << i % E;
  }
}

}  // namespace

TEST(RouteGradient, FiniteDifferencesEveryPresetAndOption) {
  auto rng = freshRng("grad");
  const std::vector<float> bias = randomBias(rng, 32);
  const int rankNodes[4] = {0, 0, 1, 1};
  for (int p = 0; p <= samPresetDeepseekV3; ++p)
    for (int variant = 0; variant < 4; ++variant) {
      samRouteConfig_t c = preset((samRoutePreset_t)p, 32, 4);
      if (variant == 1) c.renormalize = !c.renormalize, c.scale = 1.7f;
      if (variant == 2) c.scoreFunc = c.scoreFunc == samScoreSoftmax ? samScoreSigmoid : samScoreSoftmax;
      if (variant == 3) {
        c.capacityFactor = 0.6f;  // drops, with renorm held over the pre-drop selection
        c.renormalize = 1;
      }
      if (p == samPresetDeepseekV3) c.selectionBias = bias.data();
      checkGradient(c, rng);
    }
  samRouteConfig_t c = preset(samPresetGshard, 32, 4);
  c.groupsPerToken = 2;  // groups limited, with a node limit of 1 node
  c.nodeLimit = 1;
  c.rankNodes = rankNodes;
  checkGradient(c, rng);
}

TEST(RouteGradient, NullGradWeightsAndCoefGiveZero) {
  samRouteConfig_t c = preset(samPresetSam, 8, 2);
  std::vector<float> x = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f};
  HostOut h(1, c.topk, 8, 2);
  ASSERT_EQ(samRouteForward(&c, samMemHost, x.data(), samFloat32, 1, &h.out, nullptr, nullptr), samSuccess);
  std::vector<float> grad(8, 7.0f);
  ASSERT_EQ(samRouteBackward(&c, samMemHost, x.data(), samFloat32, 1, h.idx.data(), nullptr, nullptr, grad.data(),
                             nullptr),
            samSuccess);
  for (float g : grad) EXPECT_EQ(g, 0.0f);
}
