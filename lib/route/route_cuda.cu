// The CUDA backend of routing. One warp routes one token (persistent grid);
// the logits are read once. Results go to a device workspace, then a commit
// kernel copies them to the caller's buffers only if every logit was finite,
// so nothing is written on error (docs/ROUTING.md, "CUDA design").
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstring>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "route/route_cuda.h"
#include "route/route_math.h"
#include "route/route_ref.h"

namespace sam {
namespace route {
namespace {

constexpr unsigned kFull = 0xffffffffu;
constexpr unsigned long long kNone = ~0ull;

#define ROUTE_CUDA(call)                                                                              \
  do {                                                                                                \
    cudaError_t err_ = (call);                                                                        \
    if (err_ != cudaSuccess)                                                                          \
      throwError(samCudaError, std::string(fn) + ": " #call " failed: " + cudaGetErrorString(err_)); \
  } while (0)

// The config as the kernels see it (device pointers for the node layout).
struct DevSpec {
  int E, R, G, M, N, k, gs, epr, topN, numNodes;
  int sigmoid, reduce, renorm;
  float scale;
  const float* bias;
  const int* rankNode;       // [R]
  const int* nodeRankStart;  // [numNodes + 1]
  const int* nodeRanks;      // [R]
  int allGroups, nodeLimited;
  unsigned gsMagic;  // e / gs as __umulhi(e, gsMagic) (gs > 1), exact for e * gs < 2^32
  unsigned eprMagic;  // e / epr likewise (epr > 1)
};

__host__ __device__ inline unsigned divMagic(int d) { return d > 1 ? (unsigned)(0xffffffffull / (unsigned)d) + 1u : 0u; }

// e / gs without an integer division (a dozen instructions on the GPU).
__device__ __forceinline__ int groupOfExpert(const DevSpec& d, int e) {
  return d.gs == 1 ? e : (int)__umulhi((unsigned)e, d.gsMagic);
}

// Flags and sums read back by the host after every call (one small copy).
struct Small {
  // Each flag holds ~i for the lowest bad i (atomicMax of ~i), 0 = none, so
  // that one memset to zero resets the whole region.
  unsigned long long badLogit;  // lowest t*E+e with a non-finite logit
  unsigned long long badBias;   // lowest e with a non-finite bias
  unsigned long long badIdx;    // backward: lowest t*k+i with a bad expertIdx
  unsigned long long pairsDropped;
  double alignment;
  double pad[3];
};

__device__ __forceinline__ void noteBad(unsigned long long* flag, unsigned long long i) { atomicMax(flag, ~i); }

// Decodes a flag of Small: true and *i = the lowest bad index if one was noted.
inline bool badAt(unsigned long long flag, unsigned long long* i) {
  *i = ~flag;
  return flag != 0;
}

// Per-warp shared memory, in 4-byte words.
__host__ __device__ inline int warpWords(const DevSpec& d) {
  int w = d.E;                          // s
  if (d.bias) w += d.E;                 // sel
  if (!d.allGroups) w += 2 * d.G;       // group score + flag
  if (d.nodeLimited) w += 2 * d.numNodes;
  return (w + 1) & ~1;                  // keep 8-byte alignment for what follows
}

template <typename In>
__device__ __forceinline__ float toFloat(In v);
template <>
__device__ __forceinline__ float toFloat<float>(float v) { return v; }
template <>
__device__ __forceinline__ float toFloat<__half>(__half v) { return __half2float(v); }
template <>
__device__ __forceinline__ float toFloat<__nv_bfloat16>(__nv_bfloat16 v) { return __bfloat162float(v); }

// Warp argmax of (value, index), ties to the lower index; index -1 = none.
__device__ __forceinline__ void warpBest(float& v, int& i) {
#pragma unroll
  for (int o = 16; o >= 1; o >>= 1) {
    const float ov = __shfl_xor_sync(kFull, v, o);
    const int oi = __shfl_xor_sync(kFull, i, o);
    if (oi >= 0 && (i < 0 || beats(ov, oi, v, i))) {
      v = ov;
      i = oi;
    }
  }
}

// reduce(sel over `count` experts given by expertAt(j), ascending) on one lane,
// the same order as reduceScores in route_ref.cc.
// A group's sum is in warp order (route_math.h warpOrderSum), a node's ascending.
template <typename At>
__device__ float laneReduce(const DevSpec& d, int count, At expertAt, const float* sel, bool group) {
  if (d.reduce == samGroupReduceSum && group) {
    float p[32];
#pragma unroll
    for (int q = 0; q < 32; ++q) p[q] = 0.0f;
    for (int j = 0; j < count; ++j) p[j & 31] += sel[expertAt(j)];
#pragma unroll
    for (int o = 16; o >= 1; o >>= 1)
#pragma unroll
      for (int q = 0; q < o; ++q) p[q] = p[q] + p[q + o];
    return p[0];
  }
  if (d.reduce == samGroupReduceSum) {
    float sum = 0.0f;
    for (int j = 0; j < count; ++j) sum += sel[expertAt(j)];
    return sum;
  }
  if (d.reduce == samGroupReduceMax) {
    float m = sel[expertAt(0)];
    for (int j = 1; j < count; ++j) m = fmaxf(m, sel[expertAt(j)]);
    return m;
  }
  // Sum of the top n, largest first: n passes, each picking the best value
  // strictly after the previous pick in (value desc, position asc) order.
  float sum = 0.0f, lastV = 0.0f;
  int lastJ = -1;
  for (int pick = 0; pick < d.topN && pick < count; ++pick) {
    float bv = 0.0f;
    int bj = -1;
    for (int j = 0; j < count; ++j) {
      const float v = sel[expertAt(j)];
      if (lastJ >= 0 && !beats(lastV, lastJ, v, j)) continue;  // already picked
      if (bj < 0 || beats(v, j, bv, bj)) bv = v, bj = j;
    }
    sum += bv;
    lastV = bv;
    lastJ = bj;
  }
  return sum;
}

struct WarpMem {
  float* s;
  float* sel;
  float* gscore;
  int* gflag;  // 0 not allowed, 1 allowed, 2 chosen
  float* nscore;
  int* nkept;
};

__device__ __forceinline__ WarpMem carve(const DevSpec& d, float* base) {
  WarpMem m;
  m.s = base;
  m.sel = d.bias ? base + d.E : base;
  float* p = base + (d.bias ? 2 * d.E : d.E);
  m.gscore = p;
  m.gflag = reinterpret_cast<int*>(p + (d.allGroups ? 0 : d.G));
  p += d.allGroups ? 0 : 2 * d.G;
  m.nscore = p;
  m.nkept = reinterpret_cast<int*>(p + d.numNodes);
  return m;
}

// routeExpNonPos's table for the general kernels (read through the L1 cache;
// the fast kernel keeps a copy in shared memory).
__device__ const uint32_t kExp2TableDev[64] = {SAM_ROUTE_EXP2_TABLE};

// Scores of token `row` into m.s / m.sel. Returns the lowest bad expert or -1.
// Lane l handles experts l, l+32, l+64, ... in chunks of 8 held in registers,
// so that eight independent loads and exps are in flight at once; a batch of
// E <= 256 stays in registers from load to final score.
constexpr int kChunk = 8;

template <typename In>
__device__ __forceinline__ void loadChunk(const DevSpec& d, const In* __restrict__ row, int base, float (&v)[kChunk]) {
#pragma unroll
  for (int u = 0; u < kChunk; ++u) {
    const int e = base + 32 * u;
    v[u] = e < d.E ? toFloat<In>(row[e]) : 0.0f;
  }
}

// `pre` (when havePre, E <= 256): the token's logits already loaded by this
// lane (the caller fetches the next token's while this one is routed).
template <typename In>
__device__ __forceinline__ int warpScores(const DevSpec& d, const In* __restrict__ row, const WarpMem& m, int lane,
                                          bool havePre, const float (&pre)[kChunk]) {
  float mx = -INFINITY, poison = 0.0f;
  float v[kChunk];
  const bool oneChunk = d.E <= 32 * kChunk;
  for (int base = lane; base < d.E; base += 32 * kChunk) {
    if (havePre) {
#pragma unroll
      for (int u = 0; u < kChunk; ++u) v[u] = pre[u];
    } else {
      loadChunk<In>(d, row, base, v);
    }
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      poison = fmaExact(v[u], 0.0f, poison);  // NaN iff some value is NaN or Inf
      if (base + 32 * u < d.E) mx = fmaxf(mx, v[u]);
      if (!oneChunk && base + 32 * u < d.E) m.s[base + 32 * u] = v[u];
    }
  }
  if (__any_sync(kFull, poison != poison)) {
    int bad = INT_MAX;
    if (oneChunk) {
#pragma unroll
      for (int u = 0; u < kChunk; ++u)
        if (lane + 32 * u < d.E && !isfinite(v[u])) bad = min(bad, lane + 32 * u);
    } else {
      for (int j = lane; j < d.E; j += 32)
        if (!isfinite(m.s[j])) bad = min(bad, j);
    }
#pragma unroll
    for (int o = 16; o >= 1; o >>= 1) bad = min(bad, __shfl_xor_sync(kFull, bad, o));
    __syncwarp();
    return bad;
  }
  float inv = 1.0f;
  if (!d.sigmoid) {
#pragma unroll
    for (int o = 16; o >= 1; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, o));
  }
  float sum = 0.0f;  // lane l: experts l, l+32, ... in order (as route_ref.cc)
  for (int base = lane; base < d.E; base += 32 * kChunk) {
    if (!oneChunk) {
#pragma unroll
      for (int u = 0; u < kChunk; ++u) v[u] = base + 32 * u < d.E ? m.s[base + 32 * u] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      if (d.sigmoid) {
        v[u] = routeSigmoid(v[u], kExp2TableDev);
      } else {
        v[u] = routeExpNonPos(v[u] - mx, kExp2TableDev);  // x - max <= 0
        sum += base + 32 * u < d.E ? v[u] : 0.0f;  // adding +0 changes nothing
      }
    }
    if (!oneChunk) {
#pragma unroll
      for (int u = 0; u < kChunk; ++u)
        if (base + 32 * u < d.E) m.s[base + 32 * u] = v[u];
    }
  }
  if (!d.sigmoid) {
#pragma unroll
    for (int o = 16; o >= 1; o >>= 1) sum += __shfl_xor_sync(kFull, sum, o);  // the butterfly
    inv = 1.0f / sum;
  }
  for (int base = lane; base < d.E; base += 32 * kChunk) {
    if (!oneChunk) {
#pragma unroll
      for (int u = 0; u < kChunk; ++u) v[u] = base + 32 * u < d.E ? m.s[base + 32 * u] : 0.0f;
    }
#pragma unroll
    for (int u = 0; u < kChunk; ++u) {
      const int e = base + 32 * u;
      if (e >= d.E) continue;
      const float sv = d.sigmoid ? v[u] : v[u] * inv;
      m.s[e] = sv;
      if (d.bias) m.sel[e] = sv + d.bias[e];
    }
  }
  __syncwarp();
  return -1;
}

__device__ void stage2Generic(const DevSpec& d, const WarpMem& m, int lane, unsigned long long cand,
                              int& slotExpert);

// Stages 1 and 2 for the token whose scores are in m. Lane i < k gets slot i's
// expert; every lane gets `lowest` (selected expert of lowest s).
__device__ void warpRoute(const DevSpec& d, const WarpMem& m, int lane, int& slotExpert, int& lowest) {
  // (Stage 1 leaves gflag[g] == 2 for the chosen groups.)
  if (!d.allGroups) {
    for (int g = lane; g < d.G; g += 32) m.gflag[g] = 1;
    if (d.nodeLimited) {
      for (int n = lane; n < d.numNodes; n += 32) {
        const int first = d.nodeRankStart[n], ranks = d.nodeRankStart[n + 1] - first;
        m.nscore[n] = laneReduce(
            d, ranks * d.epr,
            [&](int j) { return d.nodeRanks[first + j / d.epr] * d.epr + j % d.epr; }, m.sel, false);
        m.nkept[n] = 0;
      }
      __syncwarp();
      for (int pick = 0; pick < d.N; ++pick) {
        float bv = 0.0f;
        int bi = -1;
        for (int n = lane; n < d.numNodes; n += 32)
          if (!m.nkept[n] && (bi < 0 || beats(m.nscore[n], n, bv, bi))) bv = m.nscore[n], bi = n;
        warpBest(bv, bi);
        if (lane == 0) m.nkept[bi] = 1;
        __syncwarp();
      }
      for (int g = lane; g < d.G; g += 32) {
        const int r0 = (g * d.gs) / d.epr, r1 = ((g + 1) * d.gs - 1) / d.epr;
        for (int r = r0; r <= r1; ++r)
          if (!m.nkept[d.rankNode[r]]) m.gflag[g] = 0;
      }
    }
    for (int g = lane; g < d.G; g += 32)
      if (m.gflag[g]) {
        const int base = g * d.gs;
        m.gscore[g] = laneReduce(d, d.gs, [&](int j) { return base + j; }, m.sel, true);
      }
    __syncwarp();
    for (int pick = 0; pick < d.M; ++pick) {
      float bv = 0.0f;
      int bi = -1;
      for (int g = lane; g < d.G; g += 32)
        if (m.gflag[g] == 1 && (bi < 0 || beats(m.gscore[g], g, bv, bi))) bv = m.gscore[g], bi = g;
      warpBest(bv, bi);
      if (bi < 0) break;  // fewer allowed groups than M
      if (lane == 0) m.gflag[bi] = 2;
      __syncwarp();
    }
  }
  // Stage 2: each lane keeps its best remaining candidate; the warp takes the
  // best of those k times. Bit j of a lane's masks stands for expert lane + 32 j.
  unsigned long long cand = 0;
  {
    int j = 0;
    for (int e = lane; e < d.E; e += 32, ++j)
      if (d.allGroups || m.gflag[groupOfExpert(d, e)] == 2) cand |= 1ull << j;
  }
  if (d.E <= 32 * kChunk) {
    // At most 8 candidates per lane: keep them in registers (non-candidates at
    // -Inf; sel is finite, and the chosen groups hold at least k experts).
    float sv[kChunk];
#pragma unroll
    for (int u = 0; u < kChunk; ++u) sv[u] = ((cand >> u) & 1ull) ? m.sel[lane + 32 * u] : -INFINITY;
    auto best = [&](float& bv, int& bi) {
      bv = sv[0];
      bi = lane;
#pragma unroll
      for (int u = 1; u < kChunk; ++u)
        if (sv[u] > bv) bv = sv[u], bi = lane + 32 * u;  // strict: ties keep the lower expert
    };
    float lv;
    int li;
    best(lv, li);
    slotExpert = -1;
    for (int i = 0; i < d.k; ++i) {
      float bv = lv;
      int bi = li;
      warpBest(bv, bi);
      if (lane == i) slotExpert = bi;
      if ((bi & 31) == lane) {
#pragma unroll
        for (int u = 0; u < kChunk; ++u)
          if (bi == lane + 32 * u) sv[u] = -INFINITY;
        best(lv, li);
      }
    }
  } else {
    stage2Generic(d, m, lane, cand, slotExpert);
  }
  // The selected expert of lowest s (ties: lower index): argmax of (-s, e).
  float nv = 0.0f;
  int ni = -1;
  if (lane < d.k && slotExpert >= 0) nv = -m.s[slotExpert], ni = slotExpert;
  warpBest(nv, ni);
  lowest = ni;
}

// Stage 2 for E > 256: candidates scanned from shared memory.
__device__ void stage2Generic(const DevSpec& d, const WarpMem& m, int lane, unsigned long long cand,
                              int& slotExpert) {
  auto localBest = [&](float& bv, int& bi) {
    bi = -1;
    for (unsigned long long left = cand; left; left &= left - 1) {
      const int e = lane + 32 * (__ffsll((long long)left) - 1);
      const float v = m.sel[e];
      if (bi < 0 || beats(v, e, bv, bi)) bv = v, bi = e;
    }
  };
  float lv;
  int li;
  localBest(lv, li);
  slotExpert = -1;
  for (int i = 0; i < d.k; ++i) {
    float bv = lv;
    int bi = li;
    warpBest(bv, bi);
    if (lane == i) slotExpert = bi;
    if (bi >= 0 && (bi & 31) == lane) {
      cand &= ~(1ull << (bi >> 5));
      localBest(lv, li);
    }
  }
}

struct FwdOut {
  int32_t* idx;
  float* w;
  float* sraw;  // s of each slot (capacity only), else null
  int32_t* expertCounts;
  int32_t* rankCounts;
  double* scoreSum;  // [E] or null
  Small* small;
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

#include "route/route_fast.cuh"

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

// ---- workspace -----------------------------------------------------------------

// Device scratch and a pinned host buffer per device, grown on demand and kept
// (routing is called every layer of every step). One call at a time per process.
// A call that does not synchronise (out->status) leaves work in flight that
// uses the workspace: `done`, recorded after each call's last use, orders the
// next call after it (cudaStreamWaitEvent, also across streams), and the host
// waits for it before freeing or overwriting the buffers.
struct Workspace {
  void* dev = nullptr;
  size_t devBytes = 0;
  void* host = nullptr;
  size_t hostBytes = 0;
  cudaEvent_t done = nullptr;
};
std::mutex gWorkspaceMutex;
std::map<int, Workspace>& workspaces() {
  static auto* m = new std::map<int, Workspace>();  // never destroyed: CUDA may be gone at exit
  return *m;
}

// A bump allocator over one buffer: plan with base = null, then carve.
struct Carver {
  char* base;
  size_t used = 0;
  template <typename X>
  X* take(size_t count) {
    used = (used + 255) & ~size_t(255);
    X* p = base ? reinterpret_cast<X*>(base + used) : nullptr;
    used += count * sizeof(X);
    return p;
  }
};

// Waits (host) until the previous call's work on the workspace is done.
void waitPrevious(Workspace& ws, const char* fn) {
  if (ws.done) ROUTE_CUDA(cudaEventSynchronize(ws.done));
}

// Orders this call's work after the previous call's (device side, no host wait).
void beginCall(Workspace& ws, cudaStream_t st, const char* fn) {
  if (!ws.done) ROUTE_CUDA(cudaEventCreateWithFlags(&ws.done, cudaEventDisableTiming));
  else ROUTE_CUDA(cudaStreamWaitEvent(st, ws.done, 0));
}

void endCall(Workspace& ws, cudaStream_t st, const char* fn) { ROUTE_CUDA(cudaEventRecord(ws.done, st)); }

void ensure(Workspace& ws, size_t devBytes, size_t hostBytes, const char* fn) {
  if (ws.devBytes < devBytes || ws.hostBytes < hostBytes) waitPrevious(ws, fn);
  if (ws.devBytes < devBytes) {
    if (ws.dev) ROUTE_CUDA(cudaFree(ws.dev));
    ws.dev = nullptr;
    ws.devBytes = 0;
    ROUTE_CUDA(cudaMalloc(&ws.dev, devBytes));
    ws.devBytes = devBytes;
  }
  if (ws.hostBytes < hostBytes) {
    if (ws.host) ROUTE_CUDA(cudaFreeHost(ws.host));
    ws.host = nullptr;
    ws.hostBytes = 0;
    ROUTE_CUDA(cudaMallocHost(&ws.host, hostBytes));
    ws.hostBytes = hostBytes;
  }
}

struct Launch {
  int blocks = 0, threads = 0;
  size_t smem = 0;
};

template <typename Kernel>
Launch queryLaunch(Kernel kernel, int device, size_t smemFixed, size_t smemPerWarp, const char* fn);

// The launch shape of a kernel for one (device, shared-memory need): queried
// once and cached (the queries cost microseconds, a call can take ~20 us).
// Callers hold gWorkspaceMutex.
struct Plan {
  int warps = 0, perSmTimesSms = 0;
  size_t smem = 0;
};
std::map<std::tuple<int, const void*, size_t, size_t>, Plan>& planCache() {
  static auto* m = new std::map<std::tuple<int, const void*, size_t, size_t>, Plan>();
  return *m;
}

template <typename Kernel>
Launch planLaunch(Kernel kernel, size_t smemFixed, size_t smemPerWarp, int64_t T, const char* fn) {
  int device = 0;
  ROUTE_CUDA(cudaGetDevice(&device));
  const auto key = std::make_tuple(device, reinterpret_cast<const void*>(kernel), smemFixed, smemPerWarp);
  auto it = planCache().find(key);
  if (it == planCache().end()) {
    const Launch l = queryLaunch(kernel, device, smemFixed, smemPerWarp, fn);
    Plan p;
    p.warps = l.threads / 32;
    p.smem = l.smem;
    p.perSmTimesSms = l.blocks;
    it = planCache().emplace(key, p).first;
  }
  Launch l;
  l.threads = it->second.warps * 32;
  l.smem = it->second.smem;
  const int64_t need = (T + it->second.warps - 1) / it->second.warps;
  l.blocks = (int)std::max<int64_t>(1, std::min<int64_t>(need, it->second.perSmTimesSms));
  return l;
}

// blocks = how many fit on the device at once (persistent grid).
template <typename Kernel>
Launch queryLaunch(Kernel kernel, int device, size_t smemFixed, size_t smemPerWarp, const char* fn) {
  int sms = 0, maxSmem = 0;
  ROUTE_CUDA(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, device));
  ROUTE_CUDA(cudaDeviceGetAttribute(&maxSmem, cudaDevAttrMaxSharedMemoryPerBlockOptin, device));
  Launch l;
  int warps = 8;
  while (warps > 1 && smemFixed + warps * smemPerWarp > 64 * 1024) warps /= 2;
  l.threads = warps * 32;
  l.smem = smemFixed + warps * smemPerWarp;
  if (l.smem > (size_t)maxSmem)
    throwError(samNotSupported, std::string(fn) + ": numExperts too large for the CUDA kernel's shared memory");
  // The attribute is per kernel, not per launch: only ever raise it (a cached
  // plan with more shared memory must still launch).
  static std::map<const void*, size_t> raised;  // callers hold gWorkspaceMutex
  size_t& most = raised[reinterpret_cast<const void*>(kernel)];
  if (l.smem > most) {
    ROUTE_CUDA(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)l.smem));
    most = l.smem;
  }
  int perSm = 0;
  ROUTE_CUDA(cudaOccupancyMaxActiveBlocksPerMultiprocessor(&perSm, kernel, l.threads, l.smem));
  l.blocks = std::max(perSm, 1) * sms;
  return l;
}

