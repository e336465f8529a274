// The backward kernels: check that expertIdx is the routing of the logits,
// then the gradient w.r.t. the logits.
// Part of route_cuda.cu: included there, in order, inside sam::route's
// anonymous namespace (like route_fast.cuh).
#pragma once

// ---- backward ------------------------------------------------------------------

struct BwdArgs {
  const int32_t* expertIdx;
  const float* gradWeights;
  const float* base;  // [E] dL/ds of the balance losses (the same for every token)
  float alignment;
  float* grad;
  int32_t* counts;  // check pass: kept pairs per expert
  Small* small;
};

// Pass 1: finite logits, expertIdx in range and equal to the routing of these
// logits (held fixed, so it must be that routing); counts the kept pairs.
template <typename In>
__global__ void backwardCheckKernel(DevSpec d, const In* __restrict__ logits, int64_t T, BwdArgs a) {
  extern __shared__ double smemD[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  const WarpMem m = carve(d, reinterpret_cast<float*>(smemD) + warp * warpWords(d));
  if (blockIdx.x == 0 && d.bias)
    for (int j = threadIdx.x; j < d.E; j += blockDim.x)
      if (!isfinite(d.bias[j])) noteBad(&a.small->badBias, (unsigned long long)j);
  for (int64_t t = (int64_t)blockIdx.x * wpb + warp; t < T; t += (int64_t)gridDim.x * wpb) {
    const int given = lane < d.k ? a.expertIdx[t * d.k + lane] : -1;
    const bool inRange = given >= -1 && given < d.E;
    if (lane < d.k && !inRange) noteBad(&a.small->badIdx, (unsigned long long)(t * d.k + lane));
    const float none[kChunk] = {};
    const int bad = warpScores<In>(d, logits + t * d.E, m, lane, false, none);
    if (bad >= 0) {
      if (lane == 0) noteBad(&a.small->badLogit, (unsigned long long)(t * d.E + bad));
      __syncwarp();
      continue;
    }
    int expert, lowest;
    warpRoute(d, m, lane, expert, lowest);
    if (lane < d.k && inRange && given != -1) {
      if (given != expert) noteBad(&a.small->badIdx, (unsigned long long)(t * d.k + lane));
      else atomicAdd(&a.counts[given], 1);
    }
    __syncwarp();
  }
}

// Pass 2: gradLogits, one warp per token (float; the reference uses double).
template <typename In>
__global__ void backwardGradKernel(DevSpec d, const In* __restrict__ logits, int64_t T, BwdArgs a) {
  extern __shared__ double smemD[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  const int words = warpWords(d) + d.E;  // + g[E]
  float* base = reinterpret_cast<float*>(smemD) + warp * words;
  const WarpMem m = carve(d, base);
  float* g = base + warpWords(d);
  for (int64_t t = (int64_t)blockIdx.x * wpb + warp; t < T; t += (int64_t)gridDim.x * wpb) {
    const float none[kChunk] = {};
    warpScores<In>(d, logits + t * d.E, m, lane, false, none);  // finite: checked by pass 1
    int expert, lowest;
    warpRoute(d, m, lane, expert, lowest);
    for (int j = lane; j < d.E; j += 32) g[j] = a.base ? a.base[j] : 0.0f;
    __syncwarp();
    const int given = lane < d.k ? a.expertIdx[t * d.k + lane] : -1;
    if (a.gradWeights) {
      const float gw = lane < d.k ? a.gradWeights[t * d.k + lane] : 0.0f;
      const float sv = lane < d.k ? m.s[expert] : 0.0f;
      if (!d.renorm) {
        if (given >= 0) g[given] += gw * d.scale;
      } else {
        float D = 0.0f, A = 0.0f;
        for (int i = 0; i < d.k; ++i) {
          D += __shfl_sync(kFull, sv, i);
          A += __shfl_sync(kFull, given >= 0 ? gw * sv : 0.0f, i);
        }
        if (D > 0.0f && lane < d.k) {  // selected experts are distinct: no two lanes share g[e]
          float add = -d.scale * A / (D * D);
          if (given >= 0) add += d.scale * gw / D;
          g[expert] += add;
        }
      }
    }
    __syncwarp();
    if (a.alignment != 0.0f && !d.allGroups) {
      const float floor = m.s[lowest];
      int above = 0;
      for (int j = lane; j < d.E; j += 32)
        if (m.gflag[groupOfExpert(d, j)] != 2 && m.s[j] > floor) g[j] += a.alignment, ++above;
#pragma unroll
      for (int o = 16; o >= 1; o >>= 1) above += __shfl_xor_sync(kFull, above, o);
      __syncwarp();
      if (lane == 0) g[lowest] -= a.alignment * (float)above;
    }
    __syncwarp();
    float* out = a.grad + t * d.E;
    if (d.sigmoid) {
      for (int j = lane; j < d.E; j += 32) out[j] = g[j] * m.s[j] * (1.0f - m.s[j]);
    } else {
      float dot = 0.0f;
      for (int j = lane; j < d.E; j += 32) dot += g[j] * m.s[j];
#pragma unroll
      for (int o = 16; o >= 1; o >>= 1) dot += __shfl_xor_sync(kFull, dot, o);
      for (int j = lane; j < d.E; j += 32) out[j] = m.s[j] * (g[j] - dot);
    }
    __syncwarp();
  }
}
