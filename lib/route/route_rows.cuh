// The row kernel: a PAIR of lanes per token, for E = 128 or 256 experts in
// groups of 32 (or every group kept), k <= 8, softmax without a selection
// bias or sigmoid with or without one, no capacity, no statistics.
//
// Why: with one warp per token, every per-token step (reductions, picks,
// checks, outputs) costs a warp instruction for one token, and those steps
// were most of the work. Here a warp routes 16 tokens at once and each of
// those steps is one instruction for 16 tokens; what is left is the work per
// logit (a load from shared memory, the max, the exp, the sums, a key and a
// branch-free insertion into a short sorted list). Why a pair and not one
// lane: one lane per token gives T / 32 warps of work, about one batch per
// warp at T = 65536 on an H200, so the kernel time was one warp's serial
// chain; a pair halves that chain and, with registers capped at 64, runs
// twice the warps per SM. (Measured: that alone did not move the time; the
// warps wait on their slices and tails in lockstep, perf/RESULTS.md fifth
// round.) Each lane of a pair takes every other 16-byte piece of each
// slice; the pair then merges its maxima, sums, group scores and lists
// (shuffles), and both lanes finish the token alike (the same values, so the
// same decisions).
//
// Data path: a warp streams its 16 rows through shared memory one slice of 32
// experts at a time (cp.async, double-buffered, coalesced 128-byte row pieces;
// rows padded so that the lanes read their pieces without bank conflicts).
// A slice is a group: per slice the pair keeps the group's two values in
// shared memory (softmax: the sum of exps against the group's own max, and
// that max, so no running max is rescaled; sigmoid: the top two sels), and
// the batch's end turns them into group scores and the softmax sum. The
// experts of the chosen groups are then read again from global memory (L2)
// by their pair.
//
// Decisions use the hardware exp and are proven as in route_approx.cuh:
// experts are ranked by their logit (softmax) or their approximate sel - 1
// (sigmoid; route_keys.h), with the index in the low 8 bits of the key; each decision is
// checked on the actual values, and a token whose decisions cannot all be
// proven is routed exactly (exactToken, the reference's bits), one warp per
// token: by its own warp (softmax) or by retryKernel, launched next (sigmoid).
// Included inside sam::route's anonymous namespace, after route_approx.cuh.
#pragma once

namespace fast {

// Shared-memory layout of one 32-expert slice of a warp's 16 rows, in 32-bit
// words. Lane 2 r + h reads row r's pieces h, h + 2, ..: with rows 8 words
// apart modulo 32 banks, the 8 lanes of each LDS.128 phase (4 rows, both
// halves) hit 8 distinct groups of 4 banks.
template <typename In>
struct SliceLayout {
  static constexpr int kRows = 16;
  static constexpr int kChunks = 32 * (int)sizeof(In) / 16;  // 16-byte pieces per row slice
  static constexpr int kStride = 32 * (int)sizeof(In) / 4 + 8;  // words per row (40 or 24)
  static constexpr int kWords = kRows * kStride;
};

// The most experts per token the row kernel routes (rowFits, route_cuda.cu).
constexpr int kRowMostK = 8;

// The selection bias in the row kernel's shared memory: each group's 32
// entries and a pad word (the sieve keeps the group's largest bias there),
// so lanes reading one group's entries hit distinct banks. launchRowKernel
// sizes it.
constexpr int kBiasStride = 33;
__host__ __device__ constexpr int biasAt(int e) { return (e >> 5) * kBiasStride + (e & 31); }

// A warp's shared memory: two slice buffers, then per token row the pair's
// two values per group (softmax: the sum of exps against the group's max,
// and that max, which the 16-bit sieve's word holds beside the group's
// second largest logit; sigmoid: the top two sel), padded to an odd
// stride (the one-lane tail keeps the token's finite flag in the pad
// word), then kState words of the token's state (rowStateWords). kTokens:
// the tokens of one tail (a batch, or two for the one-lane tail).
template <typename In, int V, int kTokens = SliceLayout<In>::kRows, int kState = 0>
struct WarpLayout {
  static constexpr int kScoreStride = 2 * V + 1 + kState;
  // Rounded up to 4 words: every warp's region stays 16-byte aligned (cp.async).
  static constexpr int kWords = (2 * SliceLayout<In>::kWords + kTokens * kScoreStride + 3) & ~3;
};

__device__ __forceinline__ void cpAsync16(void* smem, const void* gmem) {
  const unsigned s = (unsigned)__cvta_generic_to_shared(smem);
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(s), "l"(gmem));
}
__device__ __forceinline__ void cpAsyncCommit() { asm volatile("cp.async.commit_group;"); }
template <int N>
__device__ __forceinline__ void cpAsyncWait() {
  asm volatile("cp.async.wait_group %0;" ::"n"(N));
}

// A warp copies a slice of its 16 rows in warp-wide 16-byte copies, each
// taking 32 / kChunks whole rows: lane l copies piece l % kChunks of rows
// l / kChunks + c 32 / kChunks. This lane's first copy of a batch's slice 0:
// where it reads (global; slice s is 32 s elements on) and where it writes
// (words into a slice buffer).
template <typename In>
struct SliceCopy {
  static constexpr int kRowsPerCopy = 32 / SliceLayout<In>::kChunks;
  static constexpr int kPieceElems = 16 / (int)sizeof(In);
  __device__ static int row(int lane) { return lane / SliceLayout<In>::kChunks; }
  __device__ static int piece(int lane) { return lane % SliceLayout<In>::kChunks; }
  __device__ static int word(int lane) { return row(lane) * SliceLayout<In>::kStride + piece(lane) * 4; }
  template <int E>
  __device__ static const In* source(const In* logits, int64_t t0, int lane) {
    return logits + (t0 + row(lane)) * E + piece(lane) * kPieceElems;
  }
};

// cpAsync16 at fixed byte offsets from a shared address and a global one
// (ptxas folds the shared one into the instruction; the global one is a
// 64-bit add).
template <int kDstOffset, int kSrcOffset>
__device__ __forceinline__ void cpAsync16At(unsigned smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0+%2], [%1+%3], 16;" ::"r"(smem), "l"(gmem), "n"(kDstOffset),
               "n"(kSrcOffset));
}

// Starts copying one slice of a full batch (16 rows from t0, t0 + 16 <= T):
// src is SliceCopy::source + 32 s, dst the shared address of the slice
// buffer + SliceCopy::word. Every copy is a fixed offset from those two.
// Instruction count is the point: a clamped 64-bit address per copy was ~50
// of the 16-bit slice loop's ~190 instructions, and the address computed
// for each slice from the batch ~30 of ~200; from the batch's address, ~18
// (H200, T = 65536: 16-bit presets 0.45 to 0.8 us faster per call,
// perf/RESULTS.md, fifteenth round).
template <typename In, int E, int... c>
__device__ __forceinline__ void issueFullSlice(unsigned dst, const In* src, std::integer_sequence<int, c...>) {
  using C = SliceCopy<In>;
  (cpAsync16At<4 * c * C::kRowsPerCopy * SliceLayout<In>::kStride, (int)sizeof(In) * c * C::kRowsPerCopy * E>(dst, src),
   ...);
}
template <typename In, int E>
__device__ __forceinline__ void issueFullSlice(unsigned dst, const In* src) {
  issueFullSlice<In, E>(dst, src, std::make_integer_sequence<int, SliceLayout<In>::kRows / SliceCopy<In>::kRowsPerCopy>());
}

// The same for the last, partial batch (t0 + 16 > T): rows past the end
// repeat the last row (their results are not used).
template <typename In, int E>
__device__ __forceinline__ void issuePartialSlice(uint32_t* buf, const In* logits, int64_t t0, int64_t T, int s,
                                                  int lane) {
  using C = SliceCopy<In>;
#pragma unroll
  for (int c = 0; c < SliceLayout<In>::kRows / C::kRowsPerCopy; ++c) {
    const int r = c * C::kRowsPerCopy + C::row(lane);
    const int64_t t = min(t0 + r, T - 1);
    cpAsync16(buf + r * SliceLayout<In>::kStride + C::piece(lane) * 4,
              logits + t * E + s * 32 + C::piece(lane) * C::kPieceElems);
  }
}