int gridFor(int64_t n) { return (int)std::max<int64_t>(1, std::min<int64_t>((n + 255) / 256, 4096)); }

// A lane tracks its candidate experts in a 64-bit mask: 64 x 32 lanes = 2048.
constexpr int kMaxCudaExperts = 2048;

void checkCudaLimits(const RouteSpec& s, const char* fn) {
  if (s.E > kMaxCudaExperts)
    throwError(samNotSupported, std::string(fn) + ": numExperts is " + std::to_string(s.E) +
                                    ", the CUDA kernels take at most " + std::to_string(kMaxCudaExperts));
}

DevSpec toDev(const RouteSpec& s, int* nodeData) {
  DevSpec d{};
  d.E = s.E, d.R = s.R, d.G = s.G, d.M = s.M, d.N = s.N, d.k = s.k;
  d.gs = s.groupSize, d.epr = s.expertsPerRank, d.topN = s.topN, d.numNodes = s.numNodes;
  d.sigmoid = s.score == samScoreSigmoid;
  d.reduce = s.reduce;
  d.renorm = s.renorm;
  d.scale = s.scale;
  d.bias = s.bias;
  d.allGroups = s.allGroups();
  d.nodeLimited = s.nodeLimited();
  d.gsMagic = divMagic(s.groupSize);
  d.eprMagic = divMagic(s.expertsPerRank);
  d.rankNode = nodeData;
  d.nodeRankStart = nodeData + s.R;
  d.nodeRanks = nodeData + s.R + s.numNodes + 1;
  return d;
}

