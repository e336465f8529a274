// The parts of sam-perf that decide what "wrong" means: number parsing, the
// data-type conversions, the routing reference, the expert-row multiset and
// the output tolerance. Each must accept the right answer and reject a
// slightly wrong one.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "sam_perf_args.h"
#include "sam_perf_dtype.h"
#include "sam_perf_inputs.h"
#include "sam_perf_launcher.h"
#include "sam_perf_reference.h"
#include "sam_perf_route_ref.h"

using namespace samperf;

TEST(SamPerfParts, CountsWithSuffixes) {
  int64_t v = 0;
  EXPECT_TRUE(parseCount("300", &v));
  EXPECT_EQ(v, 300);
  EXPECT_TRUE(parseCount("1K", &v));
  EXPECT_EQ(v, 1024);
  EXPECT_TRUE(parseCount("2M", &v));
  EXPECT_EQ(v, 2 * 1024 * 1024);
  EXPECT_TRUE(parseCount("0", &v));
  EXPECT_EQ(v, 0);
  for (const char* bad : {"", "-1", "1X", "K", "1.5K", "99999999999999999999"}) EXPECT_FALSE(parseCount(bad, &v)) << bad;
}

TEST(SamPerfParts, SweepStartsAtZeroThenOne) {
  Options opt;
  opt.minTokens = 0;
  opt.maxTokens = 37;
  opt.factor = 37;
  EXPECT_EQ(sweepSizes(opt), (std::vector<int64_t>{0, 1, 37}));
  opt.minTokens = 5;
  opt.maxTokens = 100;
  opt.factor = 1;
  EXPECT_EQ(sweepSizes(opt), (std::vector<int64_t>{5}));
  opt.factor = 3;
  EXPECT_EQ(sweepSizes(opt), (std::vector<int64_t>{5, 15, 45}));
}

TEST(SamPerfParts, HalfRoundTripsEveryValueAndRoundsToEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = halfToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(floatToHalf(f), h) << std::hex << h;
  }
  EXPECT_EQ(floatToHalf(1.0f + std::ldexp(1.0f, -11)), 0x3C00);      // tie: to even
  EXPECT_EQ(floatToHalf(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3C02);  // tie: to even (up)
  EXPECT_EQ(floatToHalf(65519.0f), 0x7BFF);
  EXPECT_EQ(floatToHalf(65520.0f), 0x7C00);                          // overflow to Inf
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -24)), 0x0001);             // smallest subnormal
  EXPECT_EQ(floatToHalf(std::ldexp(1.0f, -25)), 0x0000);             // tie: to even (zero)
  EXPECT_EQ(floatToHalf(3 * std::ldexp(1.0f, -25)), 0x0002);
  EXPECT_EQ(floatToHalf(-2.0f), 0xC000);
}

TEST(SamPerfParts, Bf16RoundTripsEveryValueAndRoundsToEven) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = bf16ToFloat(static_cast<uint16_t>(h));
    if (std::isnan(f)) continue;
    ASSERT_EQ(floatToBf16(f), h) << std::hex << h;
  }
  EXPECT_EQ(floatToBf16(1.0f + std::ldexp(1.0f, -8)), 0x3F80);
  EXPECT_EQ(floatToBf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3F82);
  EXPECT_TRUE(std::isnan(bf16ToFloat(floatToBf16(NAN))));
}

TEST(SamPerfParts, FakeNodesSplitRanksEvenly) {
  std::vector<int> got;
  for (int r = 0; r < 8; ++r) got.push_back(fakeNodeOf(r, 8, 4));
  EXPECT_EQ(got, (std::vector<int>{0, 0, 1, 1, 2, 2, 3, 3}));
  got.clear();
  for (int r = 0; r < 5; ++r) got.push_back(fakeNodeOf(r, 5, 2));
  EXPECT_EQ(got, (std::vector<int>{0, 0, 0, 1, 1}));
}

