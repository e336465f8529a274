// The properties of routeExpNonPos that the CUDA row kernel's proofs rest on
// (lib/route/route_approx.cuh, docs/ROUTING.md "CUDA design"): it is within
// one ulp of exp, and two arguments kUGap = 2^-18 apart (both above the floor
// at -87) give scores that stay strictly ordered after the softmax's
// multiplication by 1 / sum. Checked on a dense stride of every float in
// [-87, 0], not a proof, but the margin is ~30 ulps wide.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "core/half.h"
#include "route/route_keys.h"
#include "route/route_math.h"

namespace {

using sam::route::descKey;
using sam::route::expsStayOrdered;
using sam::route::floatBits;
using sam::route::floatFromBits;
using sam::route::kExp2Table;
using sam::route::kExpertBits;
using sam::route::keyBound;
using sam::route::keyLogit16;
using sam::route::keysFinite;
using sam::route::ordKey;
using sam::route::routeExpNonPos;
using sam::route::sigmoidKeySlack;
using sam::route::tagged;
using sam::route::uintBits;
using sam::route::valueKey;

// The distance in ulps between two positive floats.
int64_t ulpDistance(float a, float b) { return std::llabs((int64_t)floatBits(a) - (int64_t)floatBits(b)); }

TEST(RouteExp, WithinOneUlpOfExpOverTheWholeRange) {
  // Negative floats from -0 down to -87: bits 0x80000000 .. 0xC2AE0000.
  int64_t checked = 0, worst = 0;
  for (uint32_t b = 0x80000000u; b <= 0xC2AE0000u; b += 97) {
    const float x = floatFromBits(b);
    const float got = routeExpNonPos(x, kExp2Table);
    const float want = (float)std::exp((double)x);  // correctly rounded but for ties, fine at 1 ulp
    const int64_t d = ulpDistance(got, want);
    worst = std::max(worst, d);
    ASSERT_LE(d, 1) << "x = " << x << ": " << got << " against " << want;
    ++checked;
  }
  EXPECT_GT(checked, 10000000);
  RecordProperty("worst_ulps", (int)worst);
}

TEST(RouteExp, ArgumentsApartByTheGapStayOrderedAfterNormalisation) {
  constexpr float kUGap = 0x1p-18f;  // route_approx.cuh's
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> invs(1.0f / 512.0f, 1.0f);
  float inv[8] = {1.0f, 1.0f / 3.0f, 1.0f / 256.0f, 0.7071068f};
  for (int i = 4; i < 8; ++i) inv[i] = invs(rng);
  int64_t checked = 0;
  // u from 0 to 86 (the kernel's limit for the larger of the two).
  for (uint32_t b = 0x00000000u; b <= 0x42AC0000u; b += 89) {
    const float u = floatFromBits(b);
    const float u2 = u + kUGap;  // rounds up or to nearest: at least the gap (u <= 86: ulp <= 2^-17)
    if (!(u2 - u >= kUGap) || u2 > 86.0f) continue;
    const float e1 = routeExpNonPos(-u, kExp2Table), e2 = routeExpNonPos(-u2, kExp2Table);
    for (float s : inv) ASSERT_GT(e1 * s, e2 * s) << "u = " << u << ", inv = " << s;
    ++checked;
  }
  EXPECT_GT(checked, 10000000);
}

// Why the row kernel's exact ordering needs expsStayOrdered: exps one ulp
// apart can round to one score (found over random exps and sums), and
// exps it accepts never do, for sums from 1 to 256 (1 / sum and the score
// rounded once each, as the reference computes them).
TEST(RouteExp, ExpsThatStayOrderedGiveOrderedScores) {
  std::mt19937 rng(11);
  std::uniform_real_distribution<float> unit(0.0f, 1.0f), sums(1.0f, 256.0f);
  std::uniform_int_distribution<int> ulps(1, 64), scale(0, 100);
  int64_t collapsed = 0, accepted = 0;
  for (int i = 0; i < 4000000; ++i) {
    const float eb = std::ldexp(0.5f + 0.5f * unit(rng), -scale(rng));  // down to 2^-101
    const float ea = floatFromBits(uintBits(eb) + static_cast<uint32_t>(ulps(rng)));
    const float inv = 1.0f / sums(rng);
    if (ea * inv == eb * inv) ++collapsed;
    if (!expsStayOrdered(ea, eb)) continue;
    ++accepted;
    ASSERT_GT(ea * inv, eb * inv) << ea << " " << eb << " " << inv;
  }
  EXPECT_GT(collapsed, 1000);  // the tie it guards against happens
  EXPECT_GT(accepted, 100000);
  EXPECT_FALSE(expsStayOrdered(0x1p-112f * 1.5f, 0x1p-112f));  // a score could be subnormal
}

// The keys of the row kernel's candidate lists (route_keys.h). A key drops
// its value's low 8 bits for the expert index; the runner-up proof takes
// keyBound of the runner-up's bucket as the best value that bucket can hold,
// so it must hold every value whose key falls in the bucket.
TEST(RouteKeys, OrderLikeTheirFloats) {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> scale(-30, 30);
  for (int i = 0; i < 1000000; ++i) {
    const float x = std::ldexp(normal(rng), scale(rng));
    const float up = std::nextafter(x, INFINITY);
    if (x == 0.0f) continue;  // -0 and +0: no key order between them is needed (never both a score)
    ASSERT_LT(ordKey(x), ordKey(up)) << x;
    ASSERT_GT(descKey(x), descKey(up)) << x;  // larger value, smaller key
  }
}

TEST(RouteKeys, SoftmaxBucketBoundHoldsEveryLogitOfItsBucket) {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::uniform_int_distribution<int> scale(-20, 20), expert(0, kExpertBits);
  for (int i = 0; i < 2000000; ++i) {
    const float x = std::ldexp(normal(rng), scale(rng));
    const int key = tagged(valueKey<true>(x), expert(rng), kExpertBits);
    const float bound = keyBound<true>(key & ~kExpertBits, 0.0f);
    ASSERT_GE(bound, x) << "x = " << x;
    // ... and it is the bucket's own best: the same sign, within 511 ulps.
    if (bound != 0.0f) ASSERT_LE(std::llabs((int64_t)floatBits(bound) - floatBits(x)), kExpertBits) << "x = " << x;
  }
}

TEST(RouteKeys, SigmoidBucketBoundHoldsEverySelOfItsBucket) {
  // sel = sigmoid + bias, |sel| <= 1 + max|bias|; sel - 1 is inexact below
  // 0.5 and above 2, which the slack covers.
  std::mt19937 rng(13);
  std::uniform_int_distribution<int> expert(0, kExpertBits);
  for (float maxAbsBias : {0.0f, 0.01f, 0.5f, 1.0f, 4.0f, 30.0f}) {
    const float top = 1.0f + maxAbsBias, slack = sigmoidKeySlack(maxAbsBias);
    std::uniform_real_distribution<float> anywhere(-top, top), nearOne(1.0f - 0x1p-8f, std::min(top, 1.0f + 0x1p-8f));
    for (int i = 0; i < 1000000; ++i) {
      const float sel = (i & 1) ? anywhere(rng) : nearOne(rng);
      const int key = tagged(valueKey<false>(sel), expert(rng), kExpertBits);
      ASSERT_GE(keyBound<false>(key & ~kExpertBits, slack), sel) << "sel = " << sel << ", max|bias| = " << maxAbsBias;
      // Weakly ordered: sel - 1 rounds, so neighbours may share a key, never swap.
      const float up = std::nextafter(sel, INFINITY);
      ASSERT_GE(valueKey<false>(sel), valueKey<false>(up)) << "sel = " << sel;
    }
  }
}

TEST(RouteKeys, SigmoidBucketsBelowOneAreNarrowerThanTheProofMargin) {
  // Where the top sels crowd (within 2^-6 below 1), a bucket of sel - 1
  // spans less than 2^-19 (slack included), under the runner-up proof's
  // margin 2 (2^-19 + 2^-21) = 2^-17.7 at zero bias; a bucket of sel itself
  // would span 256 ulps of 1, 2^-16. (Farther below 1 the buckets widen back
  // to 2^-16 at 0.5, where sels are rarely the top ones.)
  std::mt19937 rng(17);
  std::uniform_real_distribution<float> high(1.0f - 0x1p-6f, 1.0f);
  float widest = 0.0f, plain = 0.0f;  // plain: a key of sel itself, as the first keys were
  for (int i = 0; i < 1000000; ++i) {
    const float sel = high(rng);
    const float bound = keyBound<false>(valueKey<false>(sel) & ~kExpertBits, sigmoidKeySlack(0.0f));
    widest = std::max(widest, bound - sel);
    plain = std::max(plain, keyBound<true>(descKey(sel) & ~kExpertBits, 0.0f) - sel);
  }
  EXPECT_LT(widest, 0x1p-19f);
  EXPECT_GT(plain, 0x1p-17f);
}

TEST(RouteKeys, SixteenBitLogitsComeBackFromTheirKeys) {
  // Every finite bf16 and fp16 value, with the lowest, a middle and the
  // highest index in the key.
  int64_t checked = 0;
  for (int is16 = 0; is16 < 2; ++is16)
    for (uint32_t bits = 0; bits < 65536; ++bits) {
      const float x = is16 ? sam::fp16ToFloat((uint16_t)bits) : sam::bf16ToFloat((uint16_t)bits);
      if (!std::isfinite(x)) continue;
      for (int idx : {0, 255, kExpertBits}) {
        const float back = keyLogit16(tagged(valueKey<true>(x), idx, kExpertBits));
        ASSERT_EQ(floatBits(back), floatBits(x)) << (is16 ? "fp16 " : "bf16 ") << x << " with index " << idx;
        ++checked;
      }
    }
  EXPECT_GT(checked, 300000);
}

// keysFinite tells the non-finite logits by their keys alone: every float
// bit pattern near the edges (the largest finite values, the infinities, the
// NaNs of both signs, zeros, denormals) and a sweep in between, at the
// lowest and highest index, as the best key among finite ones and as the
// worst.
TEST(RouteKeys, NonFiniteLogitsShowInTheBestOrWorstKey) {
  std::vector<uint32_t> bits;
  for (uint32_t edge : {0x00000000u, 0x7f7fffffu, 0x7f800000u, 0x7fffffffu})
    for (int d = -600; d <= 600; ++d) {
      bits.push_back(edge + (uint32_t)d);
      bits.push_back((edge + (uint32_t)d) ^ 0x80000000u);
    }
  for (uint32_t b = 0; b < 0xffffff00u; b += 65521) bits.push_back(b);
  const int finiteKey = tagged(valueKey<true>(1.0f), 7, kExpertBits);
  int64_t checked = 0;
  for (uint32_t b : bits) {
    const float x = floatFromBits(b);
    for (int idx : {0, kExpertBits}) {
      const int key = tagged(valueKey<true>(x), idx, kExpertBits);
      const bool finite = std::isfinite(x);
      // x alone, and x among finite logits (1.0f's key) as best or worst.
      ASSERT_EQ(keysFinite(key, key), finite) << std::hex << b << " index " << std::dec << idx;
      ASSERT_EQ(keysFinite(std::min(key, finiteKey), std::max(key, finiteKey)), finite) << std::hex << b;
      ++checked;
    }
  }
  EXPECT_GT(checked, 100000);
}

}  // namespace