// Uploads the node layout (rankNode, nodeRankStart, nodeRanks) through the pinned buffer.
void uploadNodes(const RouteSpec& s, int* dst, int* hostStage, cudaStream_t st, const char* fn) {
  std::vector<int> v(s.rankNode);
  v.insert(v.end(), s.nodeRankStart.begin(), s.nodeRankStart.end());
  v.insert(v.end(), s.nodeRanks.begin(), s.nodeRanks.end());
  std::memcpy(hostStage, v.data(), v.size() * sizeof(int));
  ROUTE_CUDA(cudaMemcpyAsync(dst, hostStage, v.size() * sizeof(int), cudaMemcpyHostToDevice, st));
}

size_t nodeWords(const RouteSpec& s) { return 2 * s.R + s.numNodes + 1; }

// Throws the samNumericError of a bad logit or bias found by a kernel.
void raiseBad(const Small& sm, const RouteSpec& spec, const void* logits, samDataType_t dtype, const char* fn) {
  unsigned long long i = 0;
  if (badAt(sm.badLogit, &i)) {
    const size_t bytes = logitBytes(dtype, fn);
    uint32_t raw = 0;
    ROUTE_CUDA(cudaMemcpy(&raw, static_cast<const char*>(logits) + i * bytes, bytes, cudaMemcpyDeviceToHost));
    const float v = logitToFloat(&raw, dtype, 0);
    throwError(samNumericError, badLogitMessage(fn, (int64_t)(i / spec.E), (int)(i % spec.E), v));
  }
  if (badAt(sm.badBias, &i)) {
    float v = 0.0f;
    ROUTE_CUDA(cudaMemcpy(&v, spec.bias + i, sizeof v, cudaMemcpyDeviceToHost));
    throwError(samNumericError, badBiasMessage(fn, (int)i, v));
  }
}

