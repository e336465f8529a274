// The data path over the real communicator and router, one process per rank
// (plan_rank, started by the tests/support harness): every preset, 1 to 8
// ranks on one node, 2 to 8 ranks on two fake nodes (SAM_HOST_ID: UCX between
// them), three dtypes, T = 0 on a rank, capacity drops, the dense reference
// and the traffic counters to the byte; and a rank killed mid-dispatch.
#include <gtest/gtest.h>

#include <random>

#include "support/multiproc.h"

namespace {

sam::test::RunResult run(int nranks, int nodes, std::vector<std::string> args) {
  sam::test::RunOptions opt;
  opt.args = std::move(args);
  opt.timeoutMs = 60000;
  opt.perRank = [nranks, nodes](int rank, sam::test::RankSpec& s) {
    s.env.push_back({"SAM_HOST_ID", "fakenode" + std::to_string(rank * nodes / nranks)});
  };
  return sam::test::runRanks(PLAN_RANK_BINARY, nranks, opt);
}

void layer(int nranks, int nodes, bool allDtypes) {
  const unsigned seed = std::random_device{}() & 0x7fffffff;
  auto res = run(nranks, nodes, {"--scenario", "layer", "--seed", std::to_string(seed), "--all-dtypes",
                                 allDtypes ? "1" : "0"});
  EXPECT_TRUE(res.allPassed()) << nranks << " ranks on " << nodes << " node(s), seed " << seed << "\n"
                               << res.summary();
}

TEST(DatapathMultiproc, OneNodeOneToEightRanks) {
  for (int R = 1; R <= 8; ++R) layer(R, 1, /*allDtypes=*/R == 3 || R == 4);
}

TEST(DatapathMultiproc, TwoFakeNodes) {
#if !SAM_HAVE_UCX
  GTEST_SKIP() << "built without UCX (SAM_WITH_UCX=OFF or libucx-dev missing): two nodes need the UCX transport";
#endif
  for (int R : {2, 3, 4, 8}) layer(R, 2, /*allDtypes=*/R == 4);
}

void killed(int nodes) {
  auto res = run(4, nodes, {"--scenario", "killed"});
  for (int r = 0; r < 3; ++r) EXPECT_TRUE(res.ranks[r].passed()) << nodes << " node(s)\n" << res.summary();
  EXPECT_EQ(res.ranks[3].signal, SIGKILL) << res.summary();
  for (int r = 0; r < 3; ++r) EXPECT_FALSE(res.ranks[r].killedAtDeadline) << "rank " << r << " hung";
}

TEST(DatapathMultiproc, RankKilledMidDispatchOneNode) { killed(1); }

TEST(DatapathMultiproc, RankKilledMidDispatchTwoNodes) {
#if !SAM_HAVE_UCX
  GTEST_SKIP() << "built without UCX: two nodes need the UCX transport";
#endif
  killed(2);
}

}  // namespace