// The two 16-bit values of a word as floats (the lower address first).
__device__ __forceinline__ void pairToFloats(uint32_t v, float* x, __nv_bfloat16*) {
  x[0] = __uint_as_float(v << 16), x[1] = __uint_as_float(v & 0xffff0000u);
}
__device__ __forceinline__ void pairToFloats(uint32_t v, float* x, __half*) {
  const float2 f = __half22float2(*reinterpret_cast<const __half2*>(&v));
  x[0] = f.x, x[1] = f.y;
}

// Four words of a row slice as floats (fp32: 4 logits; 16-bit: 8).
template <typename In>  // bf16, fp16
struct Words4 {
  static constexpr int kPer = 8;
  __device__ static void unpack(uint4 w, float* x) {
    const uint32_t v[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int i = 0; i < 4; ++i) pairToFloats(v[i], x + 2 * i, static_cast<In*>(nullptr));
  }
};
template <>
struct Words4<float> {
  static constexpr int kPer = 4;
  __device__ static void unpack(uint4 w, float* x) {
    x[0] = __uint_as_float(w.x), x[1] = __uint_as_float(w.y), x[2] = __uint_as_float(w.z), x[3] = __uint_as_float(w.w);
  }
};

// Half of the 32 logits of one row slice (shared) or of one group (global):
// the 16-byte pieces h, h + 2, .. . fn(slot, i, x) for each: slot (0 .. 15,
// known at compile time) numbers them for the accumulators, i is the expert
// within the 32.
template <typename In, typename Fn>
__device__ __forceinline__ void forHalfShared(const uint32_t* rowWords, int h, Fn&& fn) {
  constexpr int kPer = Words4<In>::kPer;
#pragma unroll
  for (int j = 0; j < 16 / kPer; ++j) {
    const int q = 2 * j + h;
    float x[kPer];
    Words4<In>::unpack(*reinterpret_cast<const uint4*>(rowWords + q * 4), x);
#pragma unroll
    for (int i = 0; i < kPer; ++i) fn(j * kPer + i, q * kPer + i, x[i]);
  }
}
// forHalfGlobal in two steps, so that the next half's loads can start
// before this one's logits are used: HalfWords, loadHalf, forHalfWords.
template <typename In>
struct HalfWords {
  uint4 w[16 / Words4<In>::kPer];
};
template <typename In>
__device__ __forceinline__ HalfWords<In> loadHalf(const In* group, int h) {
  HalfWords<In> hw;
#pragma unroll
  for (int j = 0; j < 16 / Words4<In>::kPer; ++j) hw.w[j] = __ldcg(reinterpret_cast<const uint4*>(group) + 2 * j + h);
  return hw;
}
template <typename In, typename Fn>
__device__ __forceinline__ void forHalfWords(const HalfWords<In>& hw, int h, Fn&& fn) {
  constexpr int kPer = Words4<In>::kPer;
#pragma unroll
  for (int j = 0; j < 16 / kPer; ++j) {
    float x[kPer];
    Words4<In>::unpack(hw.w[j], x);
#pragma unroll
    for (int i = 0; i < kPer; ++i) fn(j * kPer + i, (2 * j + h) * kPer + i, x[i]);
  }
}
template <typename In, typename Fn>
__device__ __forceinline__ void forHalfGlobal(const In* group, int h, Fn&& fn) {
  forHalfWords<In>(loadHalf<In>(group, h), h, fn);
}

// forHalfShared for 16-bit logits a word (two logits) at a time: fn(c, i, w)
// for each of the lane's 8 words; c (0 .. 7, known at compile time) numbers
// them, i is the expert of the word's lower half (the upper half is i + 1).
template <typename In, typename Fn>
__device__ __forceinline__ void forHalfSharedWords(const uint32_t* rowWords, int h, Fn&& fn) {
  static_assert(sizeof(In) == 2, "16-bit logits only");
#pragma unroll
  for (int j = 0; j < 2; ++j) {
    const int q = 2 * j + h;
    const uint4 w = *reinterpret_cast<const uint4*>(rowWords + q * 4);
    const uint32_t v[4] = {w.x, w.y, w.z, w.w};
#pragma unroll
    for (int c = 0; c < 4; ++c) fn(4 * j + c, q * 8 + 2 * c, v[c]);
  }
}

// Two 16-bit logits as one packed value (bf16x2, half2), for the packed
// instructions: x * 0 + p and max are exact in any precision, so the first
// pass's poison and max take one instruction per two logits.
template <typename In>
struct Packed16;
template <>
struct Packed16<__nv_bfloat16> {
  using T = __nv_bfloat162;
  static constexpr uint32_t kNegInf = 0xff80ff80u;
};
template <>
struct Packed16<__half> {
  using T = __half2;
  static constexpr uint32_t kNegInf = 0xfc00fc00u;
};
template <typename In>
__device__ __forceinline__ typename Packed16<In>::T packed(uint32_t w) {
  typename Packed16<In>::T v;
  memcpy(&v, &w, sizeof(w));
  return v;
}
// A 16-bit value's bits (x one of In's values: exact) and back.
template <typename In>
__device__ __forceinline__ uint32_t bits16(float x) {
  if constexpr (std::is_same<In, __half>::value) return __half_as_ushort(__float2half_rn(x));
  else return __float_as_uint(x) >> 16;
}
template <typename In>
__device__ __forceinline__ float value16(uint32_t b) {
  if constexpr (std::is_same<In, __half>::value) return __half2float(__ushort_as_half((unsigned short)b));
  else return __uint_as_float(b << 16);
}

// A sorted list of the n smallest keys (ascending), updated without branches.
template <int N>
__device__ __forceinline__ void insertKey(int (&l)[N], int v) {
#pragma unroll
  for (int i = 0; i < N; ++i) {
    const int lo = min(l[i], v);
    v = max(l[i], v);
    l[i] = lo;
  }
}

// insertKey of two keys at once: with p <= q the pair sorted, the j-th
// smallest of the list and the pair is min(l[j], max(l[j-1], p), max(l[j-2],
// q)) (take j + 1 keys from the list, or j from it and p, or j - 1 and both).
// Three-input minima make that 3N - 1 instructions per pair against 2
// (2N - 1) for two single inserts: 4 instead of 5 per key for N = 3, 13
// instead of 17 for N = 9.
// Returns the larger of the two keys (for keysFinite).
template <int N>
__device__ __forceinline__ int insertKeyPair(int (&l)[N], int x, int y) {
  const int p = min(x, y), q = max(x, y);
  int out[N];
  out[0] = min(l[0], p);
  if (N > 1) out[1] = __vimin3_s32(l[1], max(l[0], p), q);
#pragma unroll
  for (int j = 2; j < N; ++j) out[j] = __vimin3_s32(l[j], max(l[j - 1], p), max(l[j - 2], q));
#pragma unroll
  for (int j = 0; j < N; ++j) l[j] = out[j];
  return q;
}

// For the loops that make their keys one at a time (slot j known at compile
// time): even j's key is held, odd j's goes in with it (16 slots: no key is
// left held). Returns insertKeyPair's larger key, or INT_MIN for a key held.
template <int N>
__device__ __forceinline__ int insertKeyInPairs(int (&l)[N], int& held, int j, int key) {
  if (j & 1) return insertKeyPair(l, held, key);
  held = key;
  return INT_MIN;
}

// tagged(valueKey<kSoftmax>(v), idx, kExpertBits) (route_keys.h), the same
// bits, in a shift and two three-input logic ops. The compiler's own form
// took five instructions with the select of ordKey, and a candidate's key is
// most of the per-logit work of the lists. For bits i of the value and s = i
// >> 31: bit 31 is ~i, bits 0-30 are ~(i ^ s) (~i for i >= 0, i for i < 0),
// which is descKey; then the low 8 bits take idx (< 256).
template <bool kSoftmax>
__device__ __forceinline__ int candidateKey(float v, int idx) {
  const int i = __float_as_int(kSoftmax ? v : v - 1.0f), s = i >> 31;
  int desc, key;
  asm("lop3.b32 %0, %1, %2, 0x7fffffff, 0x87;" : "=r"(desc) : "r"(i), "r"(s));  // imm ? ~(i ^ s) : ~i
  asm("lop3.b32 %0, %1, 0xffffff00, %2, 0xea;" : "=r"(key) : "r"(desc), "r"(idx));  // (desc & imm) | idx
  return key;
}

