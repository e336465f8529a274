// Building blocks of the approximate routing (route_rows.cuh): the hardware
// exp and reciprocal, and the error bounds that prove a decision taken with
// them is the reference's.
//
// A decision (this expert before that one, this group kept and that one
// not) is proven when the two values compared are either a tie in both
// computations, taken in index order (both sides break it alike, to the
// lower index), or farther apart than the two computations' errors
// together:
//  - softmax without a selection bias: the reference ranks experts by
//    routeExpNonPos(x - max) / sum; the kernel computes the same x - max =
//    -u, so equal u give equal scores on both sides (uBefore: then the
//    lower expert must come first), and u apart by >= kUGap (with the
//    larger <= 86, above the exp's floor at 87) give strictly ordered
//    scores whatever either exp's error (1 ulp for routeExpNonPos; kUGap is
//    ~32 ulps); a bound on experts left out must be strictly apart
//    (uClearOf);
//  - a group sum of exps: relative kSumRel plus absolute kSumAbs (in units
//    of the largest exp, 1), for the hardware exp, the summation order, the
//    exponent offset taken off at the batch's end (groupExpOffset) and the
//    reference's own rounding;
//  - sigmoid (with or without a bias): |approximate - exact| <= kSigmoidErr,
//    plus the rounding of s + bias, which dSel in the kernel adds.
// Included inside sam::route's anonymous namespace, after route_fast.cuh.
#pragma once

namespace fast {

constexpr float kULimit = 86.0f;         // keys above are at the exp's floor (87) or near it
constexpr float kUGap = 0x1p-18f;        // u apart by more: exact scores strictly ordered
constexpr float kSumRel = 0x1p-16f;      // bound on a group sum of exps, relative part
constexpr float kSumAbs = 0x1p-18f;      //   absolute part (in units of the largest exp, 1)
// |approximate - exact| sigmoid: each is within ~3e-7 of the true value (the
// PTX bounds of ex2.approx and rcp.approx; the reference's exp and division),
// and over every finite float an H200 measures at most 1.8e-7
// (RouteGpu.SigmoidBoundHoldsForEveryFloat checks it on the GPU it runs on).
constexpr float kSigmoidErr = 0x1p-20f;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kNegLog2e = -kLog2e;

// mg log2e - round(mg log2e), exactly (an FMA's residual of a product): the
// exponent offset of every term of a group summed as 2^(x log2e - mL) with
// mL = round(mg log2e) (route_rows.cuh), whose sum is 2^eps times the
// group's sum of e^(x - mg). Finite for |mg| < 2^126.
__device__ __forceinline__ float groupExpOffset(float mg) { return fmaf(mg, kLog2e, -__fmul_rn(mg, kLog2e)); }

__device__ __forceinline__ float ex2Approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float rcpApprox(float x) {
  float y;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Are experts of u values a <= b (indices ia, ib) certainly in this order on
// both sides? Equal u give equal scores, a tie that goes to the lower
// expert, whether or not the logits were equal: u = m - x is rounded, so
// two logits far below the max can give one u (m = 1: 0.3 and the float
// below it), in the keys' order by logit, not by index.
__device__ __forceinline__ bool uBefore(float a, int ia, float b, int ib) {
  return a == b ? ia < ib : b - a >= kUGap && b <= kULimit;
}
// Is u value a certainly better than every u at or past a bound b? A bound
// is no expert's value, so meeting it proves nothing: strictly apart.
__device__ __forceinline__ bool uClearOf(float a, float b) { return b - a >= kUGap && b <= kULimit; }

// The approximate sigmoid (|error| <= kSigmoidErr): 1 / (1 + exp(-x)) by
// ex2.approx and rcp.approx, four instructions. For x < 0 the exp is >= 1
// and the result <= 1/2, so its relative error (ex2, the add, rcp: ~4e-7)
// stays ~2e-7 absolute; past x = -88 the exp is inf and the result 0, as
// the true value is below 1e-38. (The form exp(-|x|) and a select for the
// sign took seven.)
__device__ __forceinline__ float sigmoidApprox(float x) { return rcpApprox(1.0f + ex2Approx(x * kNegLog2e)); }

// dSel, the margin of every sigmoid proof (docs/ROUTING.md): how far an
// approximate sel plus bias can be from the exact one: kSigmoidErr, plus
// the two roundings of s + bias (each at most half an ulp of 1 + max |bias|,
// 2^-24 of it; 2^-21 leaves room). The row kernel's, and the sieve bound
// check's (route_cuda_bounds.cuh), so that the check tests the kernel's margin.
__device__ __forceinline__ float sigmoidSelMargin(float maxAbsBias) {
  return kSigmoidErr + (1.0f + maxAbsBias) * 0x1p-21f;
}

// The keys (descKey, tagged, valueKey, keyBound and their bounds) are in
// route_keys.h, shared with the host tests.

}  // namespace fast
