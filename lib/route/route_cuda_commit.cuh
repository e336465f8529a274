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
  int32_t* status;    // [3] or null
  uint32_t* clear;    // a sync-free call: the workspace's other slot (route_cuda.cu, Workspace), to zero
  size_t clearBytes;  // its bytes
  bool vec4;          // expertIdx and weights are 16-byte aligned: copy 4 slots at a time
};

__global__ void commitKernel(CommitArgs a) {
  const int64_t stride = (int64_t)gridDim.x * blockDim.x;
  const int64_t tid = blockIdx.x * (int64_t)blockDim.x + threadIdx.x;
  // The other slot is the next call's; no kernel of this call touches it and
  // the last call's are done (stream order), so it is zeroed before the wait,
  // while the kernels before this one still run.
  for (int64_t i = tid; i < (int64_t)(a.clearBytes + 3) / 4; i += stride) a.clear[i] = 0;
  waitForPreviousKernel();
  // The next call's first kernel (launchAfter) is scheduled now, while this
  // one copies; it waits for this kernel's end before it touches anything
  // global. Not before the wait: its blocks then filled the SM slots left
  // free beside this call's row kernel, unevenly, and ran unbalanced (H200,
  // T = 65536, measured before evenSpreadSmem in route_grid.h: switch and
  // gshard fp32 4 us slower).
  letNextKernelLaunch();
  // This thread's first items are loaded with the flags (one round trip
  // before the stores, not two); they are stored only if all was finite.
  // The grid covers every count and token (forwardCuda's commitBlocks), so
  // the counts and drops need no loop.
  const int64_t n = a.T * a.k, n4 = a.vec4 ? n / 4 : 0;
  int4 firstIdx{};
  float4 firstW{};
  if (tid < n4) {
    firstIdx = reinterpret_cast<const int4*>(a.idx)[tid];
    firstW = reinterpret_cast<const float4*>(a.w)[tid];
  }
  const bool dropOut = a.out.dropped && tid < a.T, expertOut = a.out.expertCounts && tid < a.E,
             rankOut = a.out.rankCounts && tid < a.R;
  const int32_t dropped = dropOut && a.dropped ? a.dropped[tid] : 0;
  const int32_t expertCount = expertOut ? a.expertCounts[tid] : 0;
  const int32_t rankCount = rankOut ? a.rankCounts[tid] : 0;
  const unsigned long long badLogit = a.small->badLogit, badBias = a.small->badBias;
  const bool bad = badLogit != 0 || badBias != 0;
  if (a.status && blockIdx.x == 0 && threadIdx.x == 0) {
    int32_t t = -1, e = -1;
    if (badLogit != 0) {
      const unsigned long long i = ~badLogit;
      t = (int32_t)(i / a.E), e = (int32_t)(i % a.E);
    } else if (badBias != 0) {
      e = (int32_t)~badBias;
    }
    a.status[0] = bad ? samNumericError : samSuccess;
    a.status[1] = t;
    a.status[2] = e;
  }
  if (bad) return;
  if (tid < n4) {  // the workspace is 256-byte aligned, the caller's buffers were checked
    reinterpret_cast<int4*>(a.out.expertIdx)[tid] = firstIdx;
    reinterpret_cast<float4*>(a.out.weights)[tid] = firstW;
  }
  for (int64_t i = tid + stride; i < n4; i += stride) {
    reinterpret_cast<int4*>(a.out.expertIdx)[i] = reinterpret_cast<const int4*>(a.idx)[i];
    reinterpret_cast<float4*>(a.out.weights)[i] = reinterpret_cast<const float4*>(a.w)[i];
  }
  for (int64_t i = 4 * n4 + tid; i < n; i += stride) {
    a.out.expertIdx[i] = a.idx[i];
    a.out.weights[i] = a.w[i];
  }
  if (dropOut) a.out.dropped[tid] = dropped;
  if (expertOut) a.out.expertCounts[tid] = expertCount;
  if (rankOut) a.out.rankCounts[tid] = rankCount;
}
