// The CUDA row kernel's launch shape: how many warps route a call's batches,
// in blocks of how many; and from which size it takes a call at all. Plain
// arithmetic, shared by the launch (route_cuda.cu) and its host tests
// (tests/route/test_route_grid.cc).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace sam {
namespace route {

struct RowGrid {
  int blocks;
  int warpsPerBlock;
};

// For `batches` batches (16 tokens each) on a device of `sms` SMs where at
// most maxBlocks blocks of fullWarps warps fit at once.
//  - Every warp gets the same number of batches (rounds).
//  - When one round would fill more than half the device, and twoRounds is
//    set, two rounds of half as many warps: a warp's second batch then
//    streams in during its first one's tail (the reloads of the chosen groups
//    and picks), and DRAM is not left idle while every warp finishes at once.
//    (H200, T = 65536, 4096 batches, 64 or 85 registers: 2 rounds of 2048
//    warps against 1 of 4096: fp32 1.4 to 4.7 us faster on every preset,
//    16-bit deepseek-v2/v3 1.7 and 3.2 us faster, but 16-bit switch, gshard
//    and sam 0.2 to 1 us slower; 1.3 rounds was slower than both.)
//  - Fewer warps than full blocks on every SM come in smaller blocks, so that
//    they spread over every SM instead of filling some of them (T = 8192:
//    512 warps, 128 blocks of 4 rather than 64 of 8).
inline RowGrid rowGrid(int64_t batches, int maxBlocks, int fullWarps, int sms, bool twoRounds) {
  batches = std::max<int64_t>(batches, 1);
  const int64_t slots = static_cast<int64_t>(maxBlocks) * fullWarps;
  int64_t rounds = (batches + slots - 1) / slots;
  if (rounds == 1 && twoRounds && 2 * batches > slots) rounds = 2;
  const int64_t warps = (batches + rounds - 1) / rounds;
  int perBlock = fullWarps;
  if (warps < static_cast<int64_t>(sms) * fullWarps)
    perBlock = static_cast<int>(std::max<int64_t>(1, (warps + sms - 1) / sms));
  const int64_t blocks = std::min<int64_t>(maxBlocks, (warps + perBlock - 1) / perBlock);
  return RowGrid{static_cast<int>(std::max<int64_t>(1, blocks)), perBlock};
}

// Whether a call of T tokens takes the row kernel, or the exact
// one-warp-per-token kernel (route_fast.cuh), on a device of `sms` SMs.
// A row warp routes its 16 tokens one after another through every slice and
// a long tail, so a call with few batches per SM lasts as long as that chain
// and the exact kernel, whose warps each route one token, is faster; sigmoid
// adds the retry kernel's chain (its unproven tokens). H200 (132 SMs),
// sync-free us, row / exact (perf/RESULTS.md, seventh round):
// deepseek-v3 fp32 T = 8192: 27.5 / 20.5, T = 16384: 31.8 / 33.2;
// deepseek-v2 fp32 T = 4096: 17.1 / 12.8, bf16 T = 8192: 13.9 / 17.0;
// sam, gshard, switch within 1 to 3 us either way up to T = 8192, row faster
// from 16384. minTokens >= 0 overrides (SAM_ROUTE_ROW_MIN_TOKENS; 0: always).
inline bool rowKernelPays(int64_t T, int sms, bool sigmoid, int64_t minTokens = -1) {
  if (minTokens >= 0) return T >= minTokens;
  const int64_t batchesPerSm = sigmoid ? 4 : 2;
  return T > 16 * batchesPerSm * static_cast<int64_t>(sms);
}

// Shared memory is what a block's placement can be bounded by: the bytes a
// block of the row kernel asks for (at least `need`) so that no SM can hold
// more than its share of `blocks` (over `sms`, rounded up). An SM holds
// smemPerSm bytes; each block takes its own plus `reserved`. `need` where
// that is more, or where the share cannot be pinned (its bytes would exceed
// `optin`, the most one block may ask for).
// Why: the row kernel is launched as a dependent of the kernel before it,
// so its blocks are placed while that one's still run; where more than the
// share fit, some SMs took more than others and the grid ran unbalanced
// (H200, T = 65536, switch fp32: 4 blocks fit per SM, 2 needed; 28.5 us per
// call unpinned, 22.6 us pinned, 25.3 us as a plain launch).
inline size_t evenSpreadSmem(int64_t blocks, int sms, size_t need, size_t smemPerSm, size_t reserved,
                             size_t optin) {
  const int64_t share = std::max<int64_t>(1, (blocks + sms - 1) / sms);
  // share + 1 blocks of perBlock bytes are 128 x (share + 1) bytes more than
  // the SM, less the division's remainder (< share + 1): they do not fit.
  const size_t perBlock = smemPerSm / (size_t)(share + 1) + 128;
  if (perBlock <= reserved) return need;
  const size_t pinned = perBlock - reserved;
  const bool shareFits = (size_t)share * perBlock <= smemPerSm;
  if (!shareFits || pinned > optin) return need;
  return std::max(need, pinned);
}

}  // namespace route
}  // namespace sam