// The shapes fast::routeFastKernel handles (see route_fast.cuh); SAM_ROUTE_GENERIC=1
// forces the general kernel (to compare the two).
bool fastShape(const DevSpec& d) {
  if (paramInt("SAM_ROUTE_GENERIC") != 0) return false;  // read per call: tests switch it
  if (d.E != 64 && d.E != 128 && d.E != 256 && d.E != 512) return false;
  if (d.nodeLimited) return false;
  if (d.allGroups) return true;
  if (d.gs != 32) return false;
  return d.reduce != samGroupReduceTopN || d.topN <= 2;
}

template <typename In, int V>
void launchFast(const DevSpec& d, const void* logits, int64_t T, const FwdOut& o, bool counts, bool stats,
                size_t fixed, size_t perWarp, cudaStream_t st, const char* fn) {
  const Launch l = planLaunch(fast::routeFastKernel<In, V>, fixed, perWarp, T, fn);
  fast::routeFastKernel<In, V><<<l.blocks, l.threads, l.smem, st>>>(d, static_cast<const In*>(logits), T, o, counts,
                                                                    stats);
  ROUTE_CUDA(cudaGetLastError());
}

template <typename In>
void launchForward(const DevSpec& d, const void* logits, int64_t T, const FwdOut& o, bool counts, bool stats,
                   cudaStream_t st, const char* fn) {
  const size_t fixed = counts ? sizeof(int) * (d.E + ((d.R + 1) & ~1)) : 0;  // block histograms
  const size_t perWarp = warpWords(d) * sizeof(float) + (stats ? sizeof(double) * d.E : 0);
  if (fastShape(d)) {
    const size_t fastPerWarp = stats ? sizeof(double) * d.E : 0;
    const size_t fastFixed = fixed + (d.bias ? sizeof(float) * d.E : 0);
    switch (d.E) {
      case 64: launchFast<In, 2>(d, logits, T, o, counts, stats, fastFixed, fastPerWarp, st, fn); return;
      case 128: launchFast<In, 4>(d, logits, T, o, counts, stats, fastFixed, fastPerWarp, st, fn); return;
      case 256: launchFast<In, 8>(d, logits, T, o, counts, stats, fastFixed, fastPerWarp, st, fn); return;
      case 512: launchFast<In, 16>(d, logits, T, o, counts, stats, fastFixed, fastPerWarp, st, fn); return;
    }
  }
  const Launch l = planLaunch(routeForwardKernel<In>, fixed, perWarp, T, fn);
  routeForwardKernel<In><<<l.blocks, l.threads, l.smem, st>>>(d, static_cast<const In*>(logits), T, o, counts,
                                                              stats);
  ROUTE_CUDA(cudaGetLastError());
}

