// The approximate fast kernel: the same shapes as routeFastKernel (E = 32 V,
// V in {2, 4, 8, 16}; every group kept, or groups of 32 experts), without
// capacity. It decides each token with the hardware exp (ex2.approx, three
// instructions instead of routeExpNonPos's fourteen), then proves that the
// decision is the reference's: every comparison that decided it (the M-th
// group against the best group left out, each selected expert against the
// next one, the k-th against the best expert left out) must be either a tie
// of identical inputs (then both sides break it alike, to the lower index) or
// farther apart than the two computations' error bounds. A token that fails
// (about 1 in 1000 on random logits; every token of a constant row) is routed
// by exactTokenBody instead, with the reference's bits. So the indices are
// always the reference's; weights differ from it by at most a few ulps (the
// softmax denominator is summed from the hardware exp; the weights'
// numerators use routeExpNonPos / routeSigmoid), within the 1e-6 relative that
// docs/ROUTING.md promises.
//
// Layout: lane l holds NC chunks of CW contiguous experts, chunk c covering
// experts c*32*CW + l*CW + [0, CW), read by one vector load each. A chunk lies
// in one group of 32, spread over 32 / CW lanes: a group's score is a reduction
// over the chunk's values and then over those lanes.
//
// Keys are ints, smaller is better, ties to the lower index:
//  - softmax without a bias ("kExactU"): the key of expert e is the bits of
//    u = max - x[e] >= +0, the very value whose exp the reference takes
//    (x - max = -u exactly), so an expert's order is exact: equal u give equal
//    scores on both sides, and u apart by >= 2^-18 (with the smaller one
//    <= 86, above the exp's floor at 87) give strictly ordered scores despite
//    either exp's error (1 ulp for routeExpNonPos, where 2^-18 is ~32 ulps);
//    group max is the min u (exact); group sum and top-2 sums are of the
//    approximate exp, with the bound kSumRel * score + kSumAbs;
//  - otherwise (sigmoid, or a selection bias): sel = s + bias from the
//    approximate s (|error| <= kSigmoidErr for sigmoid, kSoftmaxErr for
//    softmax), key = ~ordKey(sel); two selected experts are called apart only
//    if sel differs by more than twice the bound dSel (which counts the
//    rounding of s + bias, up to 1 + max |bias|), or tie on identical inputs
//    (same logit, same bias). A group sum of 32 such values is not handled
//    here (the exact kernel takes it); max and top-2 sums are.
// Included inside sam::route's anonymous namespace, after route_fast.cuh.
#pragma once

