// Multi-process tests of the communicator: each case starts one real process
// per rank (comm_rank, scenarios in comm_rank.cc) and checks they all passed.
#include <gtest/gtest.h>
#include <signal.h>

#include <random>
#include <string>

#include "support/multiproc.h"

using sam::test::RankSpec;
using sam::test::RunOptions;
using sam::test::RunResult;

namespace {

const int kFaultTimeoutMs = 2000;

RunOptions scenario(const std::string& name, int timeoutMs = 10000) {
  RunOptions o;
  o.args = {"--scenario", name, "--timeout-ms", std::to_string(timeoutMs), "--seed",
            std::to_string(std::random_device{}() % 1000000000)};
  // Loopback works on every machine, CI containers included.
  o.env = {{"SAM_SOCKET_IFNAME", "lo"}, {"SAM_DEBUG", "WARN"}, {"SAM_HOST_ID", ""}};
  o.timeoutMs = 60000;  // the harness's own "no hang" bound
  return o;
}

RunResult run(int nranks, const RunOptions& o) { return sam::test::runRanks(COMM_RANK_BINARY, nranks, o); }

}  // namespace

class CommRanks : public ::testing::TestWithParam<int> {};

TEST_P(CommRanks, InitQueriesAndCollectives) {
  RunResult res = run(GetParam(), scenario("collectives"));
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

INSTANTIATE_TEST_SUITE_P(Sizes, CommRanks, ::testing::Values(1, 2, 3, 4, 8));

TEST(CommMultiProc, FakeNodesFromHostIds) {
  // Four ranks on two "nodes" interleaved (A B A B): nodes are numbered by
  // their lowest rank and local ranks follow rank order within a node.
  RunOptions o = scenario("collectives");
  o.args.insert(o.args.end(), {"--hosts", "nodeA,nodeB,nodeA,nodeB"});
  o.perRank = [](int rank, RankSpec& s) { s.env.push_back({"SAM_HOST_ID", rank % 2 == 0 ? "nodeA" : "nodeB"}); };
  RunResult res = run(4, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

TEST(CommMultiProc, ThreeNodesUneven) {
  RunOptions o = scenario("collectives");
  const char* hosts[] = {"x", "y", "y", "z", "x"};
  o.args.insert(o.args.end(), {"--hosts", "x,y,y,z,x"});
  o.perRank = [&](int rank, RankSpec& s) { s.env.push_back({"SAM_HOST_ID", hosts[rank]}); };
  RunResult res = run(5, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

TEST(CommMultiProc, RankThatNeverArrivesTimesOutEverywhere) {
  RunOptions o = scenario("never_arrives", kFaultTimeoutMs);
  o.args.insert(o.args.end(), {"--missing", "2"});
  o.perRank = [](int rank, RankSpec& s) { s.start = rank != 2; };
  RunResult res = run(4, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
  EXPECT_LT(res.seconds, 20.0) << res.summary();
}

TEST(CommMultiProc, RootThatNeverArrivesTimesOutEverywhere) {
  // Without rank 0 there is no unique id: the others use SAM_ROOT_ADDR.
  RunOptions o = scenario("env", kFaultTimeoutMs);
  int port = sam::test::freeTcpPort();
  o.args.insert(o.args.end(), {"--expect-missing", "0"});
  o.perRank = [&](int rank, RankSpec& s) {
    s.start = rank != 0;
    s.env = {{"SAM_RANK", std::to_string(rank)}, {"SAM_NRANKS", "3"}, {"SAM_ROOT_ADDR", "127.0.0.1:" + std::to_string(port)}};
  };
  RunResult res = run(3, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

class CommVictim : public ::testing::TestWithParam<int> {};

TEST_P(CommVictim, RankKilledAfterInitGivesRemoteError) {
  const int victim = GetParam();
  RunOptions o = scenario("dies_after_init", kFaultTimeoutMs);
  o.args.insert(o.args.end(), {"--victim", std::to_string(victim)});
  RunResult res = run(4, o);
  for (const auto& r : res.ranks) {
    if (r.rank == victim) {
      EXPECT_EQ(r.signal, SIGKILL) << res.summary();
    } else {
      EXPECT_TRUE(r.passed()) << res.summary();
    }
  }
}

TEST_P(CommVictim, RankThatStopsAnsweringGivesTimeout) {
  const int victim = GetParam();
  RunOptions o = scenario("hangs_after_init", kFaultTimeoutMs);
  o.args.insert(o.args.end(), {"--victim", std::to_string(victim)});
  RunResult res = run(3, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

INSTANTIATE_TEST_SUITE_P(RootAndLeaf, CommVictim, ::testing::Values(0, 2));

TEST(CommMultiProc, AbortWakesBlockedCallAndPeersSeeIt) {
  RunResult res = run(2, scenario("abort", 30000));
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

class CommMismatch : public ::testing::TestWithParam<int> {};

TEST_P(CommMismatch, NranksDisagreementNamedOnEveryRank) {
  RunOptions o = scenario("mismatch", kFaultTimeoutMs * 2);
  const int odd = GetParam();
  o.args.insert(o.args.end(), {"--field", "nranks"});
  o.perRank = [odd](int rank, RankSpec& s) {
    if (rank == odd) s.args = {"--nranks-override", "4"};
  };
  RunResult res = run(3, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

TEST_P(CommMismatch, ConfigDisagreementNamedOnEveryRank) {
  RunOptions o = scenario("mismatch", kFaultTimeoutMs * 2);
  o.args.insert(o.args.end(), {"--field", "timeoutMs", "--odd", std::to_string(GetParam()), "--odd-timeout-ms", "5000"});
  RunResult res = run(3, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

INSTANTIATE_TEST_SUITE_P(RootAndLeaf, CommMismatch, ::testing::Values(0, 2));

TEST(CommMultiProc, StrangersAndGarbageDoNotDisturbTheRendezvous) {
  RunResult res = run(3, scenario("intruders"));
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

TEST(CommMultiProc, InitFromTorchrunEnvironment) {
  RunOptions o = scenario("env");
  int port = sam::test::freeTcpPort();
  o.perRank = [&](int rank, RankSpec& s) {
    // torchrun's store owns MASTER_PORT; we listen on MASTER_PORT + 1.
    s.env = {{"RANK", std::to_string(rank)},          {"WORLD_SIZE", "3"},
             {"LOCAL_RANK", std::to_string(rank)},    {"MASTER_ADDR", "127.0.0.1"},
             {"MASTER_PORT", std::to_string(port - 1)}, {"TORCHELASTIC_RUN_ID", "run-42"}};
  };
  RunResult res = run(3, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

TEST(CommMultiProc, InitFromOpenMpiEnvironment) {
  RunOptions o = scenario("env");
  int port = sam::test::freeTcpPort();
  o.perRank = [&](int rank, RankSpec& s) {
    s.env = {{"OMPI_COMM_WORLD_RANK", std::to_string(rank)}, {"OMPI_COMM_WORLD_SIZE", "2"},
             {"OMPI_COMM_WORLD_LOCAL_RANK", std::to_string(rank)},
             {"SAM_ROOT_ADDR", "localhost:" + std::to_string(port)}};
  };
  RunResult res = run(2, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

TEST(CommMultiProc, InitFromSamEnvironmentWithSecret) {
  RunOptions o = scenario("env");
  int port = sam::test::freeTcpPort();
  o.perRank = [&](int rank, RankSpec& s) {
    s.env = {{"SAM_RANK", std::to_string(rank)}, {"SAM_NRANKS", "4"},
             {"SAM_ROOT_ADDR", "127.0.0.1:" + std::to_string(port)},
             {"SAM_SECRET", "00112233445566778899aabbccddeeff"}};
  };
  RunResult res = run(4, o);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}
