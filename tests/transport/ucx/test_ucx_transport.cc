// The UCX transport between real processes, one per rank, meeting through a
// file bootstrap: byte-exact exchanges of random blocks (0 bytes to MBs),
// exchanges in flight together, exact traffic counts, and peers that leave or
// die (an error within the timeout, never a hang). UCX never runs in the
// GoogleTest process itself, only in the forked ranks.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <regex>
#include <thread>

#include "core/deadline.h"
#include "core/error.h"
#include "core/log.h"
#include "exchange_data.h"
#include "file_bootstrap.h"
#include "rank_processes.h"
#include "transport/traffic.h"
#include "transport/ucx/ucx_transport.h"

namespace sam::test {
namespace {

constexpr int kBootTimeoutMs = 10000;
constexpr int kRunTimeoutMs = 60000;     // the harness kills (and reports) a hung rank after this
constexpr int kFaultTimeoutMs = 1500;    // the data-path timeout in the fault tests
constexpr double kNoHangSeconds = 10.0;  // "returned at all", not a timing assert

// Exchanges start just below 2^32: the tag keeps seq mod 2^32, so the run
// crosses the wrap.
constexpr uint64_t kFirstSeq = 0xfffffffeull;

using Clock = std::chrono::steady_clock;
double secondsSince(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

uint64_t freshSeed() {
  std::random_device rd;
  return (static_cast<uint64_t>(rd()) << 32) | rd();
}

// The first exchange always holds an empty block (0 -> 1) and a multi-MB one
// (1 -> 0), whatever the seed says.
size_t sizeWithEdgeCases(uint64_t seed, uint64_t seq, int src, int dst) {
  if (seq == kFirstSeq && src == 0 && dst == 1) return 0;
  if (seq == kFirstSeq && src == 1 && dst == 0) return (size_t{3} << 20) + 13;
  return randomBlockSize(seed, seq, src, dst);
}

size_t fourMegabytes(uint64_t, uint64_t, int, int) { return size_t{4} << 20; }

std::string lastErrorText() { return sam::lastError(); }

// Reads the last error only after the call: in require(call() == ok, "..." +
// lastErrorText()) the order of evaluation is unspecified.
void requireOk(samResult_t r, const std::string& what) {
  if (r != samSuccess)
    throw std::runtime_error(what + ": " + samGetErrorString(r) + ": " + lastErrorText());
}

std::vector<int> otherRanks(int rank, int nranks) {
  std::vector<int> peers;
  for (int p = 0; p < nranks; ++p)
    if (p != rank) peers.push_back(p);
  return peers;
}

// Per peer, what this rank's traffic table must show.
struct ExpectedTraffic {
  std::vector<samTrafficCounter_t> byPeer;
  explicit ExpectedTraffic(int nranks) : byPeer(static_cast<size_t>(nranks), samTrafficCounter_t{}) {}
  void add(const ExchangeData& x) {
    for (size_t p = 0; p < byPeer.size(); ++p) add(x, static_cast<int>(p));
  }
  void add(const ExchangeData& x, int peer) {
    const size_t p = static_cast<size_t>(peer);
    byPeer[p].bytesSent += x.sendBytes[p];
    byPeer[p].bytesReceived += x.recvBytes[p];
    byPeer[p].messagesSent += x.sendBytes[p] > 0 ? 1 : 0;  // empty blocks are not sent
    byPeer[p].messagesReceived += x.recvBytes[p] > 0 ? 1 : 0;
  }
};

std::string checkTraffic(const TrafficTable& table, const ExpectedTraffic& want) {
  for (int p = 0; p < table.nranks(); ++p) {
    for (int t = 0; t < samNumTransports; ++t) {
      const samTrafficCounter_t got = table.get(p, static_cast<samTransport_t>(t));
      const samTrafficCounter_t exp = t == samTransportUcx ? want.byPeer[p] : samTrafficCounter_t{};
      if (got.bytesSent != exp.bytesSent || got.bytesReceived != exp.bytesReceived ||
          got.messagesSent != exp.messagesSent || got.messagesReceived != exp.messagesReceived)
        return "traffic with rank " + std::to_string(p) + " on transport " + std::to_string(t) + ": sent " +
               std::to_string(got.bytesSent) + " B / " + std::to_string(got.messagesSent) + " msgs, received " +
               std::to_string(got.bytesReceived) + " B / " + std::to_string(got.messagesReceived) +
               " msgs; expected " + std::to_string(exp.bytesSent) + " / " + std::to_string(exp.messagesSent) +
               ", " + std::to_string(exp.bytesReceived) + " / " + std::to_string(exp.messagesReceived);
    }
  }
  return "";
}

std::unique_ptr<Transport> makeTransport(Bootstrap& boot, int timeoutMs) {
  std::unique_ptr<Transport> t;
  const samResult_t r = createUcxTransport(boot, timeoutMs, nullptr, &t);
  require(r == samSuccess, "createUcxTransport: " + std::string(samGetErrorString(r)) + ": " + lastErrorText());
  require(t != nullptr && t->kind() == samTransportUcx, "createUcxTransport gave no UCX transport");
  return t;
}

void useTcpOnlyIf(bool tcp) {
  // TCP is what "between nodes" means on this kind of machine. Left to
  // choose, UCX 1.13 picks tcp here too (its shared-memory transports cannot
  // detect a dead peer, which the PEER error mode requires), but elsewhere it
  // may pick verbs or cma: both variants run.
  if (tcp) setenv("UCX_TLS", "tcp", 1);
}

// ------------------------------------------------------------ exchanges

struct Variant {
  int nranks;
  bool tcp;
};

class UcxExchange : public ::testing::TestWithParam<Variant> {};

std::string exchangeRank(int rank, int nranks, const std::string& dir, uint64_t seed, bool tcp) {
  useTcpOnlyIf(tcp);
  FileBootstrap boot(dir, rank, nranks, kBootTimeoutMs);
  auto transport = makeTransport(boot, 5000);
  TrafficTable traffic(nranks);
  ExpectedTraffic expected(nranks);

  // The order of `peers` is this rank's own business.
  std::vector<int> peers = otherRanks(rank, nranks);
  std::shuffle(peers.begin(), peers.end(), std::mt19937_64(seed + static_cast<uint64_t>(rank)));

  // Consecutive exchanges, one at a time.
  uint64_t seq = kFirstSeq;
  for (int i = 0; i < 4; ++i, ++seq) {
    ExchangeData x = makeExchange(seed, seq, rank, nranks, sizeWithEdgeCases);
    requireOk(transport->post(x.spec(), peers, seq, traffic), "post");
    const samResult_t r = transport->wait(Deadline::in(20000));
    require(r == samSuccess, "wait of exchange " + std::to_string(seq) + ": " + lastErrorText());
    const std::string bad = checkReceived(x, seed, seq, rank, nranks);
    require(bad.empty(), bad);
    expected.add(x);
  }

  // Two exchanges in flight, posted in opposite orders by odd and even ranks;
  // one wait completes both.
  const uint64_t seqA = seq, seqB = seq + 1;
  ExchangeData a = makeExchange(seed, seqA, rank, nranks);
  ExchangeData b = makeExchange(seed, seqB, rank, nranks);
  if (rank % 2 == 0) {
    requireOk(transport->post(a.spec(), peers, seqA, traffic), "post A");
    requireOk(transport->post(b.spec(), peers, seqB, traffic), "post B");
  } else {
    requireOk(transport->post(b.spec(), peers, seqB, traffic), "post B");
    requireOk(transport->post(a.spec(), peers, seqA, traffic), "post A");
  }
  requireOk(transport->wait(Deadline::in(20000)), "wait of two exchanges");
  for (auto* x : {&a, &b}) {
    const std::string bad = checkReceived(*x, seed, x == &a ? seqA : seqB, rank, nranks);
    require(bad.empty(), bad);
    expected.add(*x);
  }

  // Only some peers, as when UCX serves just the ranks on other nodes (here:
  // fake nodes of two ranks each); the blocks of the others stay untouched
  // and uncounted whatever their sizes say.
  if (nranks >= 3) {
    const uint64_t seqC = seqB + 1;
    std::vector<int> farPeers;
    for (int p : peers)
      if (p / 2 != rank / 2) farPeers.push_back(p);
    ExchangeData c = makeExchange(seed, seqC, rank, nranks, fourMegabytes);
    requireOk(transport->post(c.spec(), farPeers, seqC, traffic), "post C");
    requireOk(transport->wait(Deadline::in(20000)), "wait of C");
    const std::string bad = checkReceived(c, seed, seqC, rank, nranks, farPeers);
    require(bad.empty(), bad);
    for (int p : farPeers) expected.add(c, p);
  }

  const std::string trafficBad = checkTraffic(traffic, expected);
  require(trafficBad.empty(), trafficBad);

  // Nobody tears down while a peer may still be receiving.
  requireOk(boot.barrier(), "barrier");
  const auto t0 = Clock::now();
  transport.reset();
  require(secondsSince(t0) < kNoHangSeconds, "destruction took " + std::to_string(secondsSince(t0)) + " s");
  return "";
}

TEST_P(UcxExchange, RandomBlocksArriveByteExactAndAreCountedExactly) {
  const Variant v = GetParam();
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  TempDir dir;
  auto out = runRanks(v.nranks, kRunTimeoutMs,
                      [&](int rank) { return exchangeRank(rank, v.nranks, dir.path(), seed, v.tcp); });
  for (const RankOutcome& o : out) EXPECT_TRUE(o.exited && o.exitCode == 0) << describe(out);
}

INSTANTIATE_TEST_SUITE_P(Ranks, UcxExchange,
                         ::testing::Values(Variant{2, false}, Variant{3, false}, Variant{4, false}, Variant{2, true},
                                           Variant{3, true}, Variant{4, true}),
                         [](const ::testing::TestParamInfo<Variant>& info) {
                           return std::to_string(info.param.nranks) + "Ranks" +
                                  (info.param.tcp ? "OverTcp" : "UcxChooses");
                         });

TEST(UcxTransport, SingleRankHasNothingToExchange) {
  TempDir dir;
  auto out = runRanks(1, kRunTimeoutMs, [&](int rank) {
    FileBootstrap boot(dir.path(), rank, 1, kBootTimeoutMs);
    auto transport = makeTransport(boot, 1000);
    TrafficTable traffic(1);
    requireOk(transport->post(ExchangeSpec{}, {}, 1, traffic), "post");
    requireOk(transport->wait(Deadline::in(1000)), "wait");
    return checkTraffic(traffic, ExpectedTraffic(1));
  });
  EXPECT_TRUE(out[0].exited && out[0].exitCode == 0) << describe(out);
}

// UCX picks its transports itself; the log says which, so that "over TCP"
// is checked rather than assumed.
TEST(UcxTransport, LogSaysWhichWireEachPeerUses) {
  TempDir dir;
  auto out = runRanks(3, kRunTimeoutMs, [&](int rank) -> std::string {
    useTcpOnlyIf(true);
    const std::string logPath = dir.path() + "/log." + std::to_string(rank);
    setenv("SAM_DEBUG", "INFO", 1);
    setenv("SAM_DEBUG_SUBSYS", "NET", 1);
    setenv("SAM_DEBUG_FILE", logPath.c_str(), 1);
    logReset();
    FileBootstrap boot(dir.path(), rank, 3, kBootTimeoutMs);
    auto transport = makeTransport(boot, 5000);
    std::ifstream in(logPath);
    std::string line;
    int peersSeen = 0;
    while (std::getline(in, line)) {
      const size_t at = line.find(" over ");
      if (at == std::string::npos) continue;
      ++peersSeen;
      const std::string lanes = line.substr(at + 6);
      require(lanes.rfind("tcp/", 0) == 0 && lanes.find("posix") == std::string::npos &&
                  lanes.find("sysv") == std::string::npos && lanes.find("cma") == std::string::npos,
              "with UCX_TLS=tcp a peer is reached over: " + line);
    }
    require(peersSeen == 2, "expected one 'over' line per peer in the log, found " + std::to_string(peersSeen));
    requireOk(boot.barrier(), "barrier");
    return "";
  });
  for (const RankOutcome& o : out) EXPECT_TRUE(o.exited && o.exitCode == 0) << describe(out);
}

// ------------------------------------------------------------ bad input

TEST(UcxTransport, BadPostsAreRefusedAndLeaveTheTransportUsable) {
  const uint64_t seed = freshSeed();
  TempDir dir;
  auto out = runRanks(2, kRunTimeoutMs, [&](int rank) -> std::string {
    FileBootstrap boot(dir.path(), rank, 2, kBootTimeoutMs);
    require(createUcxTransport(boot, 1000, nullptr, nullptr) == samInvalidArgument, "NULL out accepted");
    auto transport = makeTransport(boot, 1000);
    TrafficTable traffic(2);
    ExchangeData x = makeExchange(seed, 3, rank, 2, fourMegabytes);
    const int other = 1 - rank;
    struct Bad {
      std::vector<int> peers;
      ExchangeSpec spec;
      const char* mentions;
    };
    ExchangeSpec noSizes = x.spec();
    noSizes.sendBytes = nullptr;
    ExchangeSpec noSendBuffer = x.spec();
    noSendBuffer.send = nullptr;
    const Bad bad[] = {
        {{rank}, x.spec(), "this rank"},
        {{2}, x.spec(), "out of range"},
        {{-1}, x.spec(), "out of range"},
        {{other, other}, x.spec(), "twice"},
        {{other}, noSizes, "sendBytes"},
        {{other}, noSendBuffer, "spec.send"},
    };
    for (const Bad& b : bad) {
      const samResult_t r = transport->post(b.spec, b.peers, 3, traffic);
      require(r == samInvalidArgument, "a bad post gave " + std::string(samGetErrorString(r)));
      require(lastErrorText().find(b.mentions) != std::string::npos,
              "error text '" + lastErrorText() + "' does not mention '" + b.mentions + "'");
    }
    require(checkTraffic(traffic, ExpectedTraffic(2)).empty(), "refused posts were counted");
    requireOk(transport->post(x.spec(), {other}, 3, traffic), "post");
    requireOk(transport->wait(Deadline::in(20000)), "wait");
    const std::string wrong = checkReceived(x, seed, 3, rank, 2);
    require(wrong.empty(), wrong);
    require(boot.barrier() == samSuccess, "barrier");
    return "";
  });
  for (const RankOutcome& o : out) EXPECT_TRUE(o.exited && o.exitCode == 0) << describe(out);
}

// Passes everything through, except that one rank's worker address is
// replaced by `fake` on its way out.
class TamperingBootstrap final : public Bootstrap {
 public:
  TamperingBootstrap(Bootstrap& inner, bool tamper, std::string fake)
      : inner_(inner), tamper_(tamper), fake_(std::move(fake)) {}
  int rank() const override { return inner_.rank(); }
  int size() const override { return inner_.size(); }
  samResult_t allgather(const std::string& mine, std::vector<std::string>* all) override {
    const bool first = round_++ == 0;
    return inner_.allgather(first && tamper_ ? fake_ : mine, all);
  }
  samResult_t broadcast(int root, std::string* blob) override { return inner_.broadcast(root, blob); }
  samResult_t barrier() override { return inner_.barrier(); }
  void abort() override { inner_.abort(); }

 private:
  Bootstrap& inner_;
  const bool tamper_;
  const std::string fake_;
  int round_ = 0;
};

class UcxBadAddress : public ::testing::TestWithParam<std::string> {};

TEST_P(UcxBadAddress, EveryRankFailsAndNamesTheCulprit) {
  TempDir dir;
  const std::string fake = GetParam();
  auto out = runRanks(3, kRunTimeoutMs, [&](int rank) -> std::string {
    FileBootstrap files(dir.path(), rank, 3, kBootTimeoutMs);
    TamperingBootstrap boot(files, rank == 1, fake);
    std::unique_ptr<Transport> t;
    const samResult_t r = createUcxTransport(boot, 1000, nullptr, &t);
    require(r == samRemoteError, "createUcxTransport gave " + std::string(samGetErrorString(r)));
    require(t == nullptr, "out was written on failure");
    const std::string culprits = rank == 1 ? "rank(s) 0, 2" : "rank(s) 1";
    require(lastErrorText().find(culprits) != std::string::npos,
            "error text '" + lastErrorText() + "' does not name " + culprits);
    return "";
  });
  for (const RankOutcome& o : out) EXPECT_TRUE(o.exited && o.exitCode == 0) << describe(out);
}

INSTANTIATE_TEST_SUITE_P(Blobs, UcxBadAddress,
                         ::testing::Values(std::string(), std::string("not a UCX worker address at all"),
                                           std::string("SAMUCX1\0\x07\0\0\0abcdef", 18)),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.index == 0 ? "Empty" : info.index == 1 ? "Garbage" : "WrongRank";
                         });

// ------------------------------------------------------------ faults

class UcxFaults : public ::testing::TestWithParam<bool> {};

// The survivors' side of a failed exchange: an error (not a hang) that names
// rank 2, and a transport that stays broken.
std::string expectFailureNamingRank2(int rank, Transport& transport, const ExchangeData& x,
                                     const std::vector<int>& peers, TrafficTable& traffic, samResult_t r,
                                     double seconds) {
  // Shown in the test log: which error, how fast, and the text users see.
  fprintf(stderr, "  rank %d: %s after %.3f s: %s\n", rank, samGetErrorString(r), seconds, lastErrorText().c_str());
  require(r == samTimeout || r == samRemoteError, "wait gave " + std::string(samGetErrorString(r)) + ": " +
                                                      lastErrorText());
  require(seconds < kNoHangSeconds, "wait took " + std::to_string(seconds) + " s");
  static const std::regex namesRank2(R"(rank\(s\) (\d+, )*2\b)");
  require(std::regex_search(lastErrorText(), namesRank2), "error text does not name rank 2: " + lastErrorText());
  const samResult_t again = transport.post(x.spec(), peers, 99, traffic);
  require(again == r, "after a failure post gave " + std::string(samGetErrorString(again)));
  return "";
}

TEST_P(UcxFaults, PeerThatLeavesWithoutPostingGivesAnErrorNotAHang) {
  const bool tcp = GetParam();
  const uint64_t seed = freshSeed();
  TempDir dir;
  auto out = runRanks(3, kRunTimeoutMs, [&](int rank) -> std::string {
    useTcpOnlyIf(tcp);
    FileBootstrap boot(dir.path(), rank, 3, kBootTimeoutMs);
    auto transport = makeTransport(boot, kFaultTimeoutMs);
    if (rank == 2) return "";  // leaves: destroys its transport, never posts
    TrafficTable traffic(3);
    ExchangeData x = makeExchange(seed, 5, rank, 3, fourMegabytes);
    const std::vector<int> peers = otherRanks(rank, 3);
    requireOk(transport->post(x.spec(), peers, 5, traffic), "post");
    const auto t0 = Clock::now();
    const samResult_t r = transport->wait(Deadline::in(kFaultTimeoutMs));
    expectFailureNamingRank2(rank, *transport, x, peers, traffic, r, secondsSince(t0));
    const auto t1 = Clock::now();
    transport.reset();
    require(secondsSince(t1) < kNoHangSeconds, "destruction took " + std::to_string(secondsSince(t1)) + " s");
    return "";
  });
  for (const RankOutcome& o : out) EXPECT_TRUE(o.exited && o.exitCode == 0) << describe(out);
}

TEST_P(UcxFaults, PeerThatStaysSilentGivesTimeoutNamingIt) {
  const bool tcp = GetParam();
  const uint64_t seed = freshSeed();
  TempDir dir;
  auto out = runRanks(3, kRunTimeoutMs, [&](int rank) -> std::string {
    useTcpOnlyIf(tcp);
    FileBootstrap boot(dir.path(), rank, 3, kBootTimeoutMs);
    auto transport = makeTransport(boot, kFaultTimeoutMs);
    // Rank 2 stays alive but posts nothing until the others gave up: UCX sees
    // no failure, only the deadline can end their wait.
    if (rank != 2) {
      TrafficTable traffic(3);
      ExchangeData x = makeExchange(seed, 6, rank, 3, fourMegabytes);
      const std::vector<int> peers = otherRanks(rank, 3);
      requireOk(transport->post(x.spec(), peers, 6, traffic), "post");
      const auto t0 = Clock::now();
      const samResult_t r = transport->wait(Deadline::in(kFaultTimeoutMs));
      expectFailureNamingRank2(rank, *transport, x, peers, traffic, r, secondsSince(t0));
      require(r == samTimeout, "wait gave " + std::string(samGetErrorString(r)) + ", not a timeout");
      require(lastErrorText().find("rank(s) 2 did not complete") != std::string::npos,
              "the timeout names other ranks than 2: " + lastErrorText());
    }
    requireOk(boot.barrier(), "barrier");
    const auto t1 = Clock::now();
    transport.reset();
    require(secondsSince(t1) < kNoHangSeconds, "destruction took " + std::to_string(secondsSince(t1)) + " s");
    return "";
  });
  for (const RankOutcome& o : out) EXPECT_TRUE(o.exited && o.exitCode == 0) << describe(out);
}

TEST_P(UcxFaults, PeerKilledMidExchangeGivesAnErrorNotAHang) {
  const bool tcp = GetParam();
  const uint64_t seed = freshSeed();
  TempDir dir;
  auto out = runRanks(3, kRunTimeoutMs, [&](int rank) -> std::string {
    useTcpOnlyIf(tcp);
    FileBootstrap boot(dir.path(), rank, 3, kBootTimeoutMs);
    auto transport = makeTransport(boot, kFaultTimeoutMs);
    TrafficTable traffic(3);
    const std::vector<int> peers = otherRanks(rank, 3);
    // Exchange 10: 4 MB blocks among all. Exchange 11 can never complete:
    // ranks 0 and 1 wait for a block from rank 2 that it never sends, and
    // rank 2 waits for one from rank 0; rank 2 dies while in its wait.
    ExchangeData x = makeExchange(seed, 10, rank, 3, fourMegabytes);
    ExchangeData stall = makeExchange(seed, 11, rank, 3, [](uint64_t, uint64_t, int src, int) -> size_t {
      return src == 2 ? size_t{1} << 20 : 0;
    });
    if (rank == 2) {
      stall.recvBytes[0] = 1;  // never sent by rank 0
      stall.sendBytes.assign(3, 0);
    }
    requireOk(transport->post(x.spec(), peers, 10, traffic), "post 10");
    requireOk(transport->post(stall.spec(), peers, 11, traffic), "post 11");
    if (rank == 2) {
      std::thread([] {
        std::this_thread::sleep_for(std::chrono::milliseconds(300));
        raise(SIGKILL);
      }).detach();
      transport->wait(Deadline::in(30000));
      return "rank 2 outlived its own SIGKILL";
    }
    const auto t0 = Clock::now();
    const samResult_t r = transport->wait(Deadline::in(kFaultTimeoutMs * 3));
    expectFailureNamingRank2(rank, *transport, x, peers, traffic, r, secondsSince(t0));
    const auto t1 = Clock::now();
    transport.reset();
    require(secondsSince(t1) < kNoHangSeconds, "destruction took " + std::to_string(secondsSince(t1)) + " s");
    return "";
  });
  EXPECT_TRUE(!out[2].exited && out[2].signal == SIGKILL && !out[2].hung) << describe(out);
  for (int r = 0; r < 2; ++r) EXPECT_TRUE(out[r].exited && out[r].exitCode == 0) << describe(out);
}

TEST_P(UcxFaults, DestroyingWithExchangesInFlightDoesNotHang) {
  const bool tcp = GetParam();
  const uint64_t seed = freshSeed();
  TempDir dir;
  auto out = runRanks(2, kRunTimeoutMs, [&](int rank) -> std::string {
    useTcpOnlyIf(tcp);
    FileBootstrap boot(dir.path(), rank, 2, kBootTimeoutMs);
    auto transport = makeTransport(boot, kFaultTimeoutMs);
    TrafficTable traffic(2);
    ExchangeData x = makeExchange(seed, 1, rank, 2, fourMegabytes);
    requireOk(transport->post(x.spec(), {1 - rank}, 1, traffic), "post");
    const auto t0 = Clock::now();
    transport.reset();  // never waited for
    require(secondsSince(t0) < kNoHangSeconds, "destruction took " + std::to_string(secondsSince(t0)) + " s");
    return "";
  });
  for (const RankOutcome& o : out) EXPECT_TRUE(o.exited && o.exitCode == 0) << describe(out);
}

INSTANTIATE_TEST_SUITE_P(Wire, UcxFaults, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "OverTcp" : "UcxChooses";
                         });

}  // namespace
}  // namespace sam::test
