// The specialised forward kernel for the common shapes (included by
// route_cuda.cu, after DevSpec, Small and FwdOut): E = 32 V experts with V in
// {2, 4, 8, 16} a template parameter, no node limit, and either every group
// kept or groups of exactly 32 experts (G = V, group g = register g of every
// lane), reduce sum, max or sum of the top n <= 2. One warp per token, lane l
// holds experts l + 32 j (j < V) in registers from load to output: no shared
// memory per token, no lane-serial loops. Group scores of all G groups come
// out of one transposed butterfly (each level halves the groups a lane keeps),
// top-M and top-k by warp-wide integer reductions on orderable score bits.
// Every sum is in the order docs/ROUTING.md defines (warp order), so the
// results are the reference's bits; the general kernel covers everything else.
// Included inside sam::route's anonymous namespace.
#pragma once

namespace fast {

// ordKey and keyValue (floats as sortable ints) are in route_keys.h.

__device__ __forceinline__ int warpMax(int v) {
#if __CUDA_ARCH__ >= 800
  return __reduce_max_sync(kFull, v);
#else
#pragma unroll
  for (int o = 16; o >= 1; o >>= 1) v = max(v, __shfl_xor_sync(kFull, v, o));
  return v;
#endif
}
__device__ __forceinline__ int warpMin(int v) {
#if __CUDA_ARCH__ >= 800
  return __reduce_min_sync(kFull, v);
#else
#pragma unroll
  for (int o = 16; o >= 1; o >>= 1) v = min(v, __shfl_xor_sync(kFull, v, o));
  return v;
#endif
}

template <typename In>
__device__ __forceinline__ float loadLogit(const In* p);
template <>
__device__ __forceinline__ float loadLogit<float>(const float* p) { return __ldcs(p); }
template <>
__device__ __forceinline__ float loadLogit<__nv_bfloat16>(const __nv_bfloat16* p) {
  return __uint_as_float((unsigned)__ldcs(reinterpret_cast<const unsigned short*>(p)) << 16);
}
template <>
__device__ __forceinline__ float loadLogit<__half>(const __half* p) {
  return __half2float(__ushort_as_half(__ldcs(reinterpret_cast<const unsigned short*>(p))));
}

// The two largest values of a set (a >= b), for the sum of the top n <= 2.
struct Top2 {
  float a, b;
};
// Combining operations of the group reduction (compile-time: no per-step select).
struct SumOp {
  __device__ __forceinline__ float operator()(float x, float y) const { return x + y; }
};
struct MaxOp {
  __device__ __forceinline__ float operator()(float x, float y) const { return fmaxf(x, y); }
};
struct Top2Op {
  __device__ __forceinline__ Top2 operator()(Top2 x, Top2 y) const {
    return {fmaxf(x.a, y.a), fmaxf(fminf(x.a, y.a), fmaxf(x.b, y.b))};
  }
};
__device__ __forceinline__ float shflXor(float v, int o) { return __shfl_xor_sync(kFull, v, o); }
__device__ __forceinline__ Top2 shflXor(Top2 v, int o) { return {shflXor(v.a, o), shflXor(v.b, o)}; }

// v[g] = this lane's value of group g (G = V groups). Returns the reduction of
// group (lane >> (5 - log2 V)) over all 32 lanes. Level o (16, 8, ...): a lane
// keeps the upper half of its groups if bit o of the lane is set, sends the
// other half to lane ^ o and combines what it receives: the same pairs as a
// butterfly of each group separately (x + y == y + x bit for bit), with V - 1
// shuffles in all instead of 5 V.
template <int V, typename Op, typename X>
__device__ __forceinline__ X transposedReduce(Op op, X (&v)[V], int lane) {
  int o = 16;
#pragma unroll
  for (int n = V; n > 1; n >>= 1, o >>= 1) {
    const bool upper = (lane & o) != 0;
#pragma unroll
    for (int i = 0; i < n / 2; ++i) {
      const X lo = v[i], hi = v[i + n / 2];
      const X recv = shflXor(upper ? lo : hi, o);
      v[i] = op(upper ? hi : lo, recv);
    }
  }
  X r = v[0];
#pragma unroll
  for (; o >= 1; o >>= 1) r = op(r, shflXor(r, o));
  return r;
}

// This lane's two best candidates among key[j] with bit j of `taken` clear,
// in (key desc, j asc) order (INT_MIN = none), with their scores s[j] if kS.
template <int V, bool kS>
__device__ __forceinline__ void laneTop2(const int (&key)[V], const float (&s)[V], unsigned taken, int& b1, int& j1,
                                         float& s1, int& b2, int& j2, float& s2) {
  b1 = INT_MIN, j1 = 0, s1 = 0.0f, b2 = INT_MIN, j2 = 0, s2 = 0.0f;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    const int v = ((taken >> j) & 1u) ? INT_MIN : key[j];
    const bool gt1 = v > b1, gt2 = v > b2;
    b2 = gt1 ? b1 : gt2 ? v : b2;
    j2 = gt1 ? j1 : gt2 ? j : j2;
    if (kS) s2 = gt1 ? s1 : gt2 ? s[j] : s2;
    b1 = gt1 ? v : b1;
    j1 = gt1 ? j : j1;
    if (kS) s1 = gt1 ? s[j] : s1;
  }
}

