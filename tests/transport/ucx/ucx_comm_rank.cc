// One rank of the UCX-over-communicator tests (driven by test_ucx_comm.cc):
// the transport is created from a real communicator's TCP bootstrap and
// exchanges blocks with the ranks on other (fake) nodes.
#include <cstdlib>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "core/deadline.h"
#include "exchange_data.h"
#include "support/rank_main.h"
#include "transport/traffic.h"
#include "transport/ucx/ucx_transport.h"

namespace {

size_t fourMegabytesOrSo(uint64_t seed, uint64_t seq, int src, int dst) {
  return (size_t{4} << 20) + sam::test::randomBlockSize(seed, seq, src, dst) % 4096;
}

// Exchanges with every rank of another node, three times; checks contents
// and traffic, then tears down in the order a communicator would.
int exchangeWithOtherNodes(sam::test::RankContext& ctx) {
  const uint64_t seed = static_cast<uint64_t>(ctx.getInt("seed", 1));
  samComm_t comm = nullptr;
  RANK_CHECK_OK(ctx.initComm(&comm));
  std::unique_ptr<sam::Transport> transport;
  RANK_CHECK_OK(sam::createUcxTransport(*comm->bootstrap, comm->config.timeoutMs, &comm->aborted, &transport));

  std::vector<int> farPeers;
  for (int p = 0; p < comm->nranks; ++p)
    if (!comm->cluster.sameNode(p, comm->rank)) farPeers.push_back(p);
  RANK_CHECK(!farPeers.empty(), "rank %d sees no rank on another node", comm->rank);

  sam::TrafficTable traffic(comm->nranks);
  uint64_t expectSent = 0, expectReceived = 0, expectMessages = 0;
  for (uint64_t seq = 1; seq <= 3; ++seq) {
    sam::test::ExchangeData x = sam::test::makeExchange(seed, seq, comm->rank, comm->nranks, fourMegabytesOrSo);
    RANK_CHECK_OK(transport->post(x.spec(), farPeers, seq, traffic));
    RANK_CHECK_OK(transport->wait(sam::Deadline::in(comm->config.timeoutMs)));
    const std::string bad = sam::test::checkReceived(x, seed, seq, comm->rank, comm->nranks, farPeers);
    RANK_CHECK(bad.empty(), "%s", bad.c_str());
    for (int p : farPeers) {
      expectSent += x.sendBytes[p];
      expectReceived += x.recvBytes[p];
      expectMessages += 1;
    }
  }
  uint64_t sent = 0, received = 0, messagesSent = 0, messagesReceived = 0;
  for (int p = 0; p < comm->nranks; ++p) {
    const samTrafficCounter_t c = traffic.get(p, samTransportUcx);
    sent += c.bytesSent;
    received += c.bytesReceived;
    messagesSent += c.messagesSent;
    messagesReceived += c.messagesReceived;
  }
  RANK_CHECK(sent == expectSent && received == expectReceived, "traffic %llu/%llu bytes, expected %llu/%llu",
             (unsigned long long)sent, (unsigned long long)received, (unsigned long long)expectSent,
             (unsigned long long)expectReceived);
  RANK_CHECK(messagesSent == expectMessages && messagesReceived == expectMessages,
             "traffic %llu/%llu messages, expected %llu", (unsigned long long)messagesSent,
             (unsigned long long)messagesReceived, (unsigned long long)expectMessages);

  RANK_CHECK_OK(samCommBarrier(comm));  // nobody tears down while a peer still receives
  transport.reset();
  RANK_CHECK_OK(samCommDestroy(comm));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sam::test::rankMain(argc, argv, {{"exchange_with_other_nodes", exchangeWithOtherNodes}});
}