TEST(SamPerfParts, RouteReferenceByHand) {
  // sam, E = 4 on R = 2 ranks, k = 2. Experts 2 and 3 (rank 1) hold more mass
  // than 0 and 1 even though expert 0 has the single largest score.
  samRouteConfig_t cfg{};
  ASSERT_EQ(samRouteConfigPreset(samPresetSam, 4, 2, &cfg), samSuccess);
  cfg.topk = 2;
  const float logits[4] = {2.0f, -3.0f, 1.5f, 1.6f};
  double z = std::exp(2.0) + std::exp(-3.0) + std::exp(1.5) + std::exp(1.6);
  int32_t idx[2] = {3, 2};
  float w[2] = {static_cast<float>(std::exp(1.6) / z), static_cast<float>(std::exp(1.5) / z)};
  EXPECT_EQ(checkRoutes(cfg, logits, 1, idx, w).wrong, 0);
  int32_t swapped[2] = {2, 3};
  EXPECT_EQ(checkRoutes(cfg, logits, 1, swapped, w).wrong, 2);
  int32_t topkAnywhere[2] = {0, 3};  // what gshard would pick: wrong for sam
  EXPECT_GT(checkRoutes(cfg, logits, 1, topkAnywhere, w).wrong, 0);
  float off[2] = {w[0] * 1.001f, w[1]};
  EXPECT_EQ(checkRoutes(cfg, logits, 1, idx, off).wrong, 1);
  int32_t dropped[2] = {-1, -1};  // capacity drops are not judged per token
  EXPECT_EQ(checkRoutes(cfg, logits, 1, dropped, w).wrong, 0);
}

TEST(SamPerfParts, RouteReferenceAgreesWithTheLibraryOnEveryPreset) {
  for (samRoutePreset_t p : {samPresetSwitch, samPresetGshard, samPresetSam, samPresetDeepseekV2, samPresetDeepseekV3}) {
    samRouteConfig_t cfg{};
    ASSERT_EQ(samRouteConfigPreset(p, 64, 4, &cfg), samSuccess);
    Layer layer;
    layer.nranks = 4;
    layer.experts = 64;
    layer.topk = cfg.topk;
    layer.seed = 99;
    const int64_t T = 301;
    Routes r = routeRank(layer, cfg, 2, T);
    std::vector<float> logits(T * 64);
    makeLogits(layer.seed, 2, T, 64, logits.data());
    RouteCheck c = checkRoutes(cfg, logits.data(), T, r.expertIdx.data(), r.weights.data());
    EXPECT_EQ(c.wrong, 0) << "preset " << p;
    EXPECT_LT(c.nearTies, T / 10) << "preset " << p;
  }
}

namespace {

Layer smallLayer(samDataType_t dt) {
  Layer l;
  l.nranks = 2;
  l.experts = 4;
  l.hidden = 8;
  l.topk = 2;
  l.dtype = dt;
  l.seed = 7;
  return l;
}

// y = sum_i w_i f_e(x) as the data path would produce it in dtype dt.
std::vector<uint8_t> goodOutput(const Layer& l, int64_t T, const std::vector<uint8_t>& x, const Routes& r) {
  std::vector<uint8_t> y(x.size());
  for (int64_t t = 0; t < T; ++t)
    for (int h = 0; h < l.hidden; ++h) {
      float xv = loadElem(x.data(), t * l.hidden + h, l.dtype), acc = 0;
      for (int i = 0; i < l.topk; ++i)
        if (r.expertIdx[t * l.topk + i] >= 0)
          acc += r.weights[t * l.topk + i] * roundTo(expertFunction(r.expertIdx[t * l.topk + i], xv), l.dtype);
      storeElem(y.data(), t * l.hidden + h, acc, l.dtype);
    }
  return y;
}

}  // namespace

