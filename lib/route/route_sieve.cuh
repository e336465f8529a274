// The sieved reload of the sigmoid long lists (deepseek-v3's kind): which
// lists sieve, the sieve's logit bound and where the candidates it lets
// through wait. The reload itself is in the row kernel (route_rows.cuh,
// which includes this file): as a function of its own, inlined, it changed
// the code of 86 of the 141 row and retry kernels (scheduling, unmeasured).

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
template <typename In>
__host__ __device__ constexpr bool rowSieves(bool softmax, int list, RowGroups groups, int minBlocks) {
  return !softmax && list > 3 && groups == RowGroups::reload && (sizeof(In) == 2 || minBlocks == 2);
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
// and one more that candidates not let through write once the kCap are
// taken (the scan writes every candidate at the next free entry).
template <typename In, int kRegionWords>
struct SieveBuffer {
  static constexpr int kEntryBytes = sizeof(In) == 2 ? 4 : 5;
  static constexpr int kSlots = kRegionWords * 4 / (32 * kEntryBytes);
  static constexpr int kCap = kSlots - 1;
  static_assert(kCap > 9, "room for the k + 2 <= 10 best candidates");
  uint32_t* words;
  __device__ void put(int n, int lane, float x, int e) const {
    if (sizeof(In) == 2) {
      words[32 * n + lane] = __float_as_uint(x) | (uint32_t)e;
    } else {
      words[32 * n + lane] = __float_as_uint(x);
      reinterpret_cast<uint8_t*>(words + 32 * kSlots)[32 * n + lane] = (uint8_t)e;
    }
  }
  __device__ void get(int n, int lane, float& x, int& e) const {
    const uint32_t w = words[32 * n + lane];
    if (sizeof(In) == 2) {
      x = __uint_as_float(w & ~(uint32_t)kExpertBits), e = (int)(w & kExpertBits);
    } else {
      x = __uint_as_float(w), e = reinterpret_cast<const uint8_t*>(words + 32 * kSlots)[32 * n + lane];
    }
  }
};

