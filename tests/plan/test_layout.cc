// The plan's layout as pure functions: hand-made and random routes.
#include <gtest/gtest.h>

#include <map>
#include <random>
#include <set>

#include "plan/dtype_convert.h"
#include "plan/layout.h"

namespace {

using sam::ExpertPlacement;

TEST(PlanLayout, HandMadeRoute) {
  // E = 8 on R = 4 ranks (2 experts each), k = 3.
  ExpertPlacement p{8, 4, 3};
  const std::vector<int32_t> idx = {
      1, 0, 7,   // token 0: rank 0 (experts 1, 0), rank 3 (expert 7)
      5, -1, 4,  // token 1: rank 2 (5, 4), one slot dropped
      -1, -1, -1,  // token 2: dropped entirely
      6, 2, 3,   // token 3: rank 3, rank 1 (2, 3)
  };
  std::vector<float> w = {0.5f, 0.25f, 0.125f, 0.4f, 0.f, 0.3f, 0, 0, 0, 0.6f, 0.2f, 0.1f};
  sam::SendLayout s = sam::buildSendLayout(p, 4, idx.data(), w.data());
  EXPECT_EQ(s.count, (std::vector<int64_t>{1, 1, 1, 2}));
  EXPECT_EQ(s.rows, (std::vector<int64_t>{2, 2, 2, 2}));
  EXPECT_EQ(s.offset, (std::vector<int64_t>{0, 1, 2, 3, 5}));
  EXPECT_EQ(s.token, (std::vector<int32_t>{0, 3, 1, 0, 3}));
  // Token 0 on rank 0 keeps slots 0 and 1 (local experts 1 and 0), slot 2 elsewhere.
  EXPECT_EQ(std::vector<int32_t>(s.localExpert.begin(), s.localExpert.begin() + 3), (std::vector<int32_t>{1, 0, -1}));
  EXPECT_EQ(std::vector<float>(s.weight.begin(), s.weight.begin() + 3), (std::vector<float>{0.5f, 0.25f, 0.f}));
  // Token 3 on rank 3 (vector 4): slot 0 = expert 6 = local 0.
  EXPECT_EQ(std::vector<int32_t>(s.localExpert.begin() + 12, s.localExpert.end()), (std::vector<int32_t>{0, -1, -1}));
  // Per token, its vectors in rank order: token 0 -> vectors 0 (rank 0) and 3 (rank 3).
  EXPECT_EQ(s.tokenOffset, (std::vector<int64_t>{0, 2, 3, 3, 5}));
  EXPECT_EQ(s.tokenVector, (std::vector<int64_t>{0, 3, 2, 1, 4}));
  // Only token 1 has a single rank: its vector lands in y directly.
  EXPECT_EQ(s.soleToken, (std::vector<int64_t>{-1, -1, 1, -1, -1}));
  EXPECT_EQ(s.spillRow, (std::vector<int64_t>{0, 1, -1, 3, 4}));

  // Rank 3 receives from rank 0 (token 0) and from itself (token 3), in that order.
  std::vector<int32_t> le = {-1, -1, 1, 0, -1, -1};
  std::vector<float> lw = {0, 0, 0.125f, 0.6f, 0, 0};
  sam::RecvLayout r = sam::buildRecvLayout(p, {1, 0, 0, 1}, le, lw);
  EXPECT_EQ(r.total(), 2);
  EXPECT_EQ(r.expertCount, (std::vector<int64_t>{1, 1}));
  EXPECT_EQ(r.expertOffset, (std::vector<int64_t>{0, 1, 2}));
  EXPECT_EQ(r.rowVector, (std::vector<int64_t>{1, 0}));  // expert 0's row is token 3's vector
  EXPECT_EQ(r.slotRow, (std::vector<int64_t>{-1, -1, 1, 0, -1, -1}));
}

TEST(PlanLayout, ZeroTokens) {
  ExpertPlacement p{6, 3, 2};
  sam::SendLayout s = sam::buildSendLayout(p, 0, nullptr, nullptr);
  EXPECT_EQ(s.total(), 0);
  EXPECT_EQ(s.count, (std::vector<int64_t>{0, 0, 0}));
  sam::RecvLayout r = sam::buildRecvLayout(p, {0, 0, 0}, {}, {});
  EXPECT_EQ(r.rows(), 0);
  EXPECT_EQ(r.expertOffset, (std::vector<int64_t>{0, 0, 0}));
}

TEST(PlanLayout, BadExpertIsFound) {
  ExpertPlacement p{4, 2, 2};
  std::vector<int32_t> idx = {0, 1, 3, 4};
  auto bad = sam::findBadExpert(p, 2, idx.data());
  EXPECT_TRUE(bad.bad);
  EXPECT_EQ(bad.token, 1);
  EXPECT_EQ(bad.slot, 1);
  idx[3] = -2;
  EXPECT_TRUE(sam::findBadExpert(p, 2, idx.data()).bad);
  idx[3] = -1;
  EXPECT_FALSE(sam::findBadExpert(p, 2, idx.data()).bad);
}

// Random routes on R "ranks", simulated in one process: every send layout is
// built, the metadata handed to each receiver in source-rank order, and the
// result checked against brute force.
TEST(PlanLayout, RandomRoutesAgainstBruteForce) {
  std::mt19937 g(std::random_device{}());
  for (int trial = 0; trial < 40; ++trial) {
    const int R = 1 + g() % 6, L = 1 + g() % 5, E = R * L, k = 1 + g() % std::min(E, 6);
    ExpertPlacement p{E, R, k};
    std::vector<int64_t> T(R);
    std::vector<std::vector<int32_t>> idx(R);
    std::vector<std::vector<float>> w(R);
    std::vector<sam::SendLayout> send(R);
    for (int r = 0; r < R; ++r) {
      T[r] = g() % 3 == 0 ? 0 : g() % 40;
      for (int64_t t = 0; t < T[r]; ++t) {
        std::vector<int32_t> experts(E);
        for (int e = 0; e < E; ++e) experts[e] = e;
        std::shuffle(experts.begin(), experts.end(), g);
        for (int j = 0; j < k; ++j) {
          idx[r].push_back(g() % 7 == 0 ? -1 : experts[j]);
          w[r].push_back(static_cast<float>(g() % 1000) / 1000.f);
        }
      }
      send[r] = sam::buildSendLayout(p, T[r], idx[r].data(), w[r].data());
      // Each token once per rank that holds one of its experts, ascending.
      for (int d = 0; d < R; ++d) {
        std::vector<int32_t> expect;
        int64_t rows = 0;
        for (int64_t t = 0; t < T[r]; ++t) {
          bool there = false;
          for (int j = 0; j < k; ++j)
            if (idx[r][t * k + j] >= 0 && idx[r][t * k + j] / L == d) there = true, ++rows;
          if (there) expect.push_back(static_cast<int32_t>(t));
        }
        std::vector<int32_t> got(send[r].token.begin() + send[r].offset[d], send[r].token.begin() + send[r].offset[d + 1]);
        ASSERT_EQ(got, expect) << "src " << r << " dst " << d;
        ASSERT_EQ(send[r].rows[d], rows);
      }
      // The per-token index lists every vector of the token, ranks ascending.
      for (int64_t t = 0; t < T[r]; ++t) {
        int lastRank = -1;
        for (int64_t i = send[r].tokenOffset[t]; i < send[r].tokenOffset[t + 1]; ++i) {
          int64_t v = send[r].tokenVector[i];
          ASSERT_EQ(send[r].token[v], t);
          int rank = static_cast<int>(std::upper_bound(send[r].offset.begin(), send[r].offset.end(), v) -
                                      send[r].offset.begin()) - 1;
          ASSERT_GT(rank, lastRank);
          lastRank = rank;
        }
      }
      ASSERT_EQ(send[r].tokenOffset.back(), send[r].total());
    }
    for (int d = 0; d < R; ++d) {
      std::vector<int64_t> counts(R);
      std::vector<int32_t> le;
      std::vector<float> lw;
      for (int s = 0; s < R; ++s) {
        counts[s] = send[s].count[d];
        le.insert(le.end(), send[s].localExpert.begin() + send[s].offset[d] * k,
                  send[s].localExpert.begin() + send[s].offset[d + 1] * k);
        lw.insert(lw.end(), send[s].weight.begin() + send[s].offset[d] * k, send[s].weight.begin() + send[s].offset[d + 1] * k);
      }
      sam::RecvLayout rl = sam::buildRecvLayout(p, counts, le, lw);
      // Rows per expert by brute force, and each row points back at a
      // (source, token, slot) that chose this expert, in stable order.
      std::vector<std::vector<std::pair<int, int64_t>>> byExpert(L);  // (src, token)
      for (int s = 0; s < R; ++s)
        for (int64_t t = 0; t < T[s]; ++t)
          for (int j = 0; j < k; ++j) {
            int32_t e = idx[s][t * k + j];
            if (e >= 0 && e / L == d) byExpert[e % L].push_back({s, t});
          }
      for (int e = 0; e < L; ++e) {
        ASSERT_EQ(rl.expertCount[e], static_cast<int64_t>(byExpert[e].size()));
        for (size_t i = 0; i < byExpert[e].size(); ++i) {
          int64_t v = rl.rowVector[rl.expertOffset[e] + i];
          int src = static_cast<int>(std::upper_bound(rl.offset.begin(), rl.offset.end(), v) - rl.offset.begin()) - 1;
          int64_t tok = send[src].token[send[src].offset[d] + (v - rl.offset[src])];
          ASSERT_EQ(std::make_pair(src, tok), byExpert[e][i]) << "expert " << e << " row " << i;
        }
      }
    }
  }
}

TEST(DtypeConvert, Bf16RoundsToNearestEven) {
  EXPECT_EQ(sam::floatToBf16(1.0f), 0x3f80);
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(sam::floatToBf16(1.0f + 1.0f / 256), 0x3f80);
  // 1 + 3 * 2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6: up.
  EXPECT_EQ(sam::floatToBf16(1.0f + 3.0f / 256), 0x3f82);
  EXPECT_EQ(sam::floatToBf16(1.0f + 1.0f / 256 + 1.0f / 4096), 0x3f81);
  EXPECT_TRUE(std::isnan(sam::bf16ToFloat(sam::floatToBf16(NAN))));
  EXPECT_EQ(sam::bf16ToFloat(sam::floatToBf16(-INFINITY)), -INFINITY);
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = sam::bf16ToFloat(static_cast<uint16_t>(h));
    if (!std::isnan(f)) ASSERT_EQ(sam::floatToBf16(f), h);
  }
}

TEST(DtypeConvert, Fp16RoundTripsAndRounds) {
  for (uint32_t h = 0; h < 65536; ++h) {
    float f = sam::fp16ToFloat(static_cast<uint16_t>(h));
    if (!std::isnan(f)) ASSERT_EQ(sam::floatToFp16(f), h) << std::hex << h;
  }
  EXPECT_EQ(sam::fp16ToFloat(0x3c00), 1.0f);
  EXPECT_EQ(sam::fp16ToFloat(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(sam::floatToFp16(65504.f), 0x7bff);
  EXPECT_EQ(sam::floatToFp16(65520.f), 0x7c00);  // halfway to the next: rounds to Inf
  EXPECT_EQ(sam::floatToFp16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);      // tie -> even
  EXPECT_EQ(sam::floatToFp16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);  // tie -> even (up)
  EXPECT_EQ(sam::floatToFp16(std::ldexp(1.0f, -25)), 0x0000);            // tie -> 0
  EXPECT_EQ(sam::floatToFp16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_TRUE(std::isnan(sam::fp16ToFloat(sam::floatToFp16(NAN))));
}

}  // namespace
