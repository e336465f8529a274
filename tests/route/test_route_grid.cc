// The CUDA row kernel's launch shape (lib/route/route_grid.h): the shapes
// measured on an H200 (perf/RESULTS.md, sixth round), and the policy's
// promises over a sweep of sizes and devices.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>

#include "route/route_grid.h"

namespace {

using sam::route::evenSpreadSmem;
using sam::route::RowGrid;
using sam::route::rowGrid;

constexpr int kH200Sms = 132;

TEST(RowGrid, TheShapesMeasuredOnAnH200) {
  struct Case {
    const char* what;
    int64_t batches;
    int blocksPerSm;
    bool twoRounds;
    int blocks, warpsPerBlock;  // expected
  };
  const Case cases[] = {
      {"T = 65536, 2 blocks per SM: two rounds of 2048 warps", 4096, 2, true, 256, 8},
      {"T = 65536, 16-bit k <= 2 (4 blocks per SM, one round): a warp per batch", 4096, 4, false, 512, 8},
      {"T = 32768 fits one round of 2112 slots but fills over half: two of 1024 warps", 2048, 2, true, 128, 8},
      {"T = 32768 without twoRounds: one round", 2048, 2, false, 256, 8},
      {"T = 8192: 512 warps in blocks of 4, one per SM (not 64 blocks of 8)", 512, 2, true, 128, 4},
      {"T = 1M: 32 rounds of 2048 warps (65536 batches / 2112 slots = 31.03)", 65536, 2, true, 256, 8},
      {"one token", 1, 2, true, 1, 1},
  };
  for (const Case& c : cases) {
    const RowGrid g = rowGrid(c.batches, c.blocksPerSm * kH200Sms, 8, kH200Sms, c.twoRounds);
    EXPECT_EQ(g.blocks, c.blocks) << c.what;
    EXPECT_EQ(g.warpsPerBlock, c.warpsPerBlock) << c.what;
  }
}

// Over random sizes and devices: the grid fits, takes exactly the rounds the
// policy names (two when one round would fill more than half the slots and
// twoRounds is set), and a grid smaller than full blocks on every SM puts at
// most one block on each.
TEST(RowGrid, PromisesOverASweep) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<int> pickSms(1, 200), pickPerSm(1, 8), pickWarps(1, 8);
  std::uniform_int_distribution<int64_t> pickBatches(1, 1 << 20);
  for (int i = 0; i < 20000; ++i) {
    const int sms = pickSms(rng), full = pickWarps(rng), maxBlocks = sms * pickPerSm(rng);
    const int64_t batches = i % 3 == 0 ? pickBatches(rng) % 4096 + 1 : pickBatches(rng);
    const bool two = i % 2 == 0;
    const RowGrid g = rowGrid(batches, maxBlocks, full, sms, two);
    SCOPED_TRACE("batches " + std::to_string(batches) + " maxBlocks " + std::to_string(maxBlocks) + " full " +
                 std::to_string(full) + " sms " + std::to_string(sms) + " two " + std::to_string(two));
    ASSERT_GE(g.blocks, 1);
    ASSERT_LE(g.blocks, maxBlocks);
    ASSERT_GE(g.warpsPerBlock, 1);
    ASSERT_LE(g.warpsPerBlock, full);
    const int64_t slots = int64_t{maxBlocks} * full;
    int64_t rounds = (batches + slots - 1) / slots;
    if (rounds == 1 && two && 2 * batches > slots) rounds = 2;
    const int64_t warps = int64_t{g.blocks} * g.warpsPerBlock;
    ASSERT_EQ((batches + warps - 1) / warps, rounds) << "warps " << warps;
    if (g.warpsPerBlock < full) ASSERT_LE(g.blocks, sms);
  }
}

