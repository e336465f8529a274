// The sieved reload of the long lists (deepseek-v3's kind, and the 16-bit
// softmax ones of deepseek-v2's kind): which lists sieve, the sigmoid
// sieve's logit bound, where the candidates it lets through wait, and the
// reload itself (sieveReload). Included by route_rows.cuh before the row
// kernel: it uses the half loads, key lists and bias layout defined there.

// Whether the reload of a sigmoid long list is sieved: the first pass
// knows each chosen group's top two sels, 2M >= k values of distinct
// experts, so the k-th best candidate is at least the lowest of them, thr.
// Only candidates whose logit could give a sel near thr (sieveLogit) are
// kept, in shared memory, and only those get a sel, a key and an
// insertion: ~13 of deepseek-v3's 128 random candidates instead of every
// one (each ~23 instructions: the sigmoid, the bias, the key, a place in
// the long list). Every candidate left out has an approximate sel below
// thr - 4 dSel, which the runner-up's proof then takes as its bound.
// Not fp32's 3-block (80-register) build, the one T = 1M takes: there the
// sieve spilled more (52 bytes of loads a thread, not 24) and deepseek-v3
// fp32 went 677 -> 688 us (H200, perf/RESULTS.md, eighteenth round).
// The 16-bit softmax long lists (deepseek-v2's kind) sieve too, in their
// 2-block build: the first pass keeps each group's top two logits (the
// second in v1's word beside the max), and a candidate below the chosen
// groups' lowest second logit is left out, exactly (no approximation).
template <typename In>
__host__ __device__ constexpr bool rowSieves(bool softmax, int list, RowGroups groups, int minBlocks) {
  if (list <= 3 || groups != RowGroups::reload) return false;
  return softmax ? sizeof(In) == 2 && minBlocks == 2 : sizeof(In) == 2 || minBlocks == 2;
}

// The sieve's logit for one chosen group: a logit below it gives every
// expert of the group (bias at most groupBias) an approximate sel below
// bound. sigmoid(x) < t, with t the bound less the group's largest bias, a
// margin of 2^-12 (for the approximate log and division: t is in [2^-60,
// 1), so |logit| <= 42 and its error ~1e-5, by which sigmoid moves < 3e-6)
// and 2 dSel (the approximate sigmoid's error and the rounding of s + bias).
// RouteGpu.SieveLogitLeavesOutOnlySelsBelowItsBound checks it on the GPU.
__device__ __forceinline__ float sieveLogit(float bound, float groupBias, float dSel) {
  const float t = bound - groupBias - 0x1p-12f - 2.0f * dSel;
  if (!(t > 0x1p-60f)) return -INFINITY;  // keeps every logit (a NaN bound too)
  if (t >= 1.0f) return INFINITY;         // no sigmoid reaches t
  return __logf(__fdividef(t, 1.0f - t));
}

// Where a lane keeps the candidates the sieve lets through: column-major
// in the warp's second slice buffer and its score rows (free during the
// tail: the next slice goes into the first buffer, and the rows were read),
// entry n of lane l at word 32 n + l. 16-bit logits: the logit's fp32 bits
// (its low 13 or 16 bits zero) or'd with the expert, one word; fp32: the
// logit's word, and the expert in a byte after the words. kCap entries,
// and a spare one that candidates let through past the kCap take.
template <typename In, int kRegionWords>
struct SieveBuffer {
  static constexpr int kEntryBytes = sizeof(In) == 2 ? 4 : 5;
  static constexpr int kSlots = kRegionWords * 4 / (32 * kEntryBytes);
  static constexpr int kCap = kSlots - 1;
  static_assert(kCap > 9, "room for the k + 2 <= 10 best candidates");
  uint32_t* words;
  // at: the entry's word, 32 n + lane (the sieve steps it, not n).
  __device__ void put(int at, float x, int e) const {
    if (sizeof(In) == 2) {
      words[at] = __float_as_uint(x) + (uint32_t)e;  // an add, which folds with the expert's: the low bits are zero
    } else {
      words[at] = __float_as_uint(x);
      reinterpret_cast<uint8_t*>(words + 32 * kSlots)[at] = (uint8_t)e;
    }
  }
  // The spare entry's mark: a NaN, which no candidate let through is.
  __device__ void markSpare(int lane) const { words[32 * kCap + lane] = 0xffffffffu; }
  __device__ bool spareMarked(int lane) const { return words[32 * kCap + lane] == 0xffffffffu; }
  __device__ void get(int n, int lane, float& x, int& e) const {
    const uint32_t w = words[32 * n + lane];
    if (sizeof(In) == 2) {
      x = __uint_as_float(w & ~(uint32_t)kExpertBits), e = (int)(w & kExpertBits);
    } else {
      x = __uint_as_float(w), e = reinterpret_cast<const uint8_t*>(words + 32 * kSlots)[32 * n + lane];
    }
  }
};