// Stage 2's picks (see the kernel): this lane's slot of the top k (lane < k:
// expert myE, score myS), the sum of the k scores in slot order and the lowest.
// kBias: the weight is s, not the key: it travels along with the key
// (s1, s2), one shuffle per pick to read it.
template <int V, bool kBias>
__device__ __forceinline__ void pickTopK(const int (&key)[V], const float (&s)[V], int k, int nCand, int lane, int& myE,
                                         float& myS, float& denom, float& lowS) {
  int b1, j1, b2 = INT_MIN, j2 = 0;
  float s1 = 0.0f, s2 = 0.0f;
  if (nCand == 1 || k == 1) {  // one register per lane (M = 1, groups of 32), or one pick: the best only
    b1 = key[0];
#pragma unroll
    for (int j = 1; j < V; ++j) b1 = max(b1, key[j]);
    j1 = 0;
#pragma unroll
    for (int j = V - 1; j >= 0; --j)
      if (key[j] == b1) {
        j1 = j;
        if (kBias) s1 = s[j];
      }
  } else {
    laneTop2<V, kBias>(key, s, 0u, b1, j1, s1, b2, j2, s2);
  }
  unsigned taken = 0;  // registers of this lane already picked
  int used = 0;
  for (int i = 0; i < k; ++i) {
    const int best = warpMax(b1);
    const int e = warpMin(b1 == best ? (j1 << 5) | lane : INT_MAX);  // ties: the lower expert
    const float se = kBias ? __shfl_sync(kFull, s1, e & 31) : keyValue(best);  // no bias: sel == s
    if (i + 1 < k) {  // the owner drops its pick (not needed after the last)
      const bool owner = lane == (e & 31);
      if (owner) {
        taken |= 1u << j1;
        ++used;
        b1 = b2, j1 = j2, s1 = s2, b2 = INT_MIN;
      }
      if (__any_sync(kFull, owner && b1 == INT_MIN && used < nCand)) {
        if (owner && b1 == INT_MIN && used < nCand) laneTop2<V, kBias>(key, s, taken, b1, j1, s1, b2, j2, s2);
      }
    }
    if (lane == i) myE = e, myS = se;
    denom += se;             // slot order, as tokenWeights
    lowS = fminf(lowS, se);  // the lowest selected score (for the alignment loss)
  }
}

// What the fast kernels keep in shared memory per block (what is not needed is
// null): routeExpNonPos's table, the selection bias, the block histograms and
// this warp's row of score sums (doubles, stats only).
struct FastShared {
  const uint32_t* exp2;
  const float* bias;
  int* hE;
  int* hR;
  double* acc;
  char* end;   // the first byte of dynamic shared memory after these
};