namespace fast {

constexpr float kULimit = 86.0f;               // keys above are at the exp's floor (87) or near it
constexpr float kUGap = 0x1p-18f;              // u apart by more: exact scores strictly ordered
constexpr float kSumRel = 0x1p-16f;            // bound on a group sum of exps, relative part
constexpr float kSumAbs = 0x1p-18f;            //   absolute part (in units of the largest exp, 1)
constexpr float kSigmoidErr = 0x1p-19f;        // |approximate - exact| sigmoid (each is within ~3e-7)
constexpr float kSoftmaxErr = 0x1p-17f;        // |approximate - exact| softmax score (sum order, exp)
constexpr float kNegLog2e = -1.4426950408889634f;

__device__ __forceinline__ float ex2Approx(float x) {
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}
__device__ __forceinline__ float rcpApprox(float x) {
  float y;
  asm("rcp.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
  return y;
}

// Are two exact-mode keys (u, a <= b) certainly in this order on both sides?
__device__ __forceinline__ bool uApart(float a, float b) { return a == b || (b - a >= kUGap && b <= kULimit); }

// How the logits of one lane sit in chunks (see the top of this file).
template <typename In, int V>
struct Chunks {
  static constexpr int CW = sizeof(In) == 4 ? (V < 4 ? V : 4) : (V < 8 ? V : 8);  // experts per vector load
  static constexpr int NC = V / CW;
  static constexpr int W = CW * (int)sizeof(In) / 4;  // 32-bit words per chunk
  static constexpr int kLog2CW = CW == 2 ? 1 : CW == 4 ? 2 : 3;
  static constexpr int kGroupLanes = 32 / CW;  // lanes sharing a group of 32
  // Expert of this lane's value j.
  __device__ static int expert(int j, int lane) { return (j / CW) * 32 * CW + lane * CW + (j % CW); }
  // This lane's value index of its expert e.
  __device__ static int slotOf(int e) { return (e >> (5 + kLog2CW)) * CW + (e & (CW - 1)); }
};

template <int W>
struct Words;
template <>
struct Words<1> {
  __device__ static void load(const uint32_t* p, uint32_t* w) { w[0] = __ldcs(p); }
};
template <>
struct Words<2> {
  __device__ static void load(const uint32_t* p, uint32_t* w) {
    const uint2 v = __ldcs(reinterpret_cast<const uint2*>(p));
    w[0] = v.x, w[1] = v.y;
  }
};
template <>
struct Words<4> {
  __device__ static void load(const uint32_t* p, uint32_t* w) {
    const uint4 v = __ldcs(reinterpret_cast<const uint4*>(p));
    w[0] = v.x, w[1] = v.y, w[2] = v.z, w[3] = v.w;
  }
};

// Token t's raw words for this lane (NC vector loads).
template <typename In, int V>
__device__ __forceinline__ void loadRaw(const In* logits, int64_t t, int lane, uint32_t (&raw)[V * sizeof(In) / 4]) {
  using C = Chunks<In, V>;
#pragma unroll
  for (int c = 0; c < C::NC; ++c)
    Words<C::W>::load(reinterpret_cast<const uint32_t*>(logits + t * 32 * V + c * 32 * C::CW + lane * C::CW),
                      raw + c * C::W);
}

template <typename In>
struct Unpack;
template <>
struct Unpack<float> {
  template <int V>
  __device__ static void run(const uint32_t (&raw)[V], float (&x)[V]) {
#pragma unroll
    for (int j = 0; j < V; ++j) x[j] = __uint_as_float(raw[j]);
  }
};
template <>
struct Unpack<__nv_bfloat16> {
  template <int V>
  __device__ static void run(const uint32_t (&raw)[V / 2], float (&x)[V]) {
#pragma unroll
    for (int j = 0; j < V / 2; ++j) {
      x[2 * j] = __uint_as_float(raw[j] << 16);
      x[2 * j + 1] = __uint_as_float(raw[j] & 0xffff0000u);
    }
  }
};
template <>
struct Unpack<__half> {
  template <int V>
  __device__ static void run(const uint32_t (&raw)[V / 2], float (&x)[V]) {
#pragma unroll
    for (int j = 0; j < V / 2; ++j) {
      const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&raw[j]));
      x[2 * j] = f.x, x[2 * j + 1] = f.y;
    }
  }
};

__device__ __forceinline__ int shflXor(int v, int o) { return __shfl_xor_sync(kFull, v, o); }
struct MinFloatOp {
  __device__ __forceinline__ float operator()(float x, float y) const { return fminf(x, y); }
};

// Reduction over the lanes of one group (32 / CW aligned lanes).
template <int kLanes, typename X, typename Op>
__device__ __forceinline__ X groupLanes(X v, Op op) {
#pragma unroll
  for (int o = kLanes / 2; o >= 1; o >>= 1) v = op(v, shflXor(v, o));
  return v;
}

// A key for "larger is better" floats: smaller key = larger value.
__device__ __forceinline__ int descKey(float v) { return ~ordKey(v); }
__device__ __forceinline__ float descValue(int k) { return keyValue(~k); }

