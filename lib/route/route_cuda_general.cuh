// The general forward kernel (any E, G, M, k, reduce, node limit): one warp
// per token over a persistent grid, counts and statistics per block.
// Part of route_cuda.cu: included there, in order, inside sam::route's
// anonymous namespace (like route_fast.cuh).
#pragma once

struct FwdOut {
  int32_t* idx;
  float* w;
  float* sraw;  // s of each slot (capacity only), else null
  int32_t* expertCounts;
  int32_t* rankCounts;
  double* scoreSum;  // [E] or null
  Small* small;
  int64_t* retry;  // [T]: tokens the row kernel leaves to retryKernel (small->rerouted of them)
};

template <typename In>
__global__ void routeForwardKernel(DevSpec d, const In* __restrict__ logits, int64_t T, FwdOut o, int wantCounts,
                                   int wantStats) {
  extern __shared__ double smemD[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  double* pAcc = smemD;  // per-warp rows [wpb][E] when stats are wanted
  int* hE = reinterpret_cast<int*>(pAcc + (wantStats ? wpb * d.E : 0));
  int* hR = hE + (wantCounts ? d.E : 0);
  float* wbase = reinterpret_cast<float*>(hR + (wantCounts ? ((d.R + 1) & ~1) : 0));
  const WarpMem m = carve(d, wbase + warp * warpWords(d));
  double* myAcc = pAcc + warp * d.E;
  if (wantStats)
    for (int j = threadIdx.x; j < wpb * d.E; j += blockDim.x) pAcc[j] = 0.0;
  if (wantCounts) {
    for (int j = threadIdx.x; j < d.E; j += blockDim.x) hE[j] = 0;
    for (int j = threadIdx.x; j < d.R; j += blockDim.x) hR[j] = 0;
  }
  if (blockIdx.x == 0 && d.bias)
    for (int j = threadIdx.x; j < d.E; j += blockDim.x)
      if (!isfinite(d.bias[j])) noteBad(&o.small->badBias, (unsigned long long)j);
  __syncthreads();
  double align = 0.0;
  const int64_t stride = (int64_t)gridDim.x * wpb;
  const bool prefetch = d.E <= 32 * kChunk;
  float cur[kChunk], nxt[kChunk];
  int64_t t = (int64_t)blockIdx.x * wpb + warp;
  if (prefetch && t < T) loadChunk<In>(d, logits + t * d.E, lane, cur);
  for (; t < T; t += stride) {
    // Fetch the next token's logits now, so their latency hides behind this one.
    if (prefetch && t + stride < T) loadChunk<In>(d, logits + (t + stride) * d.E, lane, nxt);
    const int bad = warpScores<In>(d, logits + t * d.E, m, lane, prefetch, cur);
    if (prefetch) {
#pragma unroll
      for (int u = 0; u < kChunk; ++u) cur[u] = nxt[u];
    }
    if (bad >= 0) {
      if (lane == 0) noteBad(&o.small->badLogit, (unsigned long long)(t * d.E + bad));
      __syncwarp();
      continue;
    }
    int expert, lowest;
    warpRoute(d, m, lane, expert, lowest);
    const float sv = (lane < d.k) ? m.s[expert] : 0.0f;
    float denom = 0.0f;  // slot order, as tokenWeights
    for (int i = 0; i < d.k; ++i) denom += __shfl_sync(kFull, sv, i);
    float w = sv;
    if (d.renorm) w = denom > 0.0f ? w / denom : 0.0f;
    w = w * d.scale;
    if (lane < d.k) {
      o.idx[t * d.k + lane] = expert;
      o.w[t * d.k + lane] = w;
      if (o.sraw) o.sraw[t * d.k + lane] = sv;
    }
    if (wantCounts) {
      const int r = expert >= 0 ? expert / d.epr : -1;
      bool first = true;
      for (int j = 0; j < d.k; ++j) {
        const int rj = __shfl_sync(kFull, r, j);
        if (j < lane && rj == r) first = false;
      }
      if (lane < d.k) {
        atomicAdd(&hE[expert], 1);
        if (first) atomicAdd(&hR[r], 1);
      }
    }
    if (wantStats) {
      for (int j = lane; j < d.E; j += 32) myAcc[j] += (double)m.s[j];
      if (!d.allGroups) {
        const double floor = m.s[lowest];
        for (int j = lane; j < d.E; j += 32)
          if (m.gflag[groupOfExpert(d, j)] != 2) align += fmax(0.0, (double)m.s[j] - floor);
      }
    }
    __syncwarp();
  }
  if (wantStats) {
#pragma unroll
    for (int o2 = 16; o2 >= 1; o2 >>= 1) align += __shfl_xor_sync(kFull, align, o2);
    if (lane == 0 && align != 0.0) atomicAdd(&o.small->alignment, align);
  }
  __syncthreads();
  if (wantStats)
    for (int j = threadIdx.x; j < d.E; j += blockDim.x) {
      double sum = 0.0;
      for (int w2 = 0; w2 < wpb; ++w2) sum += pAcc[w2 * d.E + j];
      if (sum != 0.0) atomicAdd(&o.scoreSum[j], sum);
    }
  if (wantCounts) {
    for (int j = threadIdx.x; j < d.E; j += blockDim.x)
      if (hE[j]) atomicAdd(&o.expertCounts[j], hE[j]);
    for (int j = threadIdx.x; j < d.R; j += blockDim.x)
      if (hR[j]) atomicAdd(&o.rankCounts[j], hR[j]);
  }
}
