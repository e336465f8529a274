// The commit kernel: copies the workspace to the caller's buffers only if
// every logit was finite, and writes the sync-free status.
// Part of route_cuda.cu: included there, in order, inside sam::route's
// anonymous namespace (like route_fast.cuh).
#pragma once

// ---- commit: copy the workspace to the caller's buffers iff all was finite --

struct CommitArgs {
  const int32_t* idx;
  const float* w;
  const int32_t* dropped;  // null: write zeros
  const int32_t* expertCounts;
  const int32_t* rankCounts;
  samRouteOutput_t out;
  int64_t T;
  int k, E, R;
  Small* small;
  int32_t* status;    // [3] or null
  size_t clearBytes;  // > 0: zero the workspace's first clearBytes once every block has read them
  bool vec4;          // expertIdx and weights are 16-byte aligned: copy 4 slots at a time
};

// The last block to finish zeroes the small region (flags, sums, counts), so
// that the next call starts from zero without a memset of its own (one stream
// operation less per call). Every block reads the region before it counts
// itself done; the last one to count is after all of those reads.
__device__ void clearWhenLast(Small* small, size_t bytes) {
  __shared__ bool last;
  __syncthreads();  // the whole block is past its reads
  if (threadIdx.x == 0) {
    __threadfence();
    last = atomicAdd(&small->commitBlocksDone, 1ull) == gridDim.x - 1;
  }
  __syncthreads();
  if (!last) return;
  __threadfence();
  uint32_t* words = reinterpret_cast<uint32_t*>(small);
  for (size_t i = threadIdx.x; i < (bytes + 3) / 4; i += blockDim.x) words[i] = 0;
}

__global__ void commitKernel(CommitArgs a) {
  waitForPreviousKernel();
  const bool bad = a.small->badLogit != 0 || a.small->badBias != 0;
  if (a.status && blockIdx.x == 0 && threadIdx.x == 0) {
    int32_t t = -1, e = -1;
    if (a.small->badLogit != 0) {
      const unsigned long long i = ~a.small->badLogit;
      t = (int32_t)(i / a.E), e = (int32_t)(i % a.E);
    } else if (a.small->badBias != 0) {
      e = (int32_t)~a.small->badBias;
    }
    a.status[0] = bad ? samNumericError : samSuccess;
    a.status[1] = t;
    a.status[2] = e;
  }
  if (!bad) {
    const int64_t stride = (int64_t)gridDim.x * blockDim.x;
    const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
    const int64_t n = a.T * a.k;
    int64_t scalarFrom = 0;
    if (a.vec4) {  // the workspace is 256-byte aligned, the caller's buffers were checked
      const int64_t n4 = n / 4;
      for (int64_t i = tid; i < n4; i += stride) {
        reinterpret_cast<int4*>(a.out.expertIdx)[i] = reinterpret_cast<const int4*>(a.idx)[i];
        reinterpret_cast<float4*>(a.out.weights)[i] = reinterpret_cast<const float4*>(a.w)[i];
      }
      scalarFrom = 4 * n4;
    }
    for (int64_t i = scalarFrom + tid; i < n; i += stride) {
      a.out.expertIdx[i] = a.idx[i];
      a.out.weights[i] = a.w[i];
    }
    if (a.out.dropped)
      for (int64_t i = tid; i < a.T; i += stride) a.out.dropped[i] = a.dropped ? a.dropped[i] : 0;
    if (a.out.expertCounts)
      for (int64_t i = tid; i < a.E; i += stride) a.out.expertCounts[i] = a.expertCounts[i];
    if (a.out.rankCounts)
      for (int64_t i = tid; i < a.R; i += stride) a.out.rankCounts[i] = a.rankCounts[i];
  }
  if (a.clearBytes) clearWhenLast(a.small, a.clearBytes);
}