// Which calls take the row kernel (rowKernelPays): the sizes measured on an
// H200 fall on the faster side, and the override wins.
TEST(RowKernelPays, TheSizesMeasuredOnAnH200) {
  using sam::route::rowKernelPays;
  EXPECT_FALSE(rowKernelPays(8192, kH200Sms, true)) << "deepseek-v3 T = 8192: exact 20.5 us, row 27.5";
  EXPECT_TRUE(rowKernelPays(16384, kH200Sms, true)) << "deepseek-v3 T = 16384: row 31.8 us, exact 33.2";
  EXPECT_FALSE(rowKernelPays(4096, kH200Sms, false)) << "deepseek-v2 T = 4096: exact 12.8 us, row 17.1";
  EXPECT_TRUE(rowKernelPays(8192, kH200Sms, false)) << "deepseek-v2 bf16 T = 8192: row 13.9 us, exact 17.0";
  EXPECT_TRUE(rowKernelPays(65536, kH200Sms, true));
  EXPECT_FALSE(rowKernelPays(1, kH200Sms, false));
  EXPECT_TRUE(rowKernelPays(1, kH200Sms, true, 0)) << "SAM_ROUTE_ROW_MIN_TOKENS=0: every call";
  EXPECT_FALSE(rowKernelPays(1 << 20, kH200Sms, false, (1 << 20) + 1));
  for (int sms : {1, 8, 132, 200})  // monotone in T: one threshold per device and score
    for (bool sigmoid : {false, true}) {
      bool before = false;
      for (int64_t T = 0; T < 20000; ++T) {
        const bool now = rowKernelPays(T, sms, sigmoid);
        ASSERT_TRUE(now || !before) << "T " << T << " sms " << sms;
        before = now;
      }
    }
}

// An H200's shared memory: per SM, reserved per block, most per block.
constexpr size_t kH200SmemPerSm = 233472, kH200Reserved = 1024, kH200Optin = 232448;

// Blocks of `bytes` (plus the reserved ones) that fit on one SM by shared memory.
int64_t blocksThatFit(size_t bytes, size_t smemPerSm, size_t reserved) { return smemPerSm / (bytes + reserved); }

TEST(EvenSpreadSmem, TheShapesMeasuredOnAnH200) {
  // switch fp32, T = 65536: 256 blocks of 8 warps, ~51 KB each; 4 would fit per SM.
  const size_t need = 8 * 6208 + 1056;
  ASSERT_EQ(blocksThatFit(need, kH200SmemPerSm, kH200Reserved), 4);
  const size_t pinned = evenSpreadSmem(256, kH200Sms, need, kH200SmemPerSm, kH200Reserved, kH200Optin);
  EXPECT_EQ(blocksThatFit(pinned, kH200SmemPerSm, kH200Reserved), 2);
  // A full grid (T = 1M, or 16-bit k <= 2 at T = 65536: 4 blocks per SM) keeps its bytes.
  EXPECT_EQ(evenSpreadSmem(4 * kH200Sms, kH200Sms, need, kH200SmemPerSm, kH200Reserved, kH200Optin), need);
  // One block per SM (T = 16384: 128 blocks of 4 warps).
  const size_t one = evenSpreadSmem(128, kH200Sms, need / 2, kH200SmemPerSm, kH200Reserved, kH200Optin);
  EXPECT_EQ(blocksThatFit(one, kH200SmemPerSm, kH200Reserved), 1);
}

TEST(EvenSpreadSmem, PromisesOverASweep) {
  std::mt19937_64 rng(20261128);
  for (int i = 0; i < 20000; ++i) {
    const int sms = 1 + (int)(rng() % 200);
    const int64_t blocks = 1 + (int64_t)(rng() % (8 * sms));
    const size_t smemPerSm = 16384 + rng() % 262144, reserved = rng() % 2048;
    const size_t optin = smemPerSm / (1 + rng() % 2) - reserved / 2;
    const size_t need = rng() % (smemPerSm / 2);
    const size_t got = evenSpreadSmem(blocks, sms, need, smemPerSm, reserved, optin);
    const int64_t share = (blocks + sms - 1) / sms;
    SCOPED_TRACE(testing::Message() << "blocks=" << blocks << " sms=" << sms << " smemPerSm=" << smemPerSm
                                    << " reserved=" << reserved << " optin=" << optin << " need=" << need);
    ASSERT_GE(got, need);  // never less than the kernel needs
    if (got == need) continue;
    ASSERT_LE(got, optin);  // a launch the device accepts
    ASSERT_EQ(blocksThatFit(got, smemPerSm, reserved), share);  // the share fits, and no more
  }
}

}  // namespace