// Counts one token's slot (lane < k holds expert myE; `slot` says so) in the
// block histograms: per expert, and per rank once for the token (the first
// slot of its rank: no lower lane has the same rank; non-slots hold -1).
__device__ __forceinline__ void countSlot(const DevSpec& d, const FastShared& sh, int myE, bool slot, int lane) {
  const int r = !slot ? -1 : d.epr == 1 ? myE : (int)__umulhi((unsigned)myE, d.eprMagic);
  const bool first = (__match_any_sync(kFull, r) & ((1u << lane) - 1u)) == 0;
  if (slot) {
    atomicAdd(&sh.hE[myE], 1);
    if (first) atomicAdd(&sh.hR[r], 1);
  }
}

// Fills the block's shared memory and returns the view of it (every thread
// calls it; ends with __syncthreads). Layout: per-warp sums of s [wpb][E]
// (stats), block histograms hE[E], hR[R] (counts), the bias [E]; kept out of
// registers, which set how many warps fit. `end` is where it stops (a kernel
// may put more after it).
template <int E>
__device__ FastShared fastSetup(const DevSpec& d, const FwdOut& o, int wantCounts, int wantStats) {
  extern __shared__ double smemD[];
  __shared__ uint32_t sExp2[64];  // indexed per lane, so shared memory, not constant
  const int warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  double* pAcc = smemD;
  int* hE = reinterpret_cast<int*>(pAcc + (wantStats ? wpb * E : 0));
  int* hR = hE + (wantCounts ? E : 0);
  float* sBias = reinterpret_cast<float*>(hR + (wantCounts ? ((d.R + 1) & ~1) : 0));
  if (wantStats)
    for (int j = threadIdx.x; j < wpb * E; j += blockDim.x) pAcc[j] = 0.0;
  if (wantCounts) {
    for (int j = threadIdx.x; j < E; j += blockDim.x) hE[j] = 0;
    for (int j = threadIdx.x; j < d.R; j += blockDim.x) hR[j] = 0;
  }
  for (int j = threadIdx.x; j < 64; j += blockDim.x) sExp2[j] = kExp2TableDev[j];
  // A kernel launched by launchAfter (the row and retry kernels) may start
  // while the previous kernel in the stream still runs, and that one may
  // have written the bias or the logits, or still read the workspace:
  // nothing global is read or written above. (A no-op after a plain launch.)
  waitForPreviousKernel();
  if (d.bias)
    for (int j = threadIdx.x; j < E; j += blockDim.x) {
      sBias[j] = d.bias[j];
      if (blockIdx.x == 0 && !isfinite(sBias[j])) noteBad(&o.small->badBias, (unsigned long long)j);
    }
  __syncthreads();
  return FastShared{sExp2,
                    d.bias ? sBias : nullptr,
                    wantCounts ? hE : nullptr,
                    wantCounts ? hR : nullptr,
                    wantStats ? pAcc + warp * E : nullptr,
                    reinterpret_cast<char*>(sBias + (d.bias ? E : 0))};
}

// The end of a fast kernel: the block's alignment sum, score sums and
// histograms go to global memory (one atomic per block and counter).
template <int E>
__device__ void fastFinish(const DevSpec& d, const FwdOut& o, const FastShared& sh, double align) {
  const int lane = threadIdx.x & 31, wpb = blockDim.x >> 5;
  if (sh.acc) {
#pragma unroll
    for (int off = 16; off >= 1; off >>= 1) align += __shfl_xor_sync(kFull, align, off);
    if (lane == 0 && align != 0.0) atomicAdd(&o.small->alignment, align);
  }
  __syncthreads();
  if (sh.acc) {
    const double* pAcc = sh.acc - (threadIdx.x >> 5) * E;
    for (int j = threadIdx.x; j < E; j += blockDim.x) {
      double sum = 0.0;
      for (int w2 = 0; w2 < wpb; ++w2) sum += pAcc[w2 * E + j];
      if (sum != 0.0) atomicAdd(&o.scoreSum[j], sum);
    }
  }
  if (sh.hE) {
    for (int j = threadIdx.x; j < E; j += blockDim.x)
      if (sh.hE[j]) atomicAdd(&o.expertCounts[j], sh.hE[j]);
    for (int j = threadIdx.x; j < d.R; j += blockDim.x)
      if (sh.hR[j]) atomicAdd(&o.rankCounts[j], sh.hR[j]);
  }
}