// Whether an expert of exact score sa and key ka comes before one of sb and
// kb in the reference's order: the higher score, a tie to the lower expert.
__device__ __forceinline__ bool exactBefore(float sa, int ka, float sb, int kb) {
  return sa > sb || (sa == sb && (ka & kExpertBits) < (kb & kExpertBits));
}

template <typename T>
__device__ __forceinline__ void swapValues(T& a, T& b) {
  const T c = a;
  a = b, b = c;
}

// fp32 softmax's second chance for a token whose picks the keys could not
// order: the keys hold a logit's top 24 bits, so experts whose logits share
// a key's bucket (256 ulps) meet in index order, and near ties may tie in
// the reference's scores. Here the picks and the runner-up (keys[0 .. k],
// their logits xs) are ordered by their exact exps, the reference's
// routeExpNonPos: one pass of exchanges sinks the worst to the runner-up's
// place and mends a pair out of order, and the order left is checked, the
// runner-up's place included. The reference ranks the exps times 1 / sum,
// rounded, which can make exps a few ulps apart one score (a tie: the lower
// expert first), and the sum is not known here; so each neighbour must
// have an equal exp (a tie either way, in index order) or one that
// expsStayOrdered. The experts past them are bounded by the first key past
// them (keys[k + 1], or the runner-up's own for a list of k + 1), strictly
// apart from the last pick (uClearOf). Returns whether the order is proven,
// with keys and xs in it.
template <int kList>
__device__ __forceinline__ bool orderExactly(int (&keys)[kList], float (&xs)[kList], int k, bool runner, float m,
                                             const uint32_t* exp2) {
  float s[kList];
  int outKey = INT_MAX;  // the best key past the entries ordered here
#pragma unroll
  for (int i = 0; i < kList; ++i) {
    if (i > k + 1) break;
    outKey = keys[i];  // keys[k + 1], or keys[k] for a list of k + 1
    if (i > k) break;
    s[i] = routeExpNonPos(xs[i] - m, exp2);
  }
  const int n = runner ? k + 1 : k;
#pragma unroll
  for (int i = 0; i + 1 < kList; ++i) {
    if (i + 1 >= n) break;
    if (exactBefore(s[i + 1], keys[i + 1], s[i], keys[i]))
      swapValues(s[i], s[i + 1]), swapValues(xs[i], xs[i + 1]), swapValues(keys[i], keys[i + 1]);
  }
  bool sure = true;
#pragma unroll
  for (int i = 0; i + 1 < kList; ++i) {
    if (i + 1 >= n) break;
    sure = sure && (s[i] == s[i + 1] ? exactBefore(s[i], keys[i], s[i + 1], keys[i + 1]) : expsStayOrdered(s[i], s[i + 1]));
  }
  if (runner) {
    float lastX = 0.0f;
#pragma unroll
    for (int i = 0; i < kList; ++i)
      if (i < k) lastX = xs[i];
    const float u = m - lastX, past = m - keyBound<true>(outKey & ~kExpertBits, 0.0f);
    sure = sure && uClearOf(u, past);
  }
  return sure;
}

// The next lower value of the In type below x (16-bit types: the fp32 of one
// has its low 16 or 13 bits zero), for the bound on everything below a tie.
template <typename In>
__device__ __forceinline__ float prevValue(float x) {
  constexpr int step = sizeof(In) == 4 ? 1 : std::is_same<In, __half>::value ? (1 << 13) : (1 << 16);
  return keyValue(ordKey(x) - step);
}

// The pair's combined value of a per-lane quantity.
__device__ __forceinline__ float pairMax(float v) { return fmaxf(v, __shfl_xor_sync(kFull, v, 1)); }

// Whether a lane's poison chains (x * 0 + chain, per logit: NaN iff a logit
// was NaN or infinite) saw finite logits only.
__device__ __forceinline__ bool poisonFinite(const float (&poison)[4]) {
  const float p = (poison[0] + poison[1]) + (poison[2] + poison[3]);
  return p == p;
}
__device__ __forceinline__ float pairSum(float v) { return v + __shfl_xor_sync(kFull, v, 1); }  // the same bits on both lanes

// Blocks of 256 per SM the registers must allow (launchRows in
// route_cuda.cu picks the build), and, but for one exception
// (rowTwoRounds), whether the launch spreads the batches over two rounds of
// warps (rowGrid in route_grid.h; the two go together: with two rounds at
// T = 65536 only 2 blocks per SM run, so the registers need not be capped
// for more).
//  - 16-bit logits with a short list (k <= 2): 4 blocks (64 registers, 32
//    warps per SM), one round: their work per batch is small.
//  - Otherwise 2 blocks (up to 128 registers, no spills even for the 9-key
//    list), two rounds; the 9-key list has a 3-block build as well, for
//    more than two rounds. H200, T = 65536, against 64 or 85 registers and the
//    same two rounds: fp32 0.9 to 4.1 us faster on every preset, bf16
//    deepseek-v3 about 4 us faster; 16-bit sam was 0.9 us slower this way,
//    hence the exception above (perf/RESULTS.md, sixth round).
template <typename In>
constexpr bool rowShortWork(int list) { return sizeof(In) == 2 && list <= 3; }

// Whether a build of the row kernel leaves the tokens it cannot prove to
// retryKernel, launched next, instead of routing them in-warp. A compile-time
// choice: a build that carries both paths needs more registers (deepseek-v3
// with a run-time flag: the 85-register build spilled more and T = 1M ran
// 893 us in fp32 against 803). Softmax leaves few: in-warp. Sigmoid (~0.5%):
// deferred over many rounds (the 9-key list's 3-block build, T > ~100K on an
// H200), where a warp's detours add up (T = 1M: always in-warp was 13%
// (fp32) and 16% (bf16) slower); in-warp in its 2-block build (one to three
// rounds), where the kernel lasts one warp's chain and the retry kernel's
// launch and latency cost more than the detours (T = 65536: 62.6 -> 58.7 us
// in fp32, 59.2 -> 56.3 in bf16). The short lists (k <= 2, no preset) keep
// deferring, unmeasured either way.
__host__ __device__ constexpr bool rowDefersUnproven(bool softmax, int list, int minBlocks) {
  return !softmax && !(list > 3 && minBlocks == 2);
}

// Where the candidates of the chosen groups come from (launchRowsForGroups
// picks; known at compile time so that the first pass fills a list only when
// it has to: a list that lives across the pass without being touched is one
// the compiler may spill).
//  - all: every group kept (d.allGroups); the first pass keys every logit.
//  - reload: the batch's end reads the chosen groups' logits again (L2) and
//    keys them.
//  - byMax: every group kept, 16-bit softmax, k <= 2 (switch, gshard). The
//    batch's end takes the k groups with the largest max logits (exact;
//    ties to the lower group) and reloads them, as reload does, so the
//    first pass only sums. By value (value desc, index asc) the k best
//    experts lie in those groups (RouteReference.TopKExpertsLieInTheTopKGroupsByMax):
//    the chosen maxima are k experts at least as good as any logit left
//    out, and a left-out logit can equal only the last pick's value v, when
//    its group's max is v; then every chosen group of max v is lower than
//    its group, and those hold enough experts of value v, with lower
//    indices, for every pick of that value. The reference ranks rounded
//    scores, in which a left-out logit just below a pick can tie it (and
//    win on a lower index): the runner-up's bound therefore takes the best
//    max left out as well, and a token is proven only where that is
//    strictly clear of the last pick (TopGroupsByMaxHoldTheReferencePicks
//    builds such rows). H200, T = 65536: switch bf16 16.2 -> 14.35 us,
//    gshard bf16 18.9 -> 16.35 (keying every logit was most of the first
//    pass); fp32 was slower (switch 21.75 -> 22.9, gshard 23.85 -> 26.3: an
//    L2 round trip more in the tail, and fewer instructions saved;
//    perf/RESULTS.md, sixteenth round).
//  - keepBest: one chosen group (M = 1), fp32 softmax, k <= 2. The first pass
//    keys each slice into a list of its own and keeps the list of the best
//    group so far, by the group's score as each slice ends: no reload, so no
//    L2 round trip in the batch's tail. The kept group must be the one the
//    batch's end chooses, or the token is not proven (the two orders come
//    from differently rounded scores, so they can differ only between groups
//    that the group proof cannot tell apart anyway). Not for 16-bit logits,
//    bound by instructions, where keying every logit costs more than the
//    reload does (gshard bf16 against sam bf16), nor for the 9-key list,
//    whose insertions would be 8 times as many.
enum class RowGroups { reload, all, byMax, keepBest };
template <typename In>
__host__ __device__ constexpr bool rowCanKeepBest(bool softmax, int list) { return softmax && sizeof(In) == 4 && list <= 3; }
template <typename In>
__host__ __device__ constexpr bool rowCanChooseByMax(bool softmax, int list) { return softmax && sizeof(In) == 2 && list <= 3; }

