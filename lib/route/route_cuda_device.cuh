// Device-side building blocks of the CUDA routing: the config as the kernels
// see it (DevSpec), the flags read back after a call (Small), warp helpers and
// the general routing of one token by one warp.
// Part of route_cuda.cu: included there, in order, inside sam::route's
// anonymous namespace (like route_fast.cuh).
#pragma once

constexpr unsigned kFull = 0xffffffffu;
constexpr unsigned long long kNone = ~0ull;

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

// Is the group score the group's largest sel (reduce max, or the sum of the
// top 1, which is the same value)?
__host__ __device__ inline bool groupScoreIsMax(const DevSpec& d) {
  return d.reduce == samGroupReduceMax || (d.reduce == samGroupReduceTopN && d.topN == 1);
}

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
  unsigned long long rerouted;  // tokens the row kernel left to the exact path (FwdOut::retry)
  double pad[2];
};

// Programmatic dependent launch (sm_90): a kernel launched by launchAfter
// may start while the kernel before it in the stream is still running, and
// waits here for that kernel's completion and memory before it reads what
// it wrote. (A no-op for a kernel launched without the attribute.)
__device__ __forceinline__ void waitForPreviousKernel() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;" ::: "memory");
#endif
}
// Lets the kernel launched after this one (by launchAfter) be scheduled now:
// its blocks take SM slots as this kernel's blocks exit, instead of after a
// launch gap. It still waits for this kernel's completion (above).
__device__ __forceinline__ void letNextKernelLaunch() {
#if __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;");
#endif
}

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
  // Experts base, base + 32, .. into v from shared memory (one chunk: already there).
  auto loadChunk = [&](int base) {
    if (oneChunk) return;
#pragma unroll
    for (int u = 0; u < kChunk; ++u) v[u] = base + 32 * u < d.E ? m.s[base + 32 * u] : 0.0f;
  };
  float sum = 0.0f;  // lane l: experts l, l+32, ... in order (as route_ref.cc)
  for (int base = lane; base < d.E; base += 32 * kChunk) {
    loadChunk(base);
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
    loadChunk(base);
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

// k rounds of a warp argmax: lane i's slot takes the round-i winner; each
// lane offers localBest(v, e), and the lane owning the winner drops it
// (drop(e)) and offers its next best. kMayRunOut: a lane may offer e < 0
// (none left), and a winner e < 0 is nobody's.
template <bool kMayRunOut, typename LocalBest, typename Drop>
__device__ __forceinline__ void pickTopK(int k, int lane, LocalBest&& localBest, Drop&& drop, int& slotExpert) {
  float lv;
  int li;
  localBest(lv, li);
  slotExpert = -1;
  for (int i = 0; i < k; ++i) {
    float bv = lv;
    int bi = li;
    warpBest(bv, bi);
    if (lane == i) slotExpert = bi;
    if ((!kMayRunOut || bi >= 0) && (bi & 31) == lane) {
      drop(bi);
      localBest(lv, li);
    }
  }
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
    pickTopK<false>(d.k, lane, best,
             [&](int e) {
#pragma unroll
               for (int u = 0; u < kChunk; ++u)
                 if (e == lane + 32 * u) sv[u] = -INFINITY;
             },
             slotExpert);
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
  pickTopK<true>(d.k, lane, localBest, [&](int e) { cand &= ~(1ull << (e >> 5)); }, slotExpert);
}
