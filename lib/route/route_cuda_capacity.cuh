// Capacity drops on the GPU: a second pass that orders the (token, rank) pairs
// of each rank by score and drops those over the capacity.
// Part of route_cuda.cu: included there, in order, inside sam::route's
// anonymous namespace (like route_fast.cuh).
#pragma once

// ---- capacity (second pass, only when capacityFactor > 0) -------------------

// One key per (token, rank) pair, at the pair's first slot: rank in the high
// bits, then the score bits inverted (descending). Other slots get kNone.
__global__ void capacityKeysKernel(const int32_t* idx, const float* sraw, int64_t T, int k, int epr,
                                   unsigned long long* keys, int32_t* vals) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < T; t += (int64_t)gridDim.x * blockDim.x) {
    for (int i = 0; i < k; ++i) {
      const int r = idx[t * k + i] / epr;
      bool first = true;
      for (int j = 0; j < i; ++j) first &= idx[t * k + j] / epr != r;
      unsigned long long key = kNone;
      if (first) {
        float score = 0.0f;  // slot order, as the reference
        for (int j = 0; j < k; ++j)
          if (idx[t * k + j] / epr == r) score += sraw[t * k + j];
        key = ((unsigned long long)r << 32) | (unsigned long long)(~__float_as_uint(score));
      }
      keys[t * k + i] = key;
      vals[t * k + i] = (int32_t)(t * k + i);
    }
  }
}

// Sorted position p of rank r's pair is its place p - start[r] in the rank's
// order; from place C on, the pair is dropped.
__global__ void capacityMarkKernel(const unsigned long long* keys, const int32_t* vals, int64_t n, int R,
                                   const int32_t* start, int64_t C, unsigned char* drop) {
  for (int64_t p = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; p < n; p += (int64_t)gridDim.x * blockDim.x) {
    const unsigned long long key = keys[p];
    const int r = (int)(key >> 32);
    if (key == kNone || r >= R) continue;
    if (p - start[r] >= C) drop[vals[p]] = 1;
  }
}

// Applies the drops to a token's slots and counts what is kept.
__global__ void capacityApplyKernel(int32_t* idx, float* w, const unsigned char* drop, int64_t T, int k, int epr,
                                    int32_t* dropped, int32_t* expertCounts, int32_t* rankCounts, Small* small) {
  for (int64_t t = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; t < T; t += (int64_t)gridDim.x * blockDim.x) {
    int nDropped = 0;
    int rankOfSlot[32];
    for (int i = 0; i < k; ++i) rankOfSlot[i] = idx[t * k + i] / epr;
    for (int i = 0; i < k; ++i) {
      int first = i;
      for (int j = 0; j < i; ++j)
        if (rankOfSlot[j] == rankOfSlot[i]) {
          first = j;
          break;
        }
      const bool isDropped = drop[t * k + first] != 0;
      if (first == i) {
        if (isDropped) ++nDropped;
        else if (rankCounts) atomicAdd(&rankCounts[rankOfSlot[i]], 1);
      }
      if (isDropped) {
        idx[t * k + i] = -1;
        w[t * k + i] = 0.0f;
      } else if (expertCounts) {
        atomicAdd(&expertCounts[idx[t * k + i]], 1);
      }
    }
    dropped[t] = nDropped;
    if (nDropped) atomicAdd(&small->pairsDropped, (unsigned long long)nDropped);
  }
}
