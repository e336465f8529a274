// The error bound the row kernel's sigmoid proofs rest on (kSigmoidErr,
// route_approx.cuh), measured: the largest |sigmoidApprox(x) - routeSigmoid(x)|
// over every finite float x, on the GPU that runs the kernels (the hardware
// ex2.approx and rcp.approx are only specified to within a bound; this is
// the bound as this GPU's instructions meet it). The GPU tests check it
// against kSigmoidErr (RouteGpu.SigmoidBoundHoldsForEveryFloat).
// Part of route_cuda.cu: included there, in order, inside sam::route's
// anonymous namespace (like route_fast.cuh).
#pragma once

// Grid-stride over all 2^32 bit patterns; the block maxima go to *maxErr as
// the bits of a non-negative double (which order as unsigned integers).
__global__ void sigmoidErrorKernel(unsigned long long* maxErr) {
  __shared__ uint32_t table[64];
  for (int j = threadIdx.x; j < 64; j += blockDim.x) table[j] = kExp2TableDev[j];
  __syncthreads();
  double worst = 0.0;
  const uint64_t stride = (uint64_t)gridDim.x * blockDim.x;
  for (uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (1ull << 32); i += stride) {
    const float x = __uint_as_float((uint32_t)i);
    if (!isfinite(x)) continue;
    // Both lie in [0, 1]: their difference in double is exact.
    worst = fmax(worst, fabs((double)fast::sigmoidApprox(x) - (double)routeSigmoid(x, table)));
  }
#pragma unroll
  for (int off = 16; off >= 1; off >>= 1) worst = fmax(worst, __shfl_xor_sync(kFull, worst, off));
  if ((threadIdx.x & 31) == 0) atomicMax(maxErr, (unsigned long long)__double_as_longlong(worst));
}

// The sieve's logit bound (route_sieve.cuh, sieveLogit): for each (bound,
// group bias) pair of a grid, every logit x below sieveLogit's must give
// fl(sigmoidApprox(x) + bias) < bound, the claim the runner-up's proof takes
// for each candidate the sieve left out. Checked on the 256 floats just
// below the logit and 256 more spread over the 32 below it (the sigmoid
// rises with x; the approximate one need not, so the floats next to the
// logit are the ones that test the margin). dSel as the kernel's, with the
// bias as the largest |bias|. Counts the checks and the violations; the
// smallest bound - sel seen goes to *closestBits (a non-negative float's bits).
constexpr int kSieveBounds = 2048, kSieveBiases = 8;
__constant__ float kSieveBiasGrid[kSieveBiases] = {-0.3f, -0.01f, -0.001f, 0.0f, 0.001f, 0.01f, 0.3f, 1.0f};
__global__ void sieveBoundKernel(unsigned long long* checked, unsigned long long* violations, unsigned* closestBits) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= kSieveBounds * kSieveBiases) return;
  const float bias = kSieveBiasGrid[i % kSieveBiases];
  const float bound = -0.4f + 1.8f * (float)(i / kSieveBiases) / kSieveBounds;  // below 0 to past 1 + bias
  const float dSel = fast::sigmoidSelMargin(fabsf(bias));
  const float xLo = fast::sieveLogit(bound, bias, dSel);
  if (xLo == -INFINITY) return;  // keeps every logit: nothing to check
  unsigned long long n = 0, bad = 0;
  float closest = INFINITY;
  auto check = [&](float x) {
    const float sel = fast::sigmoidApprox(x) + bias;
    ++n;
    if (!(sel < bound)) ++bad;
    closest = fminf(closest, bound - sel);
  };
  if (xLo == INFINITY) {  // leaves out every logit
    for (float x : {3.0e38f, 100.0f, 20.0f, 0.0f}) check(x);
  } else {
    float x = xLo;
    for (int j = 0; j < 256; ++j) check(x = nextafterf(x, -INFINITY));
    for (int j = 1; j <= 256; ++j) check(xLo - 0.125f * j);
  }
  atomicAdd(checked, n);
  if (bad) atomicAdd(violations, bad);
  if (closest >= 0.0f) atomicMin(closestBits, __float_as_uint(closest));
}
