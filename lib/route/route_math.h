// Arithmetic shared bit for bit by the CPU reference and the CUDA kernels.
//
// Routing picks indices by comparing floats, so a one-ulp difference between
// backends could flip a near-tie. Everything that feeds a comparison is
// therefore computed by the SAME formula on both sides:
//  - exp is our own (Cody-Waite reduction + a degree-7 polynomial written with
//    explicit fmaf), not the platform's expf/__expf, whose last bits differ;
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

// 2^n as a float for n in [-126, 127] (an exact power of two).
SAM_HD float pow2i(int n) {
  uint32_t bits = static_cast<uint32_t>(n + 127) << 23;
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

SAM_HD float roundToInt(float x) {
#if defined(__CUDA_ARCH__)
  return rintf(x);
#else
  return __builtin_rintf(x);  // round half to even, as the GPU's rintf
#endif
}

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

// exp(x) within ~2 ulp for finite x, identical on host and device; no
// branches, so the GPU interleaves many of them, and no float<->int
// conversions (a slow pipe on the GPU): n = round(x / ln 2) comes out of one
// fma with 1.5 * 2^23, whose sum holds the integer in its low mantissa bits.
// Clamping to [-104, 89] is enough for the limits: exp(-104) rounds to 0 and
// exp(89) overflows to +Inf through the same arithmetic. (Inputs are checked
// to be finite first.) kNonPositive: the caller guarantees x <= 0 (softmax:
// x - max), so the upper clamp, a no-op there, is left out: same bits.
template <bool kNonPositive = false>
SAM_HD float routeExpT(float x) {
  float xc = x < -104.0f ? -104.0f : x;
  if (!kNonPositive) xc = xc > 89.0f ? 89.0f : xc;
  constexpr float kShift = 12582912.0f;  // 1.5 * 2^23
  const float t = fmaExact(xc, 1.44269502162933349609375f, kShift);  // kShift + round(x / ln 2), in [-150, 129]
  const float n = t - kShift;                                          // exact
  float r = fmaExact(n, -0.693145751953125f, xc);                      // ln2, high part
  r = fmaExact(n, -1.428606765330187045e-06f, r);                      // ln2, low part
  // exp(r) for |r| <= 0.347: Taylor to degree 7 (truncation < 1e-8 relative).
  float p = 1.0f / 5040.0f;
  p = fmaExact(p, r, 1.0f / 720.0f);
  p = fmaExact(p, r, 1.0f / 120.0f);
  p = fmaExact(p, r, 1.0f / 24.0f);
  p = fmaExact(p, r, 1.0f / 6.0f);
  p = fmaExact(p, r, 0.5f);
  p = fmaExact(p, r, 1.0f);
  p = fmaExact(p, r, 1.0f);
  // p * 2^n in two steps, both factors normal powers of two: the first product
  // is exact, the second rounds once (also into subnormals, or to +Inf).
  const int ni = floatBits(t) - floatBits(kShift);  // t and kShift share an exponent: the integer n
  const int half = ni >> 1;
  return (p * pow2i(half)) * pow2i(ni - half);
}

SAM_HD float routeExp(float x) { return routeExpT<false>(x); }

SAM_HD float routeSigmoid(float x) { return 1.0f / (1.0f + routeExp(-x)); }

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