template <template <typename> class Fn, typename... Args>
void byDtype(samDataType_t dtype, Args&&... args) {
  switch (dtype) {
    case samFloat32: Fn<float>::run(args...); break;
    case samFloat16: Fn<__half>::run(args...); break;
    case samBfloat16: Fn<__nv_bfloat16>::run(args...); break;
    default: throwError(samInvalidArgument, "routing: dtype is not a logits type");
  }
}

template <typename In>
struct ForwardLaunch {
  static void run(const DevSpec& d, const void* logits, int64_t T, const FwdOut& o, bool counts, bool stats,
                  cudaStream_t st, const char* fn) {
    launchForward<In>(d, logits, T, o, counts, stats, st, fn);
  }
};

template <typename In>
struct BackwardLaunch {
  static void run(const DevSpec& d, const void* logits, int64_t T, const BwdArgs& a, bool grad, cudaStream_t st,
                  const char* fn) {
    if (!grad) {
      const Launch l = planLaunch(backwardCheckKernel<In>, 0, warpWords(d) * sizeof(float), T, fn);
      backwardCheckKernel<In><<<l.blocks, l.threads, l.smem, st>>>(d, static_cast<const In*>(logits), T, a);
    } else {
      const Launch l = planLaunch(backwardGradKernel<In>, 0, (warpWords(d) + d.E) * sizeof(float), T, fn);
      backwardGradKernel<In><<<l.blocks, l.threads, l.smem, st>>>(d, static_cast<const In*>(logits), T, a);
    }
    ROUTE_CUDA(cudaGetLastError());
  }
};

}  // namespace

