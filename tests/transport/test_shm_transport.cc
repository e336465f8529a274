// The shared-memory transport with real processes: random sizes (0 bytes,
// larger than the window), several exchanges in a row, and peers that never
// come or die, which must end in an error within the deadline.
#include <gtest/gtest.h>

#include <random>

#include "fork_harness.h"
#include "transport/shm/shm_transport.h"

namespace {

using samtest::ForkBootstrap;
using samtest::runRanks;

// The bytes rank src sends to dst in round `round`: both sides can compute them.
uint8_t pattern(int src, int dst, int round, size_t i) {
  return static_cast<uint8_t>((src * 131 + dst * 31 + round * 7 + i * 2654435761u) >> 3);
}

// Bytes from src to dst in a round, agreed by every rank through a shared seed.
size_t sizeOf(uint64_t seed, int src, int dst, int round, size_t maxBytes) {
  std::mt19937_64 g(seed ^ (uint64_t(src) << 40) ^ (uint64_t(dst) << 20) ^ uint64_t(round));
  switch (g() % 4) {
    case 0: return 0;
    case 1: return g() % 97;                 // tiny, not a multiple of anything
    default: return g() % (maxBytes + 1);    // up to many windows
  }
}

int exchangeRounds(int rank, ForkBootstrap& bs, int nranks, uint64_t seed, int rounds, sam::ShmOptions opt,
                   size_t maxBytes) {
  std::vector<int> nodes(nranks, 0);
  std::unique_ptr<sam::Transport> t;
  samResult_t r = sam::createShmTransport(bs, nodes, nullptr, opt, &t);
  CHILD_CHECK(r == samSuccess, "create: %s", samGetLastError());
  sam::TrafficTable traffic(nranks);
  uint64_t expectSent = 0, expectRecv = 0;
  for (int round = 0; round < rounds; ++round) {
    std::vector<size_t> sOff(nranks), sBytes(nranks), rOff(nranks), rBytes(nranks);
    size_t sTot = 0, rTot = 0;
    std::vector<int> peers;
    for (int p = 0; p < nranks; ++p) {
      sBytes[p] = p == rank ? 0 : sizeOf(seed, rank, p, round, maxBytes);
      rBytes[p] = p == rank ? 0 : sizeOf(seed, p, rank, round, maxBytes);
      sOff[p] = sTot;
      rOff[p] = rTot;
      sTot += sBytes[p];
      rTot += rBytes[p];
      if (p != rank) peers.push_back(p);
      expectSent += sBytes[p];
      expectRecv += rBytes[p];
    }
    std::vector<uint8_t> send(sTot), recv(rTot, 0xEE);
    for (int p = 0; p < nranks; ++p)
      for (size_t i = 0; i < sBytes[p]; ++i) send[sOff[p] + i] = pattern(rank, p, round, i);
    sam::ExchangeSpec spec{send.data(), sOff.data(), sBytes.data(), recv.data(), rOff.data(), rBytes.data()};
    CHILD_CHECK(t->post(spec, peers, round + 1, traffic) == samSuccess, "post: %s", samGetLastError());
    r = t->wait(sam::Deadline::in(20000));
    CHILD_CHECK(r == samSuccess, "round %d wait: %s", round, samGetLastError());
    for (int p = 0; p < nranks; ++p)
      for (size_t i = 0; i < rBytes[p]; ++i)
        CHILD_CHECK(recv[rOff[p] + i] == pattern(p, rank, round, i), "round %d byte %zu from rank %d", round, i, p);
  }
  uint64_t sent = 0, got = 0;
  for (int p = 0; p < nranks; ++p) {
    sent += traffic.get(p, samTransportShm).bytesSent;
    got += traffic.get(p, samTransportShm).bytesReceived;
  }
  CHILD_CHECK(sent == expectSent && got == expectRecv, "traffic %llu/%llu, expected %llu/%llu",
              (unsigned long long)sent, (unsigned long long)got, (unsigned long long)expectSent,
              (unsigned long long)expectRecv);
  return 0;
}

TEST(ShmTransport, RandomSizesAcrossSmallWindows) {
  // A 256-byte chunk and 2 slots: most blocks need many trips through the ring.
  std::random_device rd;
  const uint64_t seed = (uint64_t(rd()) << 32) | rd();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int nranks : {2, 3, 4}) {
    sam::ShmOptions opt;
    opt.chunkBytes = 256;
    opt.slots = 2;
    auto res = runRanks(nranks, [&](int rank, ForkBootstrap& bs) {
      return exchangeRounds(rank, bs, nranks, seed, 6, opt, 5000);
    });
    EXPECT_TRUE(res.allOk()) << nranks << " ranks: " << res.describe();
  }
}

TEST(ShmTransport, LargeBlocksDefaultGeometry) {
  std::random_device rd;
  const uint64_t seed = rd();
  auto res = runRanks(3, [&](int rank, ForkBootstrap& bs) {
    return exchangeRounds(rank, bs, 3, seed, 3, sam::ShmOptions{}, 3 << 20);
  });
  EXPECT_TRUE(res.allOk()) << res.describe();
}

