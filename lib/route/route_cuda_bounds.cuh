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