// Routes token t exactly (the reference's bits) from s = its logits, lane l
// holding experts l + 32 j: outputs, counts, score sums and the alignment
// term. A non-finite logit is noted and nothing is written for the token.
template <int V>
__device__ __forceinline__ void exactTokenBody(const DevSpec& d, const FwdOut& o, const FastShared& sh, int64_t t,
                                               float (&s)[V], int lane, double& align) {
  constexpr int E = 32 * V;
  constexpr int kLog2V = V == 2 ? 1 : V == 4 ? 2 : V == 8 ? 3 : 4;
  const int k = d.k;
  const int myGroup = lane >> (5 - kLog2V);  // the group whose score this lane ends up holding
  float poison = 0.0f;
#pragma unroll
  for (int j = 0; j < V; ++j) poison = fmaExact(s[j], 0.0f, poison);  // NaN iff some value is NaN or Inf
  if (__any_sync(kFull, poison != poison)) {
    int bad = INT_MAX;
#pragma unroll
    for (int j = V - 1; j >= 0; --j)
      if (!isfinite(s[j])) bad = lane + 32 * j;
    bad = warpMin(bad);
    if (lane == 0) noteBad(&o.small->badLogit, (unsigned long long)(t * E + bad));
    return;
  }
  // Scores (route_ref.cc tokenScores: the same operations in the same order).
  if (d.sigmoid) {
#pragma unroll
    for (int j = 0; j < V; ++j) s[j] = routeSigmoid(s[j], sh.exp2);
  } else {
    float mx = s[0];
#pragma unroll
    for (int j = 1; j < V; ++j) mx = fmaxf(mx, s[j]);
#pragma unroll
    for (int off = 16; off >= 1; off >>= 1) mx = fmaxf(mx, __shfl_xor_sync(kFull, mx, off));
    float sum = 0.0f;  // warp order: lane l adds experts l, l + 32, ... then the butterfly
#pragma unroll
    for (int j = 0; j < V; ++j) {
      s[j] = routeExpNonPos(s[j] - mx, sh.exp2);  // x - max <= 0
      sum += s[j];
    }
#pragma unroll
    for (int off = 16; off >= 1; off >>= 1) sum += __shfl_xor_sync(kFull, sum, off);
    const float inv = 1.0f / sum;
#pragma unroll
    for (int j = 0; j < V; ++j) s[j] = s[j] * inv;
  }
  float sel[V];
#pragma unroll
  for (int j = 0; j < V; ++j) sel[j] = sh.bias ? s[j] + sh.bias[lane + 32 * j] : s[j];
  if (sh.acc)
#pragma unroll
    for (int j = 0; j < V; ++j) sh.acc[lane + 32 * j] += (double)s[j];  // this lane's own entries

  // Stage 1: the top M groups (group g = register g), all groups' scores at once.
  unsigned chosen = ~0u;
  if (!d.allGroups) {
    float gscore;
    if (d.reduce == samGroupReduceTopN && d.topN == 2) {
      Top2 v[V];
#pragma unroll
      for (int j = 0; j < V; ++j) v[j] = {sel[j], -INFINITY};
      const Top2 r = transposedReduce<V>(Top2Op(), v, lane);
      gscore = r.a + r.b;  // (0 + largest) + second, as the reference adds them
    } else {
      float v[V];
#pragma unroll
      for (int j = 0; j < V; ++j) v[j] = sel[j];
      if (d.reduce == samGroupReduceSum) gscore = transposedReduce<V>(SumOp(), v, lane);
      else gscore = transposedReduce<V>(MaxOp(), v, lane);  // max, or the top 1
    }
    int gkey = ordKey(gscore);
    chosen = 0;
    for (int pick = 0; pick < d.M; ++pick) {
      const int best = warpMax(gkey);
      const int g = warpMin(gkey == best ? myGroup : INT_MAX);  // ties: the lower group
      chosen |= 1u << g;
      if (myGroup == g) gkey = INT_MIN;
    }
  }

  // Stage 2: the top k experts of the chosen groups by sel. Each lane keeps
  // its best two candidates (key, register), in (key desc, register asc)
  // order, which is expert order within a lane. A pick is the warp max of the
  // lanes' first keys, then the lowest expert (32 j + lane) among the lanes
  // holding it; the owner moves its second candidate up. Only a lane picked
  // twice with candidates left rescans (rare; warp-uniform branch), so a pick
  // costs two reductions and a few selects instead of a pass over V values.
  int key[V];
  if (sh.bias) {
#pragma unroll
    for (int j = 0; j < V; ++j) key[j] = ((chosen >> j) & 1u) ? ordKey(sel[j]) : INT_MIN;
  } else {  // sel = s >= +0: the float bits already order as ints
#pragma unroll
    for (int j = 0; j < V; ++j) key[j] = ((chosen >> j) & 1u) ? __float_as_int(sel[j]) : INT_MIN;
  }
  const int nCand = __popc(chosen & ((1u << V) - 1u));  // candidate registers per lane (warp-uniform)
  int myE = 0;
  float myS = 0.0f, lowS = INFINITY, denom = 0.0f;
  if (sh.bias) pickTopK<V, true>(key, s, k, nCand, lane, myE, myS, denom, lowS);
  else pickTopK<V, false>(key, s, k, nCand, lane, myE, myS, denom, lowS);
  float w = myS;
  if (d.renorm) w = denom > 0.0f ? w / denom : 0.0f;
  w = w * d.scale;
  if (lane < k) {
    o.idx[t * k + lane] = myE;
    o.w[t * k + lane] = w;
    if (o.sraw) o.sraw[t * k + lane] = myS;
  }
  if (sh.hE) countSlot(d, sh, myE, lane < k, lane);
  if (sh.acc && !d.allGroups) {
    float a = 0.0f;  // outside the chosen groups, above the lowest selected score
#pragma unroll
    for (int j = 0; j < V; ++j)
      if (!((chosen >> j) & 1u)) a += fmaxf(0.0f, s[j] - lowS);
    align += (double)a;
  }
}