void forwardCuda(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                 const samRouteOutput_t& out, samRouteStats_t* stats, void* stream, const char* fn) {
  checkCudaLimits(spec, fn);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const int E = spec.E, R = spec.R, k = spec.k;
  const bool capacity = spec.capacityFactor > 0.0f;
  const int64_t n = T * k;
  if (capacity && n > INT_MAX)
    throwError(samNotSupported, std::string(fn) + ": capacity mode on CUDA takes numTokens * topk < 2^31");
  const bool wantCounts = capacity || out.rankCounts || out.expertCounts || stats;
  const bool wantStats = stats != nullptr;
  // With status and no stats nothing needs the host: enqueue and return.
  const bool syncFree = out.status != nullptr && stats == nullptr;

  std::lock_guard<std::mutex> lock(gWorkspaceMutex);
  int device = 0;
  ROUTE_CUDA(cudaGetDevice(&device));
  Workspace& ws = workspaces()[device];

  // Plan the workspace: small region first (read back in one copy).
  size_t sortTemp = 0, scanTemp = 0;
  if (capacity) {
    ROUTE_CUDA(cub::DeviceRadixSort::SortPairs(nullptr, sortTemp, (unsigned long long*)nullptr,
                                               (unsigned long long*)nullptr, (int32_t*)nullptr, (int32_t*)nullptr,
                                               (int)n, 0, 64, st));
    ROUTE_CUDA(cub::DeviceScan::ExclusiveSum(nullptr, scanTemp, (int32_t*)nullptr, (int32_t*)nullptr, R, st));
  }
  auto layout = [&](char* base, auto& p) {
    Carver c{base};
    p.small = c.take<Small>(1);
    p.scoreSum = c.take<double>(E);
    p.expertCounts = c.take<int32_t>(E);
    p.rankCounts = c.take<int32_t>(R);
    p.smallBytes = c.used;
    p.nodes = c.take<int>(nodeWords(spec));
    p.idx = c.take<int32_t>(n);
    p.w = c.take<float>(n);
    p.sraw = capacity ? c.take<float>(n) : nullptr;
    p.keys = capacity ? c.take<unsigned long long>(n) : nullptr;
    p.keysOut = capacity ? c.take<unsigned long long>(n) : nullptr;
    p.vals = capacity ? c.take<int32_t>(n) : nullptr;
    p.valsOut = capacity ? c.take<int32_t>(n) : nullptr;
    p.drop = capacity ? c.take<unsigned char>(n) : nullptr;
    p.dropped = capacity ? c.take<int32_t>(T) : nullptr;
    p.start = capacity ? c.take<int32_t>(R) : nullptr;
    p.sortTemp = capacity ? c.take<char>(sortTemp) : nullptr;
    p.scanTemp = capacity ? c.take<char>(scanTemp) : nullptr;
    p.total = c.used;
  };
  struct Ptrs {
    Small* small;
    double* scoreSum;
    int32_t *expertCounts, *rankCounts;
    size_t smallBytes;
    int* nodes;
    int32_t* idx;
    float *w, *sraw;
    unsigned long long *keys, *keysOut;
    int32_t *vals, *valsOut;
    unsigned char* drop;
    int32_t *dropped, *start;
    char *sortTemp, *scanTemp;
    size_t total;
  } p{};
  layout(nullptr, p);
  ensure(ws, p.total, std::max(p.smallBytes, nodeWords(spec) * sizeof(int)) + 256, fn);
  layout(static_cast<char*>(ws.dev), p);
  beginCall(ws, st, fn);

  // Reset flags (0 = none found) and sums.
  ROUTE_CUDA(cudaMemsetAsync(p.small, 0, p.smallBytes, st));
  if (spec.nodeLimited()) {
    waitPrevious(ws, fn);  // the pinned staging buffer may still be read by a previous copy
    uploadNodes(spec, p.nodes, static_cast<int*>(ws.host), st, fn);
  }
  const DevSpec d = toDev(spec, p.nodes);

  if (T > 0) {
    FwdOut o{p.idx, p.w, p.sraw, p.expertCounts, p.rankCounts, p.scoreSum, p.small};
    byDtype<ForwardLaunch>(dtype, d, logits, T, o, wantCounts, wantStats, st, fn);
  }
  const int64_t C = capacityFor(spec, T);
  if (capacity && T > 0) {
    const int grid = gridFor(T);
    capacityKeysKernel<<<grid, 256, 0, st>>>(p.idx, p.sraw, T, k, spec.expertsPerRank, p.keys, p.vals);
    ROUTE_CUDA(cudaGetLastError());
    int rankBits = 1;
    while ((1 << rankBits) <= R) ++rankBits;  // 2^rankBits - 1 > R - 1: kNone sorts last
    ROUTE_CUDA(cub::DeviceRadixSort::SortPairs(p.sortTemp, sortTemp, p.keys, p.keysOut, p.vals, p.valsOut, (int)n, 0,
                                               32 + rankBits, st));
    ROUTE_CUDA(cub::DeviceScan::ExclusiveSum(p.scanTemp, scanTemp, p.rankCounts, p.start, R, st));
    ROUTE_CUDA(cudaMemsetAsync(p.drop, 0, n, st));
    capacityMarkKernel<<<gridFor(n), 256, 0, st>>>(p.keysOut, p.valsOut, n, R, p.start, C, p.drop);
    ROUTE_CUDA(cudaGetLastError());
    ROUTE_CUDA(cudaMemsetAsync(p.expertCounts, 0, E * sizeof(int32_t), st));
    ROUTE_CUDA(cudaMemsetAsync(p.rankCounts, 0, R * sizeof(int32_t), st));
    capacityApplyKernel<<<grid, 256, 0, st>>>(p.idx, p.w, p.drop, T, k, spec.expertsPerRank, p.dropped,
                                              p.expertCounts, p.rankCounts, p.small);
    ROUTE_CUDA(cudaGetLastError());
  }
  CommitArgs a{p.idx, p.w, p.dropped, p.expertCounts, p.rankCounts, out, T, k, E, R, p.small, out.status};
  const int64_t commitN = std::max<int64_t>(std::max<int64_t>(n, T), std::max(E, R));
  commitKernel<<<gridFor(commitN), 256, 0, st>>>(a);
  ROUTE_CUDA(cudaGetLastError());
  if (syncFree) {
    endCall(ws, st, fn);
    return;
  }
  ROUTE_CUDA(cudaMemcpyAsync(ws.host, p.small, p.smallBytes, cudaMemcpyDeviceToHost, st));
  endCall(ws, st, fn);
  ROUTE_CUDA(cudaStreamSynchronize(st));

  // Read back what the kernels found (layout of the small region on the host).
  Ptrs h{};
  layout(static_cast<char*>(ws.host), h);
  raiseBad(*h.small, spec, logits, dtype, fn);
  if (stats)
    finishStats(spec, T, h.scoreSum, h.expertCounts, h.rankCounts, (int64_t)h.small->pairsDropped,
                h.small->alignment, C, stats);
}

