// The TCP bootstrap with ranks as threads of one process: fast checks of the
// collectives and of the root's defences (the multi-process suite in
// tests/comm covers real processes and faults).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <random>
#include <thread>

#include "bootstrap/tcp_bootstrap.h"
#include "core/error.h"

namespace {

struct Loopback {
  Loopback() { setenv("SAM_SOCKET_IFNAME", "lo", 1); }
};

// Runs fn(rank, bootstrap) on nranks threads that rendezvous on a new id.
void withRanks(int nranks, const std::function<void(int, sam::Bootstrap&)>& fn, int timeoutMs = 5000) {
  Loopback lo;
  samUniqueId id;
  ASSERT_EQ(sam::bootstrapCreateRoot(&id), samSuccess);
  sam::UniqueIdContents c;
  std::string why;
  ASSERT_TRUE(sam::decodeUniqueId(id, &c, &why));
  std::vector<std::thread> threads;
  std::vector<int> ok(nranks, 0);
  for (int r = 0; r < nranks; ++r) {
    threads.emplace_back([&, r] {
      std::unique_ptr<sam::Bootstrap> b;
      samResult_t res = sam::bootstrapConnect(c, r, nranks, sam::bootstrapOptions(timeoutMs), &b);
      EXPECT_EQ(res, samSuccess) << "rank " << r;
      if (res != samSuccess) return;
      EXPECT_EQ(b->rank(), r);
      EXPECT_EQ(b->size(), nranks);
      fn(r, *b);
      ok[r] = 1;
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < nranks; ++r) EXPECT_TRUE(ok[r]) << "rank " << r;
}

}  // namespace

TEST(BootstrapThreads, CollectivesOfVariedBlobs) {
  const uint32_t seed = std::random_device{}();
  auto blob = [seed](int round, int rank) {
    std::mt19937 g(seed + round * 131 + rank);
    std::string s(g() % 3000 * (rank % 3 != 1), '\0');  // every third rank empty
    for (char& c : s) c = static_cast<char>(g());
    return s;
  };
  withRanks(5, [&](int rank, sam::Bootstrap& b) {
    for (int round = 0; round < 4; ++round) {
      std::vector<std::string> all;
      ASSERT_EQ(b.allgather(blob(round, rank), &all), samSuccess);
      ASSERT_EQ(all.size(), 5u);
      for (int r = 0; r < 5; ++r) EXPECT_EQ(all[r], blob(round, r)) << "round " << round << " rank " << r;
      std::string bc = rank == round ? blob(round + 50, round) : "poison";
      ASSERT_EQ(b.broadcast(round, &bc), samSuccess);
      EXPECT_EQ(bc, blob(round + 50, round));
      ASSERT_EQ(b.barrier(), samSuccess);
    }
  });
}

TEST(BootstrapThreads, MessageBoundIsEnforcedOnEveryRank) {
  setenv("SAM_BOOTSTRAP_MAX_MESSAGE", "8192", 1);
  withRanks(3, [&](int rank, sam::Bootstrap& b) {
    std::vector<std::string> all;
    // 3 x 3000 bytes fit individually but not gathered: every rank must fail alike.
    samResult_t r = b.allgather(std::string(3000, 'x'), &all);
    EXPECT_EQ(r, samInvalidArgument) << "rank " << rank;
    EXPECT_NE(std::string(sam::lastError()).find("SAM_BOOTSTRAP_MAX_MESSAGE"), std::string::npos) << sam::lastError();
  });
  unsetenv("SAM_BOOTSTRAP_MAX_MESSAGE");
}

TEST(BootstrapThreads, DifferentCollectivesAreNamed) {
  withRanks(2, [&](int rank, sam::Bootstrap& b) {
    samResult_t r;
    if (rank == 0) {
      r = b.barrier();
    } else {
      std::vector<std::string> all;
      r = b.allgather("x", &all);
    }
    EXPECT_EQ(r, samInvalidUsage);
    EXPECT_NE(std::string(sam::lastError()).find("ranks called different collectives"), std::string::npos)
        << sam::lastError();
  });
}

TEST(BootstrapThreads, BadMaxMessageKnobIsNamed) {
  setenv("SAM_BOOTSTRAP_MAX_MESSAGE", "12", 1);
  try {
    sam::bootstrapOptions(1000);
    ADD_FAILURE() << "accepted";
  } catch (const sam::Error& e) {
    EXPECT_NE(e.detail.find("SAM_BOOTSTRAP_MAX_MESSAGE"), std::string::npos);
  }
  unsetenv("SAM_BOOTSTRAP_MAX_MESSAGE");
}