TEST(ShmTransport, RanksOnOtherNodesAreNotMapped) {
  // Two nodes of two ranks: each rank only reaches its node peer.
  auto res = runRanks(4, [&](int rank, ForkBootstrap& bs) {
    std::vector<int> nodes = {0, 0, 1, 1};
    std::unique_ptr<sam::Transport> t;
    CHILD_CHECK(sam::createShmTransport(bs, nodes, nullptr, {}, &t) == samSuccess, "%s", samGetLastError());
    sam::TrafficTable traffic(4);
    std::vector<size_t> off(4, 0), bytes(4, 0);
    sam::ExchangeSpec spec{nullptr, off.data(), bytes.data(), nullptr, off.data(), bytes.data()};
    int other = rank < 2 ? 2 : 0;  // a rank of the other node
    CHILD_CHECK(t->post(spec, {other}, 1, traffic) == samInternalError, "post to another node must fail");
    return 0;
  });
  EXPECT_TRUE(res.allOk()) << res.describe();
}

TEST(ShmTransport, PeerThatNeverArrivesTimesOut) {
  // Rank 2 never starts: creation needs the bootstrap, which times out.
  auto start = std::chrono::steady_clock::now();
  auto res = runRanks(
      3,
      [&](int rank, ForkBootstrap& bs) {
        std::unique_ptr<sam::Transport> t;
        samResult_t r = sam::createShmTransport(bs, {0, 0, 0}, nullptr, {}, &t);
        CHILD_CHECK(r == samTimeout, "expected samTimeout, got %d (%s)", r, samGetLastError());
        return 0;
      },
      /*bootTimeoutMs=*/1000, /*killAfterMs=*/20000, /*absent=*/{2});
  EXPECT_EQ(res.exitCodes[0], 0) << res.describe();
  EXPECT_EQ(res.exitCodes[1], 0) << res.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
}

// Rank `quitter` creates the transport, then behaves badly in the first exchange.
int exchangeWithQuitter(int rank, ForkBootstrap& bs, int quitter, bool dies) {
  std::unique_ptr<sam::Transport> t;
  CHILD_CHECK(sam::createShmTransport(bs, {0, 0, 0}, nullptr, {}, &t) == samSuccess, "%s", samGetLastError());
  if (rank == quitter) {
    if (dies) _exit(3);  // the process goes away mid-job
    usleep(2500 * 1000);  // alive but silent past the peers' 2 s deadline
    return 0;
  }
  const size_t n = 1 << 20;  // larger than the window: must block on the quitter
  std::vector<uint8_t> send(3 * n, 1), recv(3 * n);
  std::vector<size_t> off = {0, n, 2 * n}, bytes(3, n);
  bytes[rank] = 0;
  std::vector<int> peers;
  for (int p = 0; p < 3; ++p)
    if (p != rank) peers.push_back(p);
  sam::TrafficTable traffic(3);
  sam::ExchangeSpec spec{send.data(), off.data(), bytes.data(), recv.data(), off.data(), bytes.data()};
  CHILD_CHECK(t->post(spec, peers, 1, traffic) == samSuccess, "%s", samGetLastError());
  samResult_t r = t->wait(sam::Deadline::in(2000));
  if (dies)
    CHILD_CHECK(r == samRemoteError || r == samTimeout, "got %d (%s)", r, samGetLastError());
  else
    CHILD_CHECK(r == samTimeout, "got %d (%s)", r, samGetLastError());
  CHILD_CHECK(strstr(samGetLastError(), "rank 2") != nullptr, "error must name rank 2: %s", samGetLastError());
  return 0;
}

TEST(ShmTransport, PeerThatDiesGivesRemoteError) {
  auto res = runRanks(3, [&](int rank, ForkBootstrap& bs) { return exchangeWithQuitter(rank, bs, 2, true); });
  EXPECT_EQ(res.exitCodes[0], 0) << res.describe();
  EXPECT_EQ(res.exitCodes[1], 0) << res.describe();
  EXPECT_EQ(res.exitCodes[2], 3) << res.describe();
}

TEST(ShmTransport, SilentPeerTimesOut) {
  auto res = runRanks(
      3, [&](int rank, ForkBootstrap& bs) { return exchangeWithQuitter(rank, bs, 2, false); });
  EXPECT_EQ(res.exitCodes[0], 0) << res.describe();
  EXPECT_EQ(res.exitCodes[1], 0) << res.describe();
}

TEST(ShmTransport, NothingLeftInShmDir) {
  char dir[] = "/tmp/samshmXXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  sam::ShmOptions opt;
  opt.dir = dir;
  auto res = runRanks(2, [&](int rank, ForkBootstrap& bs) {
    std::unique_ptr<sam::Transport> t;
    CHILD_CHECK(sam::createShmTransport(bs, {0, 0}, nullptr, opt, &t) == samSuccess, "%s", samGetLastError());
    return 0;
  });
  EXPECT_TRUE(res.allOk()) << res.describe();
  EXPECT_EQ(rmdir(dir), 0) << "the windows' files were left in " << dir;
}

}  // namespace