// Whether the batch's tail runs one lane per token: a warp streams two
// batches (each through the pair of lanes, as any build), keeps each
// token's finite flag beside its group values, and one tail then routes the
// 32 tokens, lane l token l, each lane reloading both halves of its
// token's chosen groups. The tail's work per token (group choice, picks,
// proofs, writes) is then one warp instruction for 32 tokens instead of 16,
// and the pair's lists need no merge. For the 16-bit 9-key lists that
// reload their groups (deepseek-v2 and -v3), whose tails are long and
// whose first pass is cheap (H200, T = 65536: deepseek-v2 / v3 bf16
// 28.1 -> 26.1 and 49.0 -> 46.0 us, T = 1M 391 -> 365 and 613 -> 571 us;
// perf/RESULTS.md, seventeenth round). With it in every build (branch
// wide-tail, sixteenth round) fp32 and the short lists were slower (switch
// fp32 21.9 -> 23.7 us; the 3-block 9-key fp32 builds spilled), but sam
// fp32 (keepBest) was faster: keepBest takes it too, its kept group and the
// pair's merged list left in the token's row for the tail (rowStateWords;
// sam fp32 24.2-24.3 -> 23.9-24.0 us, three runs each, nineteenth round).
// The grid's unit is then a pair of batches.
template <typename In>
__host__ __device__ constexpr bool rowWideTail(int list, RowGroups groups) {
  return (sizeof(In) == 2 && list > 3 && groups == RowGroups::reload) || groups == RowGroups::keepBest;
}
// The words of a token's state that the one-lane tail finds after its group
// values (WarpLayout): keepBest's group and list (k + 1 <= 3 keys), 4 words
// so that the row's stride stays odd (the tail's lanes read rows 2V + 5
// words apart, each in its own bank). None where the tail reloads.
template <typename In>
__host__ __device__ constexpr int rowStateWords(int list, RowGroups groups) {
  return groups == RowGroups::keepBest ? 4 : 0;
}

// Whether the launch spreads one round's batches over two rounds of half
// the warps (rowGrid): every build but the short-work ones (rowShortWork),
// and of those 16-bit byMax with k = 1 (switch), whose first pass only sums
// and whose tail reloads a group from L2: there the second batch's stream
// covers the first one's tail (H200, T = 65536: switch bf16 14.0 -> 13.4 us;
// gshard bf16 the same either way, sam bf16 slower; perf/RESULTS.md,
// sixteenth round). Not the one-lane tail, whose warp already streams two
// batches per tail (two rounds would be four).
template <typename In>
constexpr bool rowTwoRounds(int list, RowGroups groups) {
  if (rowWideTail<In>(list, groups)) return false;
  return !rowShortWork<In>(list) || (groups == RowGroups::byMax && list == 2);
}

#include "route/route_sieve.cuh"

// A proven token's outputs: its weights (softmax: the reference's scores,
// from its exp; sigmoid: the exact sels in s), renormalised over the slots
// in slot order as the reference, scaled; its experts; and its counts in
// the block's histograms (a rank once per token). The pair splits the
// writes; the one-lane tail writes them all.
template <bool kSoftmax, int kList, bool kWide>
__device__ __forceinline__ void writeProvenToken(const DevSpec& d, const FwdOut& o, const FastShared& sh, int64_t t,
                                                 int k, int h, const int (&keys)[kList], const float (&xs)[kList],
                                                 float (&s)[kList], float m, float inv) {
  float denom = 0.0f;
#pragma unroll
  for (int i = 0; i < kList; ++i) {
    if (i >= k) break;
    if (kSoftmax) s[i] = routeExpNonPos(xs[i] - m, sh.exp2) * inv;
    denom += s[i];  // slot order, as the reference
  }
  int32_t* idxOut = o.idx + t * k;
  float* wOut = o.w + t * k;
  int prevRanks[kList];
#pragma unroll
  for (int i = 0; i < kList; ++i) {
    if (i >= k) break;
    const int e = keys[i] & kExpertBits;
    if (kWide || (i & 1) == h) {  // the pair splits the writes
      float w = s[i];
      if (d.renorm) w = denom > 0.0f ? w / denom : 0.0f;
      idxOut[i] = e;
      wOut[i] = w * d.scale;
    }
    if (sh.hE && (kWide || h == 0)) {
      atomicAdd(&sh.hE[e], 1);
      const int r = d.epr == 1 ? e : (int)__umulhi((unsigned)e, d.eprMagic);
      bool first = true;
#pragma unroll
      for (int j = 0; j < kList; ++j)
        if (j < i && prevRanks[j] == r) first = false;
      prevRanks[i] = r;
      if (first) atomicAdd(&sh.hR[r], 1);
    }
  }
}

// The tokens of a tail not proven (or with a non-finite logit; `retry` on
// the lane that hands its token on), routed exactly: few (0 to 0.4% of
// random tokens at E = 256 for softmax, ~0.5% for sigmoid). This warp
// routes them, one warp-wide call each (t0: the tail's first token); or,
// in the builds that defer them (rowDefersUnproven), they go on the retry
// list for retryKernel, launched next. Every lane of the warp calls it.
template <typename In, int V, bool kDefer, bool kWide>
__device__ __forceinline__ void routeUnproven(const DevSpec& d, const In* logits, const FwdOut& o,
                                              const FastShared& sh, int64_t t0, int64_t t, bool retry, int lane) {
  unsigned rest = __ballot_sync(kFull, retry);
  if (!kDefer) {
    while (rest) {
      const int l = __ffs(rest) - 1;
      rest &= rest - 1;
      if (lane == 0) atomicAdd(&o.small->rerouted, 1ull);
      (void)exactToken<In, V>(d, logits, o, sh, t0 + (kWide ? l : l >> 1));
    }
  } else if (rest) {
    unsigned long long base = 0;
    if (lane == 0) base = atomicAdd(&o.small->rerouted, (unsigned long long)__popc(rest));
    base = __shfl_sync(kFull, base, 0);
    if (retry) o.retry[base + __popc(rest & ((1u << lane) - 1u))] = t;
  }
}

