// The UCX transport created from a real communicator (TCP bootstrap, fake
// nodes through SAM_HOST_ID), one process per rank (ucx_comm_rank.cc).
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "support/multiproc.h"

namespace {

sam::test::RunResult runOnNodes(const std::vector<std::string>& hosts, bool tcp) {
  sam::test::RunOptions o;
  o.args = {"--scenario", "exchange_with_other_nodes", "--seed", std::to_string(std::random_device{}() % 1000000000)};
  o.env = {{"SAM_SOCKET_IFNAME", "lo"}, {"SAM_DEBUG", "WARN"}, {"SAM_TIMEOUT_MS", "20000"}};
  if (tcp) o.env.push_back({"UCX_TLS", "tcp"});
  o.perRank = [hosts](int rank, sam::test::RankSpec& s) { s.env.push_back({"SAM_HOST_ID", hosts[rank]}); };
  o.timeoutMs = 60000;
  return sam::test::runRanks(UCX_COMM_RANK_BINARY, static_cast<int>(hosts.size()), o);
}

}  // namespace

TEST(UcxOverComm, TwoNodesOfTwoRanks) {
  sam::test::RunResult res = runOnNodes({"nodeA", "nodeA", "nodeB", "nodeB"}, /*tcp=*/false);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}

TEST(UcxOverComm, ThreeUnevenNodesOverTcp) {
  sam::test::RunResult res = runOnNodes({"x", "y", "y", "z", "x"}, /*tcp=*/true);
  EXPECT_TRUE(res.allPassed()) << res.summary();
}
