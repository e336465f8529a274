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

// 2^(j/64) for j = 0..63, each rounded to the nearest float: the table of
// routeExpNonPos. Host and device need the same 64 floats in memory they can
// index (a static array here; shared memory or a __device__ array in the
// kernels), hence one list.
#define SAM_ROUTE_EXP2_TABLE \
  0x1p+0f, 0x1.02c9a4p+0f, 0x1.059b0ep+0f, 0x1.087452p+0f, \
  0x1.0b5586p+0f, 0x1.0e3ec4p+0f, 0x1.11301ep+0f, 0x1.1429aap+0f, \
  0x1.172b84p+0f, 0x1.1a35bep+0f, 0x1.1d4874p+0f, 0x1.2063b8p+0f, \
  0x1.2387a6p+0f, 0x1.26b456p+0f, 0x1.29e9ep+0f, 0x1.2d285ap+0f, \
  0x1.306fep+0f, 0x1.33c08cp+0f, 0x1.371a74p+0f, 0x1.3a7db4p+0f, \
  0x1.3dea64p+0f, 0x1.4160a2p+0f, 0x1.44e086p+0f, 0x1.486a2cp+0f, \
  0x1.4bfdaep+0f, 0x1.4f9b28p+0f, 0x1.5342b6p+0f, 0x1.56f474p+0f, \
  0x1.5ab07ep+0f, 0x1.5e76f2p+0f, 0x1.6247ecp+0f, 0x1.662388p+0f, \
  0x1.6a09e6p+0f, 0x1.6dfb24p+0f, 0x1.71f75ep+0f, 0x1.75feb6p+0f, \
  0x1.7a1148p+0f, 0x1.7e2f34p+0f, 0x1.82589ap+0f, 0x1.868d9ap+0f, \
  0x1.8ace54p+0f, 0x1.8f1aeap+0f, 0x1.93737cp+0f, 0x1.97d82ap+0f, \
  0x1.9c4918p+0f, 0x1.a0c668p+0f, 0x1.a5503cp+0f, 0x1.a9e6b6p+0f, \
  0x1.ae89fap+0f, 0x1.b33a2cp+0f, 0x1.b7f77p+0f, 0x1.bcc1eap+0f, \
  0x1.c199bep+0f, 0x1.c67f12p+0f, 0x1.cb720ep+0f, 0x1.d072d4p+0f, \
  0x1.d5818ep+0f, 0x1.da9e6p+0f, 0x1.dfc974p+0f, 0x1.e502eep+0f, \
  0x1.ea4afap+0f, 0x1.efa1bep+0f, 0x1.f50766p+0f, 0x1.fa7c18p+0f

inline constexpr float kExp2Table[64] = {SAM_ROUTE_EXP2_TABLE};

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

// exp(max(x, -87)) for x <= 0, within ~1 ulp, identical on host and device
// (every step a single correctly rounded operation or integer arithmetic; no
// branch, no float<->int conversion, a slow pipe on the GPU). table = the 64
// floats of SAM_ROUTE_EXP2_TABLE.
//  n = round(x * 64 / ln 2) comes out of one fma with 1.5 * 2^23 (the sum
//  holds n in its low mantissa bits); x = n ln2/64 + r with |r| <= ln2/128,
//  r by Cody-Waite in two fmas (the first exact: ln2/64's float has its last
//  bit at 2^-30 and |x| >= ln2/128 whenever n != 0); exp(x) = 2^(n>>6) *
//  2^((n&63)/64) * exp(r), exp(r) - 1 = r + r^2 (1/2 + r/6) (truncation below
//  4e-11 relative), and 2^(n>>6) added to the exponent bits (exact: the
//  result is normal, which the floor at -87 guarantees: exp(-87) = 1.6e-38).
// The floor replaces the subnormal tail: below -87 the result is exp(-87)
// instead of 0 .. 1.6e-38. Softmax feeds x - max; sigmoid exp(-|x|).
SAM_HD float routeExpNonPos(float x, const float* table) {
  const float xc = x < -87.0f ? -87.0f : x;
  constexpr float kShift = 12582912.0f;                             // 1.5 * 2^23
  const float t = fmaExact(xc, 0x1.715476p+6f, kShift);               // kShift + n, 64 / ln 2
  const float n = t - kShift;                                         // exact
  float r = fmaExact(n, -0x1.62e43p-7f, xc);                          // ln2/64, high part: exact
  r = fmaExact(n, 0x1.05c61p-35f, r);                                 // minus the low part
  const float q = fmaExact(r, 1.0f / 6.0f, 0.5f);
  const float em1 = fmaExact(r * r, q, r);                            // exp(r) - 1
  const uint32_t tb = uintBits(t);                                    // 0x4B400000 + n (its low 6 bits: n & 63)
  const float tj = table[tb & 63u];
  const float y = fmaExact(tj, em1, tj);                              // 2^(j/64) exp(r), in [0.99, 2)
  // n << 17 (kShift's bits vanish) masked to the exponent field: (n >> 6) << 23.
  return floatFromBits(uintBits(y) + ((tb << 17) & 0xFF800000u));
}

// 1 / (1 + exp(-x)) from e = exp(-|x|) <= 1 (no overflow): 1 / (1 + e) for
// x >= 0, e / (1 + e) below (one division either way).
SAM_HD float routeSigmoid(float x, const float* table) {
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
