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

// exp(x) within ~2 ulp for finite x, identical on host and device; no
// branches, so the GPU interleaves many of them. Clamping to [-104, 89] is
// enough for the limits: exp(-104) rounds to 0 and exp(89) overflows to +Inf
// through the same arithmetic. (Inputs are checked to be finite first.)
SAM_HD float routeExp(float x) {
  float xc = x < -104.0f ? -104.0f : x;
  xc = xc > 89.0f ? 89.0f : xc;
  const float n = roundToInt(xc * 1.44269502162933349609375f);  // x / ln 2, in [-150, 128]
  float r = fmaExact(n, -0.693145751953125f, xc);               // ln2, high part
  r = fmaExact(n, -1.428606765330187045e-06f, r);               // ln2, low part
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
  const int ni = static_cast<int>(n);
  const int half = ni >> 1;
  return (p * pow2i(half)) * pow2i(ni - half);
}

SAM_HD float routeSigmoid(float x) { return 1.0f / (1.0f + routeExp(-x)); }

// Is a before b in "descending value, ties to the lower index" order?
SAM_HD bool beats(float va, int ia, float vb, int ib) {
  return va > vb || (va == vb && ia < ib);
}

}  // namespace route
}  // namespace sam
