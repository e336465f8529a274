// Arithmetic shared bit for bit by the CPU reference and the CUDA kernels.
//
// Routing picks indices by comparing floats, so a one-ulp difference between
// backends could flip a near-tie. Everything that feeds a comparison is
// therefore computed by the SAME formula on both sides:
//  - exp is our own (a 64-entry table of 2^(j/64), Cody-Waite reduction and
//    a cubic written with explicit fmaf), not the platform's expf/__expf,
//    whose last bits differ;
//  - every other step is a single IEEE operation (+, -, *, /, fmaf), each
//    correctly rounded on x86-64 (SSE) and on the GPU (no --use_fast_math);
//    the route sources are compiled with contraction off (-ffp-contract=off,
//    --fmad=false) so the compilers cannot fuse them differently;
//  - sums have one defined order (see canonicalRowSum in route_ref.cc and the
//    warp butterfly in route_cuda.cu).
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define SAM_HD __host__ __device__ __forceinline__
#else
#define SAM_HD inline
#endif

namespace sam {
namespace route {

SAM_HD float fmaExact(float a, float b, float c) {
#if defined(__CUDA_ARCH__)
  return __fmaf_rn(a, b, c);
#else
  return __builtin_fmaf(a, b, c);  // correctly rounded (hardware or libm)
#endif
}

SAM_HD int floatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_int(f);
#else
  int i;
  std::memcpy(&i, &f, sizeof i);
  return i;
#endif
}

SAM_HD uint32_t uintBits(float f) { return static_cast<uint32_t>(floatBits(f)); }

SAM_HD float floatFromBits(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
#endif
}

// The table of routeExpNonPos: entry j = the bits of 2^(j/64) rounded to the
// nearest float, minus j << 17 (mod 2^32), so that adding n << 17 for any n
// with n & 63 == j gives the bits of that float times 2^(n >> 6) (see below).
// Host and device need the same 64 words in memory they can index (a static
// array here; shared memory or a __device__ array in the kernels), hence one
// list.
#define SAM_ROUTE_EXP2_TABLE \
  0x3f800000u, 0x3f7f64d2u, 0x3f7ecd87u, 0x3f7e3a29u, 0x3f7daac3u, 0x3f7d1f62u, 0x3f7c980fu, 0x3f7c14d5u, \
  0x3f7b95c2u, 0x3f7b1adfu, 0x3f7aa43au, 0x3f7a31dcu, 0x3f79c3d3u, 0x3f795a2bu, 0x3f78f4f0u, 0x3f78942du, \
  0x3f7837f0u, 0x3f77e046u, 0x3f778d3au, 0x3f773edau, 0x3f76f532u, 0x3f76b051u, 0x3f767043u, 0x3f763516u, \
  0x3f75fed7u, 0x3f75cd94u, 0x3f75a15bu, 0x3f757a3au, 0x3f75583fu, 0x3f753b79u, 0x3f7523f6u, 0x3f7511c4u, \
  0x3f7504f3u, 0x3f74fd92u, 0x3f74fbafu, 0x3f74ff5bu, 0x3f7508a4u, 0x3f75179au, 0x3f752c4du, 0x3f7546cdu, \
  0x3f75672au, 0x3f758d75u, 0x3f75b9beu, 0x3f75ec15u, 0x3f76248cu, 0x3f766334u, 0x3f76a81eu, 0x3f76f35bu, \
  0x3f7744fdu, 0x3f779d16u, 0x3f77fbb8u, 0x3f7860f5u, 0x3f78ccdfu, 0x3f793f89u, 0x3f79b907u, 0x3f7a396au, \
  0x3f7ac0c7u, 0x3f7b4f30u, 0x3f7be4bau, 0x3f7c8177u, 0x3f7d257du, 0x3f7dd0dfu, 0x3f7e83b3u, 0x3f7f3e0cu

inline constexpr uint32_t kExp2Table[64] = {SAM_ROUTE_EXP2_TABLE};

// exp(max(x, -87)) for x <= 0, within ~1 ulp, identical on host and device
// (every step a single correctly rounded operation or integer arithmetic; no
// branch, no float<->int conversion, a slow pipe on the GPU). table =
// kExp2Table's 64 words.
//  n = round(x * 64 / ln 2) comes out of one fma with 1.5 * 2^23 (the sum
//  holds n in its low mantissa bits); x = n ln2/64 + r with |r| <= ln2/128,
//  r by Cody-Waite in two fmas (the first exact: ln2/64's float has its last
//  bit at 2^-30 and |x| >= ln2/128 whenever n != 0); exp(x) = 2^(n>>6)
//  2^((n&63)/64) (1 + m), m = exp(r) - 1 = r + r^2 (1/2 + r/6) (truncation
//  below 4e-11 relative). b = 2^(n>>6) 2^((n&63)/64) is one integer
//  multiply-add on the table word (exact: b is normal, as is the result,
//  which the floor at -87 guarantees: exp(-87) = 1.6e-38, n >= -8033), and
//  the result b + b m rounds once.
// The floor replaces the subnormal tail: below -87 the result is exp(-87)
// instead of 0 .. 1.6e-38. Softmax feeds x - max; sigmoid exp(-|x|).
SAM_HD float routeExpNonPos(float x, const uint32_t* table) {
  const float xc = x < -87.0f ? -87.0f : x;
  constexpr float kShift = 12582912.0f;                             // 1.5 * 2^23
  const float t = fmaExact(xc, 0x1.715476p+6f, kShift);               // kShift + n, 64 / ln 2
  const float n = t - kShift;                                         // exact
  float r = fmaExact(n, -0x1.62e43p-7f, xc);                          // ln2/64, high part: exact
  r = fmaExact(n, 0x1.05c61p-35f, r);                                 // minus the low part
  const float q = fmaExact(r, 1.0f / 6.0f, 0.5f);
  const float m = fmaExact(r * r, q, r);                              // exp(r) - 1
  const uint32_t tb = uintBits(t);  // 0x4B400000 + n: low 6 bits n & 63; << 17 leaves n << 17
  const float b = floatFromBits(table[tb & 63u] + (tb << 17));        // 2^(n / 64), the table's rounding
  return fmaExact(b, m, b);
}

// Whether two exps ea > eb (routeExpNonPos values) give softmax scores in
// the same order, ea / sum > eb / sum, whatever the sum (>= 1, and <= 256,
// the CUDA row kernel's E): each score is ex * (1 / sum) rounded once, so
// exps one or two ulps apart can round to one score, a tie that goes to the
// lower expert whichever exp was larger. More than 2^-20 apart (relative;
// the difference is exact, Sterbenz) with the smaller >= 2^-110, so that
// every score is normal, they cannot.
SAM_HD bool expsStayOrdered(float ea, float eb) { return eb >= 0x1p-110f && ea - eb > eb * 0x1p-20f; }

// 1 / (1 + exp(-x)) from e = exp(-|x|) <= 1 (no overflow): 1 / (1 + e) for
// x >= 0, e / (1 + e) below (one division either way).
SAM_HD float routeSigmoid(float x, const uint32_t* table) {
  const float e = routeExpNonPos(x < 0.0f ? x : -x, table);
  return (x >= 0.0f ? 1.0f : e) / (1.0f + e);
}

// The "warp order" sum of v[0..n) (docs/ROUTING.md): value i goes to partial
// i % 32 (partials added in order), then the 32 partials are combined by the
// butterfly of a warp (xor 16, 8, 4, 2, 1; fp add is commutative, so lane 0's
// result is p[q] + p[q + o] level by level). Used for the softmax denominator
// and for group sums, so that a warp holding one value per lane computes them
// with shuffles, and a single thread with this loop gets the same bits.
SAM_HD float warpOrderSum(const float* v, int n) {
  float p[32];
  for (int q = 0; q < 32; ++q) p[q] = 0.0f;
  for (int i = 0; i < n; ++i) p[i & 31] += v[i];
  for (int o = 16; o >= 1; o >>= 1)
    for (int q = 0; q < o; ++q) p[q] = p[q] + p[q + o];
  return p[0];
}

// Is a before b in "descending value, ties to the lower index" order?
SAM_HD bool beats(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

}  // namespace route
}  // namespace sam