TEST(SamPerfParts, OutputToleranceAcceptsRoundingRejectsErrors) {
  for (samDataType_t dt : {samFloat32, samBfloat16, samFloat16}) {
    Layer l = smallLayer(dt);
    const int64_t T = 5;
    std::vector<uint8_t> x(T * l.rowBytes());
    makeTokens(l.seed, 0, 0, T, l.hidden, dt, x.data());
    Routes r;
    r.expertIdx = {0, 1, 3, 2, 1, -1, 2, 3, -1, -1};  // token 4: both pairs dropped -> y = 0
    r.weights = {0.5f, 0.25f, 0.7f, 0.1f, 0.9f, 0.0f, 0.3f, 0.3f, 0.0f, 0.0f};
    std::vector<uint8_t> y = goodOutput(l, T, x, r);
    EXPECT_EQ(countWrongOutput(l, T, x.data(), r, y.data()), 0) << dtypeName(dt);
    // One unit in the last place is rounding, not an error.
    std::vector<uint8_t> bad = y;
    for (int at : {3, 13, 20}) {
      if (dt == samFloat32) {
        float* f = reinterpret_cast<float*>(bad.data()) + at;
        *f = std::nextafter(*f, INFINITY);
      } else {
        reinterpret_cast<uint16_t*>(bad.data())[at] += 1;  // the next value away from zero
      }
    }
    EXPECT_EQ(countWrongOutput(l, T, x.data(), r, bad.data()), 0) << dtypeName(dt);
    // 2% off is an error in every type.
    bad = y;
    storeElem(bad.data(), 13, loadElem(bad.data(), 13, dt) * 1.02f + 0.02f, dt);
    EXPECT_EQ(countWrongOutput(l, T, x.data(), r, bad.data()), 1) << dtypeName(dt);
    bad = y;
    poison(bad.data() + 4 * l.rowBytes(), l.rowBytes());  // the dropped token left unwritten
    EXPECT_EQ(countWrongOutput(l, T, x.data(), r, bad.data()), l.hidden) << dtypeName(dt);
  }
}

TEST(SamPerfParts, ExpertRowsAreAMultisetPerExpert) {
  Layer l = smallLayer(samBfloat16);
  const int64_t T = 4;
  // Two source ranks; rank 1 owns experts 2 and 3.
  std::vector<Routes> all(2);
  all[0].expertIdx = {2, 3, 0, 1, 3, 2, 1, 0};
  all[1].expertIdx = {3, 2, 2, 3, 0, 1, 3, -1};
  for (Routes& r : all) r.weights.assign(T * 2, 0.5f);
  std::vector<RowMultiset> expected = expectedExpertRows(l, 1, T, all);
  // Rows of expert 2: (0,t0) (0,t2) (1,t0) (1,t1); expert 3: (0,t0) (0,t2) (1,t0) (1,t1) (1,t3).
  auto row = [&](int src, int64_t t) {
    std::vector<uint8_t> v(l.rowBytes());
    makeTokens(l.seed, src, t, 1, l.hidden, l.dtype, v.data());
    return v;
  };
  std::vector<std::vector<uint8_t>> rows = {row(1, 1), row(0, 0), row(1, 0), row(0, 2),             // expert 2, any order
                                            row(0, 0), row(1, 3), row(0, 2), row(1, 0), row(1, 1)};  // expert 3
  std::vector<int64_t> offsets = {0, 4, 9};
  std::vector<uint8_t> buf;
  for (auto& v : rows) buf.insert(buf.end(), v.begin(), v.end());
  EXPECT_EQ(countWrongExpertRows(l, expected, buf.data(), offsets.data()), 0);
  // A token of the wrong rank in expert 3's place: one foreign row.
  std::vector<uint8_t> wrong = buf;
  std::vector<uint8_t> foreign = row(0, 3);
  std::memcpy(wrong.data() + 5 * l.rowBytes(), foreign.data(), l.rowBytes());
  EXPECT_EQ(countWrongExpertRows(l, expected, wrong.data(), offsets.data()), l.hidden);
  // A row given to the wrong expert: expert 2 gets it, expert 3 misses one.
  std::vector<int64_t> shifted = {0, 5, 9};
  EXPECT_EQ(countWrongExpertRows(l, expected, buf.data(), shifted.data()), 2 * l.hidden);
  // One bit flipped.
  wrong = buf;
  wrong[3] ^= 1;
  EXPECT_EQ(countWrongExpertRows(l, expected, wrong.data(), offsets.data()), l.hidden);
}
