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
  const Small* small;
  int32_t* status;  // [3] or null
};

__global__ void commitKernel(CommitArgs a) {
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
  if (bad) return;
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  const int64_t n = a.T * a.k;
  for (int64_t i = tid; i < n; i += stride) {
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
