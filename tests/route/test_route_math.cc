// The properties of routeExpNonPos that the CUDA row kernel's proofs rest on
// (lib/route/route_approx.cuh, docs/ROUTING.md "CUDA design"): it is within
// one ulp of exp, and two arguments kUGap = 2^-18 apart (both above the floor
// at -87) give scores that stay strictly ordered after the softmax's
// multiplication by 1 / sum. Checked on a dense stride of every float in
// [-87, 0], not a proof, but the margin is ~30 ulps wide.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include "route/route_math.h"

namespace {

using sam::route::kExp2Table;
using sam::route::routeExpNonPos;

float fromBits(uint32_t b) {
  float f;
  std::memcpy(&f, &b, 4);
  return f;
}

// The distance in ulps between two positive floats.
int64_t ulpDistance(float a, float b) {
  int32_t ia, ib;
  std::memcpy(&ia, &a, 4);
  std::memcpy(&ib, &b, 4);
  return std::llabs((int64_t)ia - (int64_t)ib);
}

TEST(RouteExp, WithinOneUlpOfExpOverTheWholeRange) {
  // Negative floats from -0 down to -87: bits 0x80000000 .. 0xC2AE0000.
  int64_t checked = 0, worst = 0;
  for (uint32_t b = 0x80000000u; b <= 0xC2AE0000u; b += 97) {
    const float x = fromBits(b);
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
    const float u = fromBits(b);
    const float u2 = u + kUGap;  // rounds up or to nearest: at least the gap (u <= 86: ulp <= 2^-17)
    if (!(u2 - u >= kUGap) || u2 > 86.0f) continue;
    const float e1 = routeExpNonPos(-u, kExp2Table), e2 = routeExpNonPos(-u2, kExp2Table);
    for (float s : inv) ASSERT_GT(e1 * s, e2 * s) << "u = " << u << ", inv = " << s;
    ++checked;
  }
  EXPECT_GT(checked, 10000000);
}

}  // namespace