// kMinBlocks: blocks of 256 per SM its registers allow (launchRows picks).
template <typename In, int V, bool kSoftmax, int kList, RowGroups kGroups, int kMinBlocks>
__global__ void __launch_bounds__(256, kMinBlocks)
    routeRowKernel(DevSpec d, const In* __restrict__ logits, int64_t T, FwdOut o, int wantCounts) {
  constexpr int E = 32 * V;
  constexpr bool k16 = sizeof(In) == 2;
  constexpr bool kAll = kGroups == RowGroups::all, kKeep = kGroups == RowGroups::keepBest;
  constexpr bool kByMax = kGroups == RowGroups::byMax;
  static_assert(!kKeep || rowCanKeepBest<In>(kSoftmax, kList), "keepBest: fp32 softmax, k <= 2");
  static_assert(!kKeep || rowWideTail<In>(kList, kGroups), "keepBest leaves its state in the token's row for the one-lane tail");
  static_assert(!kByMax || rowCanChooseByMax<In>(kSoftmax, kList), "byMax: 16-bit softmax, k <= 2");
  static_assert(E - 1 <= kExpertBits, "the keys' low bits hold the expert");
  using L = SliceLayout<In>;
  constexpr bool kWide = rowWideTail<In>(kList, kGroups);
  constexpr int kPerTail = kWide ? 2 : 1;  // batches per tail (the grid's unit)
  using W = WarpLayout<In, V, kPerTail * L::kRows, rowStateWords<In>(kList, kGroups)>;
  constexpr bool kSieve = rowSieves<In>(kSoftmax, kList, kGroups, kMinBlocks);
  constexpr int kSieveWords = L::kWords + kPerTail * L::kRows * W::kScoreStride;  // the second buffer and the rows
  const FastShared sh = fastSetup<E>(d, o, wantCounts, 0);
  letNextKernelLaunch();  // the retry or commit kernel: it waits for this one's end
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  const int h = lane & 1, row = lane >> 1;  // this lane's half and token within the batch it streams
  // After fastSetup's region: the bias (biasAt), then each warp's region. Every pointer is the dynamic shared array plus an offset: one
  // that went through an integer would lose its address space and make
  // every access a generic load (the L1TEX path, not LDS).
  // The warps' regions sit at 32-byte boundaries of the shared window only
  // because the static shared memory before this array (fastSetup's table)
  // is 256 bytes. 16 bytes off (one more static variable), every slice's
  // cp.async took twice the shared wavefronts and fetched its global
  // sectors twice (ncu, 32 more L2 sectors per token). Aligning at run time
  // instead moved registers and times by up to 2% either way (perf/RESULTS.md,
  // eleventh round), so it is left out while the static size stays a
  // multiple of 32.
  extern __shared__ __align__(16) uint32_t rowSmem[];
  const int endWord = (int)(reinterpret_cast<uint32_t*>(sh.end) - rowSmem);  // sh.end is 4-byte aligned
  float* biasPad = reinterpret_cast<float*>(rowSmem + endWord);
  const int warpsWord = (endWord + (d.bias ? V * kBiasStride : 0) + 3) & ~3;  // cp.async: 16-byte aligned
  uint32_t* buf0 = rowSmem + warpsWord + warp * W::kWords;
  uint32_t* buf1 = buf0 + L::kWords;
  float* scoreRows = reinterpret_cast<float*>(buf1 + L::kWords);  // W's token rows
  float* scores0 = scoreRows + row * W::kScoreStride;             // this lane's row in a tail's first batch
  if (d.bias) {
    for (int j = threadIdx.x; j < E; j += blockDim.x) biasPad[biasAt(j)] = sh.bias[j];
    if (kSieve && threadIdx.x < V) {  // each group's largest bias, in its pad word
      float most = -INFINITY;
      for (int i = 0; i < 32; ++i) most = fmaxf(most, sh.bias[32 * threadIdx.x + i]);
      biasPad[threadIdx.x * kBiasStride + 32] = most;
    }
    __syncthreads();
  }
  const bool hasBias = sh.bias != nullptr;
  float maxAbsBias = 0.0f;
  for (int j = lane; j < E && hasBias; j += 32) maxAbsBias = fmaxf(maxAbsBias, fabsf(sh.bias[j]));
  maxAbsBias = __int_as_float(warpMax(__float_as_int(maxAbsBias)));  // >= +0: the bits order as ints
  const float dSel = sigmoidSelMargin(maxAbsBias);
  const float keySlack = sigmoidKeySlack(maxAbsBias);
  // k is known at compile time for the short lists (launchRowsForK: a list
  // of 2 for k = 1, of 3 for k = 2), so the unused picks' code and loads go.
  // byMax reloads k groups (launchRowsForGroups: k < V).
  const int k = kList <= 3 ? kList - 1 : d.k, M = kByMax ? k : d.M;
  const bool groupMax = groupScoreIsMax(d);
  const int nCand = kAll || kByMax ? E : M * 32;

  const int64_t nBatches = (T + L::kRows - 1) / L::kRows, nUnits = (nBatches + kPerTail - 1) / kPerTail;
  const int64_t stride = (int64_t)gridDim.x * wpb;  // in units of kPerTail batches
  int64_t unit = (int64_t)blockIdx.x * wpb + warp;
  const int64_t b0 = unit * kPerTail;  // this warp's first batch
  // This lane's slice copies (SliceCopy): where they read in the current
  // batch, whether it is a full one, and where they write in each buffer,
  // computed once per batch. Not in the 3-block (80-register) builds: held
  // across the slice loop, those registers spilled (deepseek-v3 fp32 at
  // T = 1M: 681 -> 759 us), so there each slice computes its own.
  constexpr bool kCopyPerBatch = kMinBlocks != 3;
  const In* copySrc = SliceCopy<In>::template source<E>(logits, b0 * L::kRows, lane);
  bool copyFull = b0 * L::kRows + L::kRows <= T;
  const unsigned copyDst0 = (unsigned)__cvta_generic_to_shared(buf0 + SliceCopy<In>::word(lane));
  const unsigned copyDst1 = copyDst0 + 4 * L::kWords;
  // Starts slice s of batch bb into buf (dst: buf's copyDst), bb's first
  // copy reading from src.
  auto issueSlice = [&](uint32_t* buf, unsigned dst, int64_t bb, const In* src, bool full, int s) {
    if (full) issueFullSlice<In, E>(dst, src + s * 32);
    else issuePartialSlice<In, E>(buf, logits, bb * L::kRows, T, s, lane);
  };
  if (b0 < nBatches) issueSlice(buf0, copyDst0, b0, copySrc, copyFull, 0);
  cpAsyncCommit();
  for (; unit < nUnits; unit += stride) {
    // The token this lane routes in the tail: lane l token l of the unit's
    // two batches (the one-lane tail), or its batch's token row with the
    // other lane of its pair.
    const int64_t t0 = unit * kPerTail * L::kRows, t = t0 + (kWide ? lane : row);
    const bool live = t < T;
    const In* rowPtr = logits + min(t, T - 1) * E;
    float poison[4] = {0.0f, 0.0f, 0.0f, 0.0f};  // NaN iff a logit is NaN or infinite; four chains, not one
    int worstKey = INT_MIN;  // fp32 softmax keying every logit: the largest key, instead of the poison
    int bestKey = INT_MAX;   // keepBest: the smallest key of every slice (kAll: keys[0])
    int keptGroup = -1;      // keepBest: the group whose list keys holds, and its score
    float keptScore = -INFINITY;
    int keys[kList];  // this lane's candidates; merged with the other lane's at the end
#pragma unroll
    for (int i = 0; i < kList; ++i) keys[i] = INT_MAX;
    // The unit's batches stream through the pairs of lanes, one after the
    // other (the one-lane tail's two; one otherwise).
#pragma unroll 1
    for (int half = 0; half < kPerTail; ++half) {
      const int64_t b = unit * kPerTail + half;
      // The batch after this one in the warp's order: the unit's second, or
      // the next unit's first.
      const int64_t after = !kWide ? b + stride : half + 1 < kPerTail ? b + 1 : (unit + stride) * kPerTail;
      float* scores = kWide ? scores0 + half * L::kRows * W::kScoreStride : scores0;
      if (half > 0)
#pragma unroll
        for (int i = 0; i < 4; ++i) poison[i] = 0.0f;  // each batch's own (the first one's flag is kept)
#pragma unroll 1
      for (int s = 0; s < V; ++s) {  // not unrolled: the body is large enough
        // Start the next slice (this batch's, or the next batch's first), then wait for this one.
        uint32_t* nextBuf = (s & 1) ? buf0 : buf1;
        const unsigned nextDst = (s & 1) ? copyDst0 : copyDst1;
        if constexpr (kCopyPerBatch) {
          if (s + 1 < V) {
            issueSlice(nextBuf, nextDst, b, copySrc, copyFull, s + 1);
          } else {
            const int64_t nb = after;
            copySrc = SliceCopy<In>::template source<E>(logits, nb * L::kRows, lane);
            copyFull = nb * L::kRows + L::kRows <= T;
            if (nb < nBatches) issueSlice(nextBuf, nextDst, nb, copySrc, copyFull, 0);
          }
        } else {
          const int64_t nb = s + 1 < V ? b : after;
          if (nb < nBatches)
            issueSlice(nextBuf, nextDst, nb, SliceCopy<In>::template source<E>(logits, nb * L::kRows, lane),
                       nb * L::kRows + L::kRows <= T, (s + 1) % V);
        }
        cpAsyncCommit();
        cpAsyncWait<1>();
        __syncwarp();
        const uint32_t* rowWords = ((s & 1) ? buf1 : buf0) + row * L::kStride;
        // The group's two values, the same on both lanes; lane h keeps value h.
        float v0, v1;
        if (kSoftmax) {
          // Against the group's own max: no running max to rescale; the
          // batch's end scales each group by exp(group max - row max).
          float mx4[4] = {-INFINITY, -INFINITY, -INFINITY, -INFINITY};
          float second = -INFINITY;  // the sieve (16-bit): this lane's second largest logit of the slice
          int slice[kList];  // keepBest: this slice's list
#pragma unroll
          for (int i = 0; i < kList; ++i) slice[i] = INT_MAX;
          if constexpr (k16) {
            // Packed: one HFMA2 and one HMNMX2 per two logits, not an unpack,
            // an FFMA and an FMNMX per logit (16-bit softmax is bound by
            // instructions). The max ignores a NaN as fmaxf does; the poison
            // catches it.
            using P = typename Packed16<In>::T;
            const P zero = packed<In>(0u), negInf = packed<In>(Packed16<In>::kNegInf);
            P p2[2] = {zero, zero}, m2[2] = {negInf, negInf}, s2[2] = {negInf, negInf};
            forHalfSharedWords<In>(rowWords, h, [&](int c, int i, uint32_t w) {
              const P v = packed<In>(w);
              p2[c & 1] = __hfma2(v, zero, p2[c & 1]);
              if (kSieve) s2[c & 1] = __hmax2(s2[c & 1], __hmin2(m2[c & 1], v));  // the second largest (a tie counts)
              m2[c & 1] = __hmax2(m2[c & 1], v);
              if (kAll) {
                float x[2];
                pairToFloats(w, x, static_cast<In*>(nullptr));
                insertKeyPair(keys, candidateKey<true>(x[0], 32 * s + i), candidateKey<true>(x[1], 32 * s + i + 1));
              }
            });
#pragma unroll
            for (int c = 0; c < 2; ++c) {
              poison[2 * c] += __low2float(p2[c]), poison[2 * c + 1] += __high2float(p2[c]);  // NaN stays NaN
              mx4[2 * c] = __low2float(m2[c]), mx4[2 * c + 1] = __high2float(m2[c]);
            }
            if constexpr (kSieve) {
              // The lane's second largest: the chains' seconds, and each
              // chain's max but the largest one.
              const P mm = __hmax2(m2[0], m2[1]), ss = __hmax2(__hmax2(s2[0], s2[1]), __hmin2(m2[0], m2[1]));
              second = fmaxf(fmaxf(__low2float(ss), __high2float(ss)), fminf(__low2float(mm), __high2float(mm)));
            }
          } else {
            int held = 0;  // insertKeyInPairs
            int(&list)[kList] = kKeep ? slice : keys;  // where this pass's keys go
            forHalfShared<In>(rowWords, h, [&](int j, int i, float x) {
              mx4[j & 3] = fmaxf(mx4[j & 3], x);
              if (!kAll && !kKeep) {
                poison[j & 3] = fmaExact(x, 0.0f, poison[j & 3]);
                return;
              }
              // Every logit is keyed, and the keys show a non-finite one
              // (keysFinite): one max per pair instead of a poison FFMA per logit.
              worstKey = max(worstKey, insertKeyInPairs(list, held, j, candidateKey<true>(x, 32 * s + i)));
            });
            if (kKeep) bestKey = min(bestKey, slice[0]);
          }
          const float mHalf = fmaxf(fmaxf(mx4[0], mx4[1]), fmaxf(mx4[2], mx4[3]));
          const float mGroup = pairMax(mHalf);
          // e^(x - mGroup) as 2^(x log2e - mL), one FFMA per logit (not a
          // subtract and a multiply): mL is mGroup log2e rounded, so every
          // term of the group carries the same factor 2^eps (eps, the
          // rounding's residual: groupExpOffset), which the batch's end takes
          // off the group's sum.
          const float mL = __fmul_rn(mGroup, kLog2e);
          // Four chains, each starting at its first term, not at 0 + it: the
          // same bits (a term is never -0), one FADD fewer per chain.
          float acc[4] = {0.0f, 0.0f, 0.0f, 0.0f};  // overwritten by each chain's first term (j < 4); nvcc cannot tell
          forHalfShared<In>(rowWords, h, [&](int j, int, float x) {
            const float e = ex2Approx(fmaf(x, kLog2e, -mL));
            acc[j & 3] = j < 4 ? e : acc[j & 3] + e;
          });
          v0 = pairSum((acc[0] + acc[1]) + (acc[2] + acc[3])), v1 = mGroup;
          if constexpr (kSieve) {
            // The group's second largest logit beside its max, both as
            // 16-bit values in v1's word (the batch's end takes them apart).
            const float oMax = __shfl_xor_sync(kFull, mHalf, 1), oSecond = __shfl_xor_sync(kFull, second, 1);
            const float groupSecond = fmaxf(fminf(mHalf, oMax), fmaxf(second, oSecond));
            v1 = __uint_as_float(bits16<In>(mGroup) << 16 | bits16<In>(groupSecond));
          }
          if (kKeep) {
            // The group's score as the batch's end ranks it, up to rounding: a
            // sum as log2 of sum 2^(x log2e) (v0 is it over 2^mL), a max as
            // itself. Strictly better: ties keep the lower group, as the scan.
            const float score = groupMax ? v1 : __log2f(v0) + mL;
            if (score > keptScore) {
              keptScore = score, keptGroup = s;
#pragma unroll
              for (int i = 0; i < kList; ++i) keys[i] = slice[i];
            }
          }
        } else {
          float a1 = -INFINITY, a2 = -INFINITY;
          int held = 0;  // insertKeyInPairs
          forHalfShared<In>(rowWords, h, [&](int j, int i, float x) {
            poison[j & 3] = fmaExact(x, 0.0f, poison[j & 3]);
            const float sg = sigmoidApprox(x), sel = hasBias ? sg + biasPad[s * kBiasStride + i] : sg;  // not sg + 0: an FADD per logit
            a2 = fmaxf(a2, fminf(a1, sel));
            a1 = fmaxf(a1, sel);
            if (!kAll) return;
            insertKeyInPairs(keys, held, j, candidateKey<false>(sel, 32 * s + i));
          });
          const float o1 = __shfl_xor_sync(kFull, a1, 1), o2 = __shfl_xor_sync(kFull, a2, 1);
          v0 = fmaxf(a1, o1), v1 = fmaxf(fminf(a1, o1), fmaxf(a2, o2));  // the top two of both halves' top twos
        }
        scores[2 * s + h] = h ? v1 : v0;
        __syncwarp();  // the scores are read by the other lane; this buffer is refilled two slices on
      }
      if constexpr (kWide && !kKeep) {  // the token's finite flag, in its row's pad word (the other state is reloaded)
        const bool finite = poisonFinite(poison), pairFinite = __shfl_xor_sync(kFull, finite, 1);
        if (h == 0) scores[2 * V] = finite && pairFinite ? 1.0f : 0.0f;
      }
      if constexpr (kWide && kKeep) {
        // keepBest: the finite flag (by the keys), then the kept group and
        // the pair's merged list; each lane inserts the other's (the keys
        // are distinct, so both end with the same sorted list). The next
        // batch starts afresh.
        const bool finite = keysFinite(bestKey, worstKey), pairFinite = __shfl_xor_sync(kFull, finite, 1);
        int other[kList];
#pragma unroll
        for (int i = 0; i < kList; ++i) other[i] = __shfl_xor_sync(kFull, keys[i], 1);
#pragma unroll
        for (int i = 0; i < kList; ++i) insertKey(keys, other[i]);
        int* state = reinterpret_cast<int*>(scores + 2 * V + 1);
        if (h == 0) {
          scores[2 * V] = finite && pairFinite ? 1.0f : 0.0f;
          state[0] = keptGroup;
#pragma unroll
          for (int i = 0; i < kList; ++i) state[1 + i] = keys[i];
        }
#pragma unroll
        for (int i = 0; i < kList; ++i) keys[i] = INT_MAX;
        keptGroup = -1, keptScore = -INFINITY, bestKey = INT_MAX, worstKey = INT_MIN;
      }
    }  // the unit's batches
    if constexpr (kWide) __syncwarp();  // the tail reads every pair's rows

    const float* scores = kWide ? scoreRows + lane * W::kScoreStride : scores0;
    if constexpr (kWide && kKeep) {  // this lane's token's kept group and list (the pair left them)
      const int* state = reinterpret_cast<const int*>(scores + 2 * V + 1);
      keptGroup = state[0];
#pragma unroll
      for (int i = 0; i < kList; ++i) keys[i] = state[1 + i];
    }

    // The groups' values (the pair wrote them): softmax: ga = sum of exps
    // against the row max m, gb = max logit; sigmoid: the top two sel.
    float ga[V], gb[V];
#pragma unroll
    for (int g = 0; g < V; ++g) ga[g] = scores[2 * g], gb[g] = scores[2 * g + 1];
    float lows[V];  // the sieve: each group's lower of its top two values (sigmoid: gb; softmax: its second logit)
#pragma unroll
    for (int g = 0; g < V; ++g) {
      lows[g] = gb[g];
      if (kSoftmax && kSieve) {
        const uint32_t w = __float_as_uint(gb[g]);
        gb[g] = value16<In>(w >> 16), lows[g] = value16<In>(w & 0xffffu);
      }
    }
    float m = -INFINITY, inv = 0.0f;
    bool inRange = true;  // softmax: every group's max within +-2^126, where mGroup log2e stays finite
    if (kSoftmax) {
      float lo = INFINITY;
#pragma unroll
      for (int g = 0; g < V; ++g) m = fmaxf(m, gb[g]), lo = fminf(lo, gb[g]);
      inRange = m < 0x1p126f && lo > -0x1p126f;
      float sum = 0.0f;
#pragma unroll
      for (int g = 0; g < V; ++g) {
        // exp(gb - m) and the group's 2^-eps in one exponent.
        ga[g] *= ex2Approx(fmaf(m - gb[g], kNegLog2e, -groupExpOffset(gb[g])));
        sum += ga[g];
      }
      inv = rcpApprox(sum);
    }
    constexpr bool kFiniteByKeys = kSoftmax && kAll && !k16;  // the first pass above
    const bool finite = kWide ? scores[2 * V] != 0.0f  // keepBest's too (by its keys, as its batch ended)
                        : kFiniteByKeys ? keysFinite(keys[0], worstKey) : poisonFinite(poison);
    const bool pairFinite = kWide || __shfl_xor_sync(kFull, finite, 1);  // every lane: not behind a && (a lane that skips it hangs the warp)
    bool sure = live && finite && pairFinite && inRange;

    // Groups: scores (a sum of exps or a top-2 sum: larger is better; the
    // softmax max: u = m - max logit, smaller is better), the top M by
    // repeated scans, and the proof: the worst chosen against the best left.
    // byMax: by the max logits themselves (exact; u = m - max is rounded,
    // and two maxima one u apart would tie).
    unsigned chosen = (1u << V) - 1u;
    float bestLeftOut = -INFINITY;  // byMax: the largest max logit of a group left out
    float sieveBound = -INFINITY;   // the sieve: every candidate it left out has an approximate sel below this
    if (!kAll) {  // kAll: every logit keyed in the first pass, no group to choose
      float sc[V];
#pragma unroll
      for (int g = 0; g < V; ++g)
        sc[g] = kByMax     ? gb[g]
                : kSoftmax ? (groupMax ? m - gb[g] : ga[g])
                           : (groupMax ? ga[g] : ga[g] + gb[g]);
      const bool smallBetter = kSoftmax && groupMax && !kByMax;
      auto before = [&](float a, float c) { return smallBetter ? a < c : a > c; };  // strictly
      chosen = 0;
#pragma unroll
      for (int p = 0; p < V; ++p) {
        if (p >= M) break;
        int bg = -1;
        float bv = 0.0f;
#pragma unroll
        for (int g = 0; g < V; ++g)
          if (!((chosen >> g) & 1u) && (bg < 0 || before(sc[g], bv))) bg = g, bv = sc[g];
        chosen |= 1u << bg;
      }
      if (M < V) {
        // The worst chosen (last in order: ties to the higher group) against
        // the best left out (first: ties to the lower group).
        int wg = -1, lg = -1;
        float wv = 0.0f, lv = 0.0f;
#pragma unroll
        for (int g = 0; g < V; ++g) {
          if ((chosen >> g) & 1u) {
            if (wg < 0 || !before(sc[g], wv)) wg = g, wv = sc[g];
          } else if (lg < 0 || before(sc[g], lv)) {
            lg = g, lv = sc[g];
          }
        }
        if (kByMax) bestLeftOut = lv;  // no proof: the reference has no group stage
        else if (smallBetter) sure = sure && uBefore(wv, wg, lv, lg);
        else if (kSoftmax) sure = sure && wv - lv > kSumRel * (fabsf(wv) + fabsf(lv)) + 2.0f * kSumAbs;
        else sure = sure && wv - lv > (groupMax ? 2.0f : 4.0f) * dSel;
      }
      // keepBest: the list is the kept group's, which must be the one chosen.
      if (kKeep) sure = sure && keptGroup >= 0 && chosen == 1u << keptGroup;
      // This lane's half of the chosen groups' experts (the one-lane tail:
      // both halves), from global memory (L2).
      constexpr int kHalves = kWide ? 2 : 1;
      if (kSieve && 2 * M >= k) {
        sieveBound = sieveReload<In, V, kSoftmax, kList, kWide, kMinBlocks, kSieveWords>(
            rowPtr, h, lane, chosen, M, lows, dSel, hasBias, biasPad, buf1, keys, sure);
      } else {
#pragma unroll 1
        for (int p = 0; p < M * kHalves && !kKeep; ++p) {
          const int g = (int)__fns(chosen, 0, p / kHalves + 1);  // the (p / kHalves)-th chosen group
          int held = 0;  // insertKeyInPairs
          forHalfGlobal<In>(rowPtr + g * 32, kWide ? p & 1 : h, [&](int j, int i, float x) {
            const float sg = kSoftmax ? x : sigmoidApprox(x), v = kSoftmax || !hasBias ? sg : sg + biasPad[g * kBiasStride + i];
            insertKeyInPairs(keys, held, j, candidateKey<kSoftmax>(v, 32 * g + i));
          });
        }
      }
    }

    // Both halves' lists: each lane inserts the other's (the keys are
    // distinct, so both end with the same sorted list).
    if constexpr (!kWide) {
      int other[kList];
#pragma unroll
      for (int i = 0; i < kList; ++i) other[i] = __shfl_xor_sync(kFull, keys[i], 1);
#pragma unroll
      for (int i = 0; i < kList; ++i) insertKey(keys, other[i]);
    }

    // The picks and their proof, on the actual values (the keys dropped 8 bits).
    const bool sureBeforeOrder = sure;  // orderExactly's condition
    const bool runner = k < nCand;
    float xs[kList], act[kList], s[kList];
    // Sigmoid loads its picks' logits before it uses any: behind a break on
    // the runtime k each load waited for the one before (deepseek-v3 bf16:
    // eight L2 round trips in a row at the batch's end, ~15% of the warps'
    // stall samples in ncu). So it loads the most picks any k of its list
    // has (its lists: k + 1 or k + 2 keys, the long ones k <= kRowMostK),
    // from experts of the row (an empty key's 255 masked into it), and uses
    // the first k.
    constexpr int kMostPicks = kList > 3 ? kRowMostK : kList - 1;
    if constexpr (!kSoftmax) {
      In picked[kMostPicks];
#pragma unroll
      for (int i = 0; i < kMostPicks; ++i) picked[i] = rowPtr[keys[i] & (32 * V - 1)];
#pragma unroll
      for (int i = 0; i < kMostPicks; ++i) xs[i] = toFloat<In>(picked[i]);
    } else {
#pragma unroll
      for (int i = 0; i < kList; ++i) {
        if (i > k) break;
        const int e = keys[i] & kExpertBits;
        // No load (no L2 round trip at the batch's end) where the logit is
        // known: 16-bit softmax keys hold it exactly; with every group kept
        // and k = 1 a proven pick is the row's max logit, m (a pick that is
        // not the max shares its key's bucket with it, so with the runner-up,
        // and is not proven).
        constexpr bool pickIsMax = kAll && kList == 2;
        xs[i] = k16 ? keyLogit16(keys[i]) : pickIsMax && i == 0 ? m : toFloat<In>(rowPtr[e]);
        act[i] = m - xs[i];
      }
    }
    if (kSoftmax) {
#pragma unroll
      for (int i = 0; i + 1 < kList; ++i) {
        if (i + 1 >= k) break;
        sure = sure && uBefore(act[i], keys[i] & kExpertBits, act[i + 1], keys[i + 1] & kExpertBits);
      }
    } else {
      // Sigmoid: the picks' exact scores and sels (the reference's bits)
      // order them. The approximate keys only have to prove the set, the
      // last pick against the runner-up below; within the set the exact
      // sels are checked in order (ties to the lower expert), so only a
      // pair the approximate order actually got wrong leaves the token
      // unproven (deepseek-v3's random tokens: 3.5% were left unproven when
      // each pair had to be 2 dSel apart, 0.5% now: most were close pairs).
#pragma unroll
      for (int i = 0; i < kList; ++i) {
        if (i >= k) break;
        const int e = keys[i] & kExpertBits;
        s[i] = routeSigmoid(xs[i], sh.exp2);
        act[i] = hasBias ? s[i] + biasPad[biasAt(e)] : s[i];  // the exact sel
      }
#pragma unroll
      for (int i = 0; i + 1 < kList; ++i) {
        if (i + 1 >= k) break;
        const bool tieInOrder = act[i] == act[i + 1] && (keys[i] & kExpertBits) < (keys[i + 1] & kExpertBits);
        sure = sure && (act[i] > act[i + 1] || tieInOrder);
      }
    }
    if (runner) {
      // The last pick (k - 1) and the runner-up (k) by a chain of selects:
      // indexing the arrays with k (or selecting on i == k, which the
      // compiler turns back into that) puts them in local memory.
      // The 16-bit sigmoid lists hold k + 2 keys, for the second look below.
      constexpr bool kSecondLook = !kSoftmax && kList == 10;
      int rKey = INT_MAX, lastKey = INT_MAX, pastKey = INT_MAX;
      float rX = 0.0f, lastX = 0.0f, lastAct = 0.0f;
#pragma unroll
      for (int i = 0; i < kList; ++i) {
        if (kSecondLook && i <= k + 1) pastKey = keys[i];  // the key past the runner-up (used where k + 2 <= kList)
        if (i <= k) rKey = keys[i], rX = kSoftmax ? xs[i] : 0.0f;  // sigmoid loads no xs[k]
        if (i < k) lastKey = keys[i], lastX = xs[i], lastAct = act[i];
      }
      const bool sameBucket = ((rKey ^ lastKey) & ~kExpertBits) == 0;
      if (kSoftmax && k16) {
        // 16-bit logits keep all their bits in the key: the runner-up (or
        // byMax's best max left out, or the sieve's bound where it left the
        // runner-up out) is the best left out; below a tie with it, every
        // logit is at most the next lower 16-bit value.
        const float rBest = kByMax  ? fmaxf(rX, bestLeftOut)
                            : kSieve ? fmaxf(rKey == INT_MAX ? -INFINITY : rX, sieveBound)
                                     : rX;
        const float bound = rBest == lastX ? m - prevValue<In>(lastX) : m - rBest;
        sure = sure && uClearOf(lastAct, bound);
      } else if (!kSecondLook && sameBucket) {
        sure = false;
      } else {
        // The best value the runner-up's bucket holds: a bound on every
        // approximate sel left out. Sigmoid: lastAct is the last pick's
        // exact sel, the lowest of the set (the check above), and each
        // exact sel left out is within dSel of its approximate one.
        // The sieve: candidates it left out are below sieveBound (fmaxf
        // takes it when there is no runner-up key, whose bound is NaN; the
        // second look's lists too, whose sieveBound is -inf without a sieve:
        // no key there then means no candidate left).
        const float keyBest = keyBound<kSoftmax>(rKey & ~kExpertBits, keySlack);
        const float best = kSieve || kSecondLook ? fmaxf(keyBest, sieveBound) : keyBest;
        // Sigmoid's second look, for a token whose set alone was not
        // proven (a runner-up close to the last pick, or in its bucket):
        // the runner-up's exact sel against the last pick's, in the
        // reference's order, and everything past it bounded by the key
        // after it (kSecondLook: the 16-bit sigmoid lists; deepseek-v3's
        // random tokens: ~0.22% failed on the set alone, about half of the
        // ~0.42% that went the exact way, by a model of the benchmark's rows).
        // A load of one logit from L2, in the few warps that need it.
        // Only where the list has room past the runner-up (a key of INT_MAX
        // there then means no candidate is left, not an unknown one).
        if constexpr (kSecondLook) {
          bool setProven = !sameBucket && lastAct - best > dSel;
          if (sure && !setProven && rKey != INT_MAX && k + 2 <= kList) {
            const int re = rKey & kExpertBits;
            const float rs = routeSigmoid(toFloat<In>(rowPtr[re]), sh.exp2);
            const float rAct = hasBias ? rs + biasPad[biasAt(re)] : rs;
            const float past = fmaxf(keyBound<false>(pastKey & ~kExpertBits, keySlack), sieveBound);
            setProven = exactBefore(lastAct, lastKey, rAct, rKey) && lastAct - past > dSel;  // no key past: past is sieveBound
          }
          sure = sure && setProven;
        } else {
          sure = sure && (kSoftmax ? uClearOf(lastAct, m - best) : lastAct - best > dSel);
        }
      }
    }

    // fp32 softmax's 9-key list: the order the keys could not prove, once
    // more on exact scores. There it proves nearly every such token
    // (deepseek-v2's random tokens at T = 65536: 144 -> 7 routed the exact
    // way, 41.3 -> 40.1 us), and a call lasts as long as its slowest warp,
    // so only nearly all of them pays. The short lists gain nothing: a list
    // of k + 1 holds nothing past the runner-up, and it proved a third of
    // gshard's and sam's (97 -> 65, 40 -> 27) in the same time (perf/RESULTS.md,
    // fourteenth round). Nor in the 80-register build (many rounds of
    // batches, T = 1M): the code there made it spill three times as much,
    // and over many rounds the detours are spread out anyway.
    if constexpr (kSoftmax && !k16 && kList > 3 && kMinBlocks == 2)
      if (sureBeforeOrder && !sure) sure = orderExactly(keys, xs, k, runner, m, sh.exp2);

    if (sure) writeProvenToken<kSoftmax, kList, kWide>(d, o, sh, t, k, h, keys, xs, s, m, inv);
    // The tokens not proven (or with a non-finite logit): routed exactly.
    const bool retry = live && !sure && (kWide || h == 0);
    routeUnproven<In, V, rowDefersUnproven(kSoftmax, kList, kMinBlocks), kWide>(d, logits, o, sh, t0, t, retry, lane);
    // The next unit's batches rewrite the rows this tail read (and the
    // sieve's entries in the second buffer).
    if constexpr (kWide || kSieve) __syncwarp();
  }
  cpAsyncWait<0>();
  fastFinish<E>(d, o, sh, 0.0);
}

// The tokens a sigmoid row kernel build could not prove and deferred
// (rowDefersUnproven), each routed exactly by one warp (exactToken, the
// reference's bits), counts included.
template <typename In, int V>
__global__ void __launch_bounds__(256) retryKernel(DevSpec d, const In* __restrict__ logits, FwdOut o, int wantCounts) {
  waitForPreviousKernel();  // the row kernel (launchAfter)
  letNextKernelLaunch();    // the commit kernel
  const unsigned long long n = o.small->rerouted;  // the row kernel's
  if (n <= (unsigned long long)blockIdx.x * (blockDim.x >> 5)) return;  // the whole block idle (the usual case: none)
  const FastShared sh = fastSetup<32 * V>(d, o, wantCounts, 0);
  const int wpb = blockDim.x >> 5;
  for (unsigned long long i = (unsigned long long)blockIdx.x * wpb + (threadIdx.x >> 5); i < n;
       i += (unsigned long long)gridDim.x * wpb)
    (void)exactToken<In, V>(d, logits, o, sh, o.retry[i]);
  fastFinish<32 * V>(d, o, sh, 0.0);
}

}  // namespace fast