// exactTokenBody for token t read again from memory: the way out of the
// approximate kernel (route_approx.cuh) for a token it cannot decide. Not
// inlined, so that its registers do not weigh on the caller's loop; takes
// the config by value, so that the caller's stays in kernel parameters (a
// reference would copy it to local memory for the whole kernel). Returns the
// token's alignment term.
template <typename In, int V>
__device__ __noinline__ double exactToken(DevSpec d, const In* logits, FwdOut o, FastShared sh, int64_t t) {
  const int lane = threadIdx.x & 31;
  float s[V];
#pragma unroll
  for (int j = 0; j < V; ++j) s[j] = loadLogit<In>(logits + t * 32 * V + lane + 32 * j);
  double align = 0.0;
  exactTokenBody<V>(d, o, sh, t, s, lane, align);
  return align;
}

// The exact fast kernel: one warp per token, every token by exactTokenBody.
template <typename In, int V>
__global__ void __launch_bounds__(256, V <= 8 ? 4 : 1) routeFastKernel(DevSpec d, const In* __restrict__ logits, int64_t T, FwdOut o,
                                                       int wantCounts, int wantStats) {
  constexpr int E = 32 * V;
  const FastShared sh = fastSetup<E>(d, o, wantCounts, wantStats);
  const int lane = threadIdx.x & 31, wpb = blockDim.x >> 5;
  double align = 0.0;
  const int64_t stride = (int64_t)gridDim.x * wpb;
  int64_t t = (int64_t)blockIdx.x * wpb + (threadIdx.x >> 5);
  float cur[V];
  if (t < T)
#pragma unroll
    for (int j = 0; j < V; ++j) cur[j] = loadLogit<In>(logits + t * E + lane + 32 * j);
  for (; t < T; t += stride) {
    float s[V];
#pragma unroll
    for (int j = 0; j < V; ++j) s[j] = cur[j];
    // Fetch the next token's logits now, so their latency hides behind this one.
    if (t + stride < T)
#pragma unroll
      for (int j = 0; j < V; ++j) cur[j] = loadLogit<In>(logits + (t + stride) * E + lane + 32 * j);
    exactTokenBody<V>(d, o, sh, t, s, lane, align);
  }
  fastFinish<E>(d, o, sh, align);
}

}  // namespace fast