// Keys carry their index in the low bits (expert: 9 bits, E <= 512; group:
// 4 bits, G <= 16), so one warp min finds the best and which: the order is
// by the value rounded down to a bucket, then by index. Within a bucket that
// may not be the value's order, so every decision is checked on the actual
// values (row[] or the group's own), and the boundary against the best value
// the runner-up's bucket can hold.
constexpr int kExpertBits = 511, kGroupBits = 15;
__device__ __forceinline__ int tagged(int key, int idx, int bits) { return (key & ~bits) | idx; }

// The approximate sigmoid (|error| <= kSigmoidErr): exp(-|x|) by ex2.approx.
__device__ __forceinline__ float sigmoidApprox(float x) {
  const float a = ex2Approx(fabsf(x) * kNegLog2e);
  return (x >= 0.0f ? 1.0f : a) * rcpApprox(1.0f + a);
}

template <typename In, int V, bool kExactU>
__global__ void __launch_bounds__(256, V <= 8 ? 4 : 2)
    routeApproxKernel(DevSpec d, const In* __restrict__ logits, int64_t T, FwdOut o, int wantCounts, int wantStats) {
  using C = Chunks<In, V>;
  constexpr int E = 32 * V, CW = C::CW, NC = C::NC;
  constexpr int kRaw = V * sizeof(In) / 4;
  const FastShared sh = fastSetup<E>(d, o, wantCounts, wantStats, true);
  float* const row = sh.row;
  const int lane = threadIdx.x & 31, wpb = blockDim.x >> 5;
  const bool sigmoid = !kExactU && d.sigmoid;  // exact mode is softmax without a bias

  // This lane's bias values stay in registers; dSel bounds |approximate sel - exact sel|.
  float bias[V];
  float maxAbsBias = 0.0f;
#pragma unroll
  for (int j = 0; j < V; ++j) {
    bias[j] = !kExactU && sh.bias ? sh.bias[C::expert(j, lane)] : 0.0f;
    maxAbsBias = fmaxf(maxAbsBias, fabsf(bias[j]));
  }
  maxAbsBias = __int_as_float(warpMax(__float_as_int(maxAbsBias)));  // >= +0: the bits order as ints
  const float dSel = (sigmoid ? kSigmoidErr : kSoftmaxErr) + (1.0f + maxAbsBias) * 0x1p-21f;
  // The group reduction as this kernel sees it: 0 sum, 1 max (or the top 1), 2 sum of the top 2.
  const int reduce = d.reduce == samGroupReduceMax || (d.reduce == samGroupReduceTopN && d.topN == 1) ? 1
                     : d.reduce == samGroupReduceTopN                                                  ? 2
                                                                                                       : 0;
  const bool groupMinU = kExactU && reduce == 1;  // group key = the min u: exact, ties are ties
  const int k = d.k;
  const int nCand = d.allGroups ? E : d.M * 32;
  const int G = d.G;

  // The value a key stands for, for the checks: u (exact mode) or sel.
  auto keyValueOf = [&](int key) { return kExactU ? __int_as_float(key) : descValue(key); };
  // Are a (selected) and b (after it) certainly in this order on both sides?
  auto apart = [&](float a, float b) { return kExactU ? uApart(a, b) : a - b > 2.0f * dSel; };

  double align = 0.0;
  const int64_t stride = (int64_t)gridDim.x * wpb;
  int64_t t = (int64_t)blockIdx.x * wpb + (threadIdx.x >> 5);
  uint32_t next[kRaw];
  if (t < T) loadRaw<In, V>(logits, t, lane, next);
  for (; t < T; t += stride) {
    float x[V];
    {
      uint32_t raw[kRaw];
#pragma unroll
      for (int j = 0; j < kRaw; ++j) raw[j] = next[j];
      if (t + stride < T) loadRaw<In, V>(logits, t + stride, lane, next);  // the next token's, in flight
      Unpack<In>::template run<V>(raw, x);
    }
    // The exact path for this token; `next` is fetched again after it, so the
    // prefetch is not live across the call (it would be kept in local memory).
    auto exactInstead = [&]() {
      align += exactToken<In, V>(d, logits, o, sh, t);
      if (t + stride < T) loadRaw<In, V>(logits, t + stride, lane, next);
    };
    float poison = 0.0f;
#pragma unroll
    for (int j = 0; j < V; ++j) poison = fmaExact(x[j], 0.0f, poison);  // NaN iff some logit is NaN or Inf
    if (__any_sync(kFull, poison != poison)) {  // the exact path finds and notes it
      exactInstead();
      continue;
    }
    __syncwarp();  // the previous token's reads of row are done
#pragma unroll
    for (int c = 0; c < NC; ++c) {
      float* dst = row + c * 32 * CW + lane * CW;
      if (CW == 2) *reinterpret_cast<float2*>(dst) = make_float2(x[c * CW], x[c * CW + 1]);
#pragma unroll
      for (int q = 0; CW >= 4 && q < CW; q += 4)
        *reinterpret_cast<float4*>(dst + q) = make_float4(x[c * CW + q], x[c * CW + q + 1], x[c * CW + q + 2], x[c * CW + q + 3]);
    }
    __syncwarp();  // row is read by every lane below

    // Scores. val: what groups reduce (exact mode: the exp; else sel).
    float mx = 0.0f, inv = 0.0f;
    float val[V];
    int key[V];
    if (!sigmoid) {
      mx = x[0];
#pragma unroll
      for (int j = 1; j < V; ++j) mx = fmaxf(mx, x[j]);
      mx = keyValue(warpMax(ordKey(mx)));
      float sum = 0.0f;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const float u = mx - x[j];  // the reference's x - max, negated: exact
        val[j] = ex2Approx(u * kNegLog2e);
        sum += val[j];
        if (kExactU) key[j] = tagged(__float_as_int(u), C::expert(j, lane), kExpertBits);
      }
#pragma unroll
      for (int off = 16; off >= 1; off >>= 1) sum += __shfl_xor_sync(kFull, sum, off);
      inv = 1.0f / sum;
      if (!kExactU)
#pragma unroll
        for (int j = 0; j < V; ++j) val[j] = fmaExact(val[j], inv, bias[j]);
    } else {
#pragma unroll
      for (int j = 0; j < V; ++j) val[j] = sigmoidApprox(x[j]) + bias[j];
    }
    if (!kExactU)
#pragma unroll
      for (int j = 0; j < V; ++j) key[j] = tagged(descKey(val[j]), C::expert(j, lane), kExpertBits);

    bool sure = true;
    // Stage 1: the top M groups. graw: the group's score as an int key
    // (smaller is better), gk: tagged with the group.
    unsigned chunkChosen = (1u << NC) - 1u;
    if (!d.allGroups) {
      int graw[NC], gk[NC];
#pragma unroll
      for (int c = 0; c < NC; ++c) {
        if (groupMinU) {
          float m = mx - x[c * CW];
#pragma unroll
          for (int i = 1; i < CW; ++i) m = fminf(m, mx - x[c * CW + i]);
          graw[c] = __float_as_int(groupLanes<C::kGroupLanes>(m, MinFloatOp()));
        } else if (reduce == 2) {
          Top2 v{val[c * CW], -INFINITY};
#pragma unroll
          for (int i = 1; i < CW; ++i) v = Top2Op()(v, Top2{val[c * CW + i], -INFINITY});
          v = groupLanes<C::kGroupLanes>(v, Top2Op());
          graw[c] = descKey(v.a + v.b);
        } else if (reduce == 1) {
          float m = val[c * CW];
#pragma unroll
          for (int i = 1; i < CW; ++i) m = fmaxf(m, val[c * CW + i]);
          graw[c] = descKey(groupLanes<C::kGroupLanes>(m, MaxOp()));
        } else {  // sum of exps (exact mode only)
          float m = val[c * CW];
#pragma unroll
          for (int i = 1; i < CW; ++i) m += val[c * CW + i];
          graw[c] = descKey(groupLanes<C::kGroupLanes>(m, SumOp()));
        }
        gk[c] = tagged(graw[c], c * CW + (lane >> (5 - C::kLog2CW)), kGroupBits);
      }
      chunkChosen = 0;
      unsigned seen = 0;  // chunks of groups picked (chosen or runner-up)
      auto pickGroup = [&]() {
        int lk = INT_MAX;
#pragma unroll
        for (int c = 0; c < NC; ++c) lk = min(lk, (seen >> c) & 1u ? INT_MAX : gk[c]);
        const int best = warpMin(lk);
#pragma unroll
        for (int c = 0; c < NC; ++c)
          if (gk[c] == best) seen |= 1u << c;
        return best;
      };
      // The actual score of the group picked as `key` (its lanes hold it).
      auto rawOf = [&](int key) {
        int r = INT_MAX;
#pragma unroll
        for (int c = 0; c < NC; ++c) r = gk[c] == key ? graw[c] : r;
        return warpMin(r);
      };
      int lastKey = 0;
      for (int p = 0; p < d.M; ++p) lastKey = pickGroup();
      chunkChosen = seen;
      if (d.M < G) {
        auto groupValue = [&](int key) { return groupMinU ? __int_as_float(key) : descValue(key); };
        const int lastRaw = rawOf(lastKey);
        const float a = groupValue(lastRaw);
        sure = false;
        for (int p = d.M; p < G; ++p) {
          const int rk = pickGroup();
          if ((rk ^ lastKey) & ~kGroupBits) {  // another bucket: everything left is at or past its start
            const float b = groupValue(rk & ~kGroupBits);
            sure = groupMinU ? uApart(a, b)
                             : a - b > (kExactU ? kSumRel * (fabsf(a) + fabsf(b)) + 2.0f * kSumAbs
                                                : (reduce == 2 ? 4.0f : 2.0f) * dSel);
            break;
          }
          // Same bucket: only an exact tie (equal min u) can be called; then look further.
          if (!groupMinU || rawOf(rk) != lastRaw) break;
          if (p + 1 == G) sure = true;
        }
      }
    }

    // Stage 2: the top k experts of the chosen groups. Each lane keeps its two
    // best keys; a pick is one warp min (the key names the expert); the owner
    // moves its second up and rescans only when both are gone. row[] gives
    // the picked expert's logit to every lane.
    int b1 = INT_MAX, b2 = INT_MAX;
    auto scan = [&](int after) {  // this lane's two best keys above `after`
      b1 = INT_MAX, b2 = INT_MAX;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const bool cand = ((chunkChosen >> (j / CW)) & 1u) && key[j] > after;
        const int v = cand ? key[j] : INT_MAX;
        b2 = min(b2, max(b1, v));
        b1 = min(b1, v);
      }
    };
    scan(INT_MIN);
    int taken = 0;
    auto pickExpert = [&](int& best, float& xe) {
      best = warpMin(b1);
      xe = row[best & kExpertBits];
      ++taken;
      if (taken < nCand) {
        const bool mine = b1 == best;
        if (mine) b1 = b2, b2 = INT_MAX;
        if (__any_sync(kFull, mine && b1 == INT_MAX))
          if (mine && b1 == INT_MAX) scan(best);
      }
    };
    // Actual value of a pick (u, or the approximate sel, as in key[]).
    auto actual = [&](int best, float xe) {
      if (kExactU) return mx - xe;
      const float b = sh.bias ? sh.bias[best & kExpertBits] : 0.0f;
      return sigmoid ? sigmoidApprox(xe) + b : fmaExact(ex2Approx((mx - xe) * kNegLog2e), inv, b);
    };
    // Identical inputs (a tie on both sides)?
    auto sameInputs = [&](int ka, float xa, int kb, float xb) {
      return xa == xb && (!sh.bias || sh.bias[ka & kExpertBits] == sh.bias[kb & kExpertBits]);
    };
    int myKey = INT_MAX;
    float myX = 0.0f;
    for (int i = 0; i < k; ++i) {
      int best;
      float xe;
      pickExpert(best, xe);
      if (lane == i) myKey = best, myX = xe;
    }
    // Each selected expert against the next one.
    {
      const float mine = lane < k ? actual(myKey, myX) : 0.0f;
      const float nextA = __shfl_down_sync(kFull, mine, 1);
      const float nextX = __shfl_down_sync(kFull, myX, 1);
      const int nextKey = __shfl_down_sync(kFull, myKey, 1);
      bool ok = true;
      if (lane + 1 < k) ok = apart(mine, nextA) || (!kExactU && sameInputs(myKey, myX, nextKey, nextX));
      sure = __all_sync(kFull, ok) && sure;
    }
    // The last one against everything left out: the runner-up's bucket, or
    // runners-up tied with it on identical inputs.
    if (sure && k < nCand) {
      const int lastKey = __shfl_sync(kFull, myKey, k - 1);
      const float lastX = __shfl_sync(kFull, myX, k - 1);
      const float lastA = actual(lastKey, lastX);
      sure = false;
      for (int p = k; p < nCand; ++p) {
        int rk;
        float rx;
        pickExpert(rk, rx);
        if ((rk ^ lastKey) & ~kExpertBits) {
          sure = apart(lastA, keyValueOf(rk & ~kExpertBits));
          break;
        }
        if (kExactU ? actual(rk, rx) != lastA : !sameInputs(lastKey, lastX, rk, rx)) break;
        if (p + 1 == nCand) sure = true;
      }
    }
    if (!sure) {
      if (lane == 0) atomicAdd(&o.small->rerouted, 1ull);
      exactInstead();
      continue;
    }

    // Weights from the exact exp of the selected experts' own scores.
    const int myE = myKey & kExpertBits;
    float s = 0.0f;
    if (lane < k) {
      if (sigmoid) s = routeSigmoid(myX, sh.exp2);
      else s = routeExpNonPos(myX - mx, sh.exp2) * inv;  // x - max, as the reference
    }
    float w = s;
    if (d.renorm) {
      float denom = 0.0f;  // slot order, as the reference
      for (int i = 0; i < k; ++i) denom += __shfl_sync(kFull, s, i);
      w = denom > 0.0f ? w / denom : 0.0f;
    }
    w = w * d.scale;
    if (lane < k) {
      o.idx[t * k + lane] = myE;
      o.w[t * k + lane] = w;
    }
    if (sh.hE) countSlot(d, sh, myE, lane < k, lane);
    if (sh.acc) {
      // Score sums (every expert) and the alignment term (outside the chosen
      // groups, above the lowest selected score), from the approximate scores;
      // the lowest selected by the same function, so that an expert no higher
      // in exact order adds 0 here too.
      auto approxScore = [&](float xv) { return sigmoid ? sigmoidApprox(xv) : ex2Approx((mx - xv) * kNegLog2e) * inv; };
      const float mine = approxScore(myX);
      const float lowS = __int_as_float(warpMin(lane < k ? __float_as_int(mine) : INT_MAX));  // s >= +0
      float a = 0.0f;
#pragma unroll
      for (int j = 0; j < V; ++j) {
        const float sj = approxScore(x[j]);
        sh.acc[C::expert(j, lane)] += (double)sj;
        if (!((chunkChosen >> (j / CW)) & 1u)) a += fmaxf(0.0f, sj - lowS);
      }
      align += (double)a;
    }
  }
  fastFinish<E>(d, o, sh, align);
}

}  // namespace fast