void backwardCuda(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                  const int32_t* expertIdx, const float* gradWeights, const samRouteLossCoef_t& coef,
                  float* gradLogits, void* stream, const char* fn) {
  checkCudaLimits(spec, fn);
  cudaStream_t st = static_cast<cudaStream_t>(stream);
  const int E = spec.E;
  std::lock_guard<std::mutex> lock(gWorkspaceMutex);
  int device = 0;
  ROUTE_CUDA(cudaGetDevice(&device));
  Workspace& ws = workspaces()[device];
  auto layout = [&](char* base, auto& p) {
    Carver c{base};
    p.small = c.take<Small>(1);
    p.counts = c.take<int32_t>(E);
    p.smallBytes = c.used;
    p.base = c.take<float>(E);
    p.nodes = c.take<int>(nodeWords(spec));
    p.total = c.used;
  };
  struct Ptrs {
    Small* small;
    int32_t* counts;
    size_t smallBytes;
    float* base;
    int* nodes;
    size_t total;
  } p{};
  layout(nullptr, p);
  const size_t hostNeed = std::max(p.smallBytes, std::max(nodeWords(spec) * sizeof(int), E * sizeof(float))) + 256;
  ensure(ws, p.total, hostNeed, fn);
  layout(static_cast<char*>(ws.dev), p);
  beginCall(ws, st, fn);
  waitPrevious(ws, fn);  // the backward stages through the pinned buffer
  ROUTE_CUDA(cudaMemsetAsync(p.small, 0, p.smallBytes, st));
  if (spec.nodeLimited()) uploadNodes(spec, p.nodes, static_cast<int*>(ws.host), st, fn);
  const DevSpec d = toDev(spec, p.nodes);
  BwdArgs a{expertIdx, gradWeights, nullptr, coef.alignment, gradLogits, p.counts, p.small};
  if (T > 0) byDtype<BackwardLaunch>(dtype, d, logits, T, a, false, st, fn);
  ROUTE_CUDA(cudaMemcpyAsync(ws.host, p.small, p.smallBytes, cudaMemcpyDeviceToHost, st));
  ROUTE_CUDA(cudaStreamSynchronize(st));
  Ptrs h{};
  layout(static_cast<char*>(ws.host), h);
  raiseBad(*h.small, spec, logits, dtype, fn);
  unsigned long long badSlot = 0;
  if (badAt(h.small->badIdx, &badSlot)) {
    const int64_t t = (int64_t)(badSlot / spec.k);
    const int i = (int)(badSlot % spec.k);
    int32_t given = 0;
    ROUTE_CUDA(cudaMemcpy(&given, expertIdx + badSlot, sizeof given, cudaMemcpyDeviceToHost));
    std::string what = std::string(fn) + ": expertIdx[" + std::to_string(t) + ", " + std::to_string(i) + "] is " +
                       std::to_string(given);
    if (given < -1 || given >= E) throwError(samInvalidArgument, what + ", must be -1 (dropped) or in [0, " +
                                                                     std::to_string(E) + ")");
    throwError(samInvalidArgument, what + " but these logits and config route that slot elsewhere");
  }
  if (T == 0) return;
  // dL/ds of the balance losses, f_e held constant (computed here in double).
  std::vector<int32_t> counts(h.counts, h.counts + E);
  int64_t pairs = 0;
  for (int e = 0; e < E; ++e) pairs += counts[e];
  float* base = static_cast<float*>(ws.host);
  for (int e = 0; e < E; ++e) {
    double b = 0.0;
    if (pairs > 0) {
      b += coef.expertBalance * (double)E * ((double)counts[e] / pairs) / T;
      const int g0 = spec.groupOf(e) * spec.groupSize;
      double fg = 0.0;
      for (int j = g0; j < g0 + spec.groupSize; ++j) fg += counts[j];
      b += coef.deviceBalance * (double)spec.G * (fg / pairs) / T;
    }
    base[e] = (float)b;
  }
  ROUTE_CUDA(cudaMemcpyAsync(p.base, base, E * sizeof(float), cudaMemcpyHostToDevice, st));
  a.base = p.base;
  byDtype<BackwardLaunch>(dtype, d, logits, T, a, true, st, fn);
  endCall(ws, st, fn);
  ROUTE_CUDA(cudaStreamSynchronize(st));
}

}  // namespace route
}  // namespace sam