// The sieved reload of one token's chosen groups (this lane's halves; the
// one-lane tail: both): the candidates the sieve lets through go into
// keys. Returns the sieve's bound: every candidate left out has an
// approximate sel below it (softmax: a logit at most it), which the
// runner-up's proof takes. Clears sure when a lane of the pair let through
// more than its buffer holds. lows: each group's lower of its top two
// values (sels; softmax: logits). region: the warp's second slice buffer
// and its score rows.
template <typename In, int V, bool kSoftmax, int kList, bool kWide, int kMinBlocks, int kRegionWords>
__device__ __forceinline__ float sieveReload(const In* rowPtr, int h, int lane, unsigned chosen, int M,
                                             const float (&lows)[V], float dSel, bool hasBias, const float* biasPad,
                                             uint32_t* region, int (&keys)[kList], bool& sure) {
  constexpr int kHalves = kWide ? 2 : 1;
  float thr = INFINITY;  // the lowest of the chosen groups' top two values
#pragma unroll
  for (int g = 0; g < V; ++g)
    if ((chosen >> g) & 1u) thr = fminf(thr, lows[g]);
  // Softmax: a logit below thr is at most the 16-bit value below it.
  const float sieveBound = kSoftmax ? prevValue<In>(thr) : thr - 4.0f * dSel;
  const SieveBuffer<In, kRegionWords> buf{region};
  __syncwarp();  // every lane has read its group values: the entries overwrite them
  // A candidate let through is written at the lane's next free entry (a
  // predicated store and an add-and-min: 16-bit, ~6 instructions a
  // candidate, against ~12 writing every candidate and counting those let
  // through). The next entry stops at the spare one, kCap, which holds a
  // NaN until a candidate past the kCap kept is written there (a NaN
  // logit is never let through).
  const int spareAt = 32 * buf.kCap + lane;
  int at = lane;  // the next free entry's word (SieveBuffer::put), at most the spare's
  buf.markSpare(lane);
  auto halfGroup = [&](int p) { return (int)__fns(chosen, 0, p / kHalves + 1); };  // the (p / kHalves)-th chosen group
  const int nHalves = M * kHalves;
  // The halves' loads go out kChunk at a time, so that the tail waits
  // for L2 once per chunk, not once per half (each warp has one tail
  // at T = 65536, whose serial chain is its time): 32 registers of
  // words (fp32 with 64 spilled 60 bytes). One at a time in the
  // 3-block (80-register) builds, where held words spilled too.
  constexpr int kChunk = kMinBlocks == 2 ? 32 / (int)(sizeof(HalfWords<In>) / 4) : 1;
  static_assert(!kWide || kChunk % 2 == 0 || kChunk == 1, "a chunk holds both halves of its groups");
#pragma unroll 1
  for (int p0 = 0; p0 < nHalves; p0 += kChunk) {
    HalfWords<In> words[kChunk];
    int gs[kChunk];
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      const int p = min(p0 + c, nHalves - 1);  // past the last half: loaded again, not sieved
      gs[c] = halfGroup(p);
      words[c] = loadHalf<In>(rowPtr + gs[c] * 32, kWide ? p & 1 : h);
    }
    float xLo = 0.0f;
#pragma unroll
    for (int c = 0; c < kChunk; ++c) {
      if (p0 + c >= nHalves) break;
      const int g = gs[c];
      // The one-lane tail's halves come in pairs of one group (kChunk and
      // p0 are even): its sieve's logit once for both.
      if (kSoftmax) xLo = thr;
      else if (!kWide || kChunk == 1 || c % 2 == 0) xLo = sieveLogit(sieveBound, hasBias ? biasPad[g * kBiasStride + 32] : 0.0f, dSel);
      forHalfWords<In>(words[c], kWide ? (p0 + c) & 1 : h, [&](int, int i, float x) {
        if (x >= xLo) buf.put(at, x, 32 * g + i), at = min(at + 32, spareAt);
      });
    }
  }
  const int n = at >> 5;  // entries taken, at most kCap
  // Past the cap a candidate was left out unbounded: the exact way.
  // The pair decides together (each lane writes half of the picks,
  // and lane 0 alone hands the token on).
  const bool fits = buf.spareMarked(lane);
  const bool pairFits = kWide || __shfl_xor_sync(kFull, fits, 1);  // every lane: not behind a && (a lane that skips it hangs the warp)
  sure = sure && fits && pairFits;
  const int most = __reduce_max_sync(kFull, n);
  // Two entries at a time: their sels overlap, and a pair goes into
  // the list in 3N - 1 instructions, not 2 (2N - 1).
#pragma unroll 1
  for (int q = 0; q < most; q += 2) {
    int pair[2];
#pragma unroll
    for (int c = 0; c < 2; ++c) {
      float x;
      int e;
      buf.get(min(q + c, buf.kCap), lane, x, e);
      // biasAt(e), as e + (e >> 5): one instruction here, in the loop the
      // sieve's entries take (biasAt's form moved this loop's code).
      const int biasIdx = e + (kBiasStride - 32) * (e >> 5);
      const float sg = kSoftmax ? x : sigmoidApprox(x), v = !kSoftmax && hasBias ? sg + biasPad[biasIdx] : sg;
      pair[c] = q + c < n ? candidateKey<kSoftmax>(v, e) : INT_MAX;
    }
    insertKeyPair(keys, pair[0], pair[1]);
  }
  return sieveBound;
}
