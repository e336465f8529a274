// The data path with real processes over a hand-made communicator (fork
// harness): exactness against the dense reference, traffic to the byte,
// capacity mode, bad input, and a rank that dies mid-dispatch.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <random>
#include <thread>

#include "core/log.h"
#include "datapath_check.h"
#include "fork_comm.h"
#include "plan/executor.h"

namespace {

using samtest::LayerCase;

LayerCase makeCase(int R, int L, int k, int H, samDataType_t dtype, uint64_t seed) {
  LayerCase c;
  c.nranks = R;
  c.numExperts = R * L;
  c.topk = k;
  c.hidden = H;
  c.dtype = dtype;
  c.seed = seed;
  c.rankNode.assign(R, 0);
  c.route.size = sizeof(samRouteConfig_t);
  c.route.magic = SAM_ROUTE_CONFIG_MAGIC;
  c.route.version = SAM_VERSION_CODE;
  c.route.numExperts = c.numExperts;
  c.route.numRanks = R;
  c.route.topk = k;
  return c;
}

int runCase(const LayerCase& c, int timeoutMs = 20000, const char* chunkBytes = nullptr) {
  auto res = samtest::runRanks(c.nranks, [&](int rank, samtest::ForkBootstrap& bs) {
    if (chunkBytes != nullptr) {  // tiny rings: rows straddle chunks, blocks wrap many times
      setenv("SAM_SHM_CHUNK_BYTES", chunkBytes, 1);
      setenv("SAM_SHM_CHUNKS", "2", 1);
    }
    auto comm = samtest::makeForkComm(bs, c.rankNode, timeoutMs);
    return samtest::runLayerCheck(comm.get(), c, rank);
  });
  if (!res.allOk()) fprintf(stderr, "%s\n", res.describe().c_str());
  return res.allOk() ? 0 : 1;
}

uint64_t freshSeed() {
  std::random_device rd;
  return (uint64_t(rd()) << 32) | rd();
}

TEST(DatapathFork, RandomRoutesAllDtypes) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int R : {1, 2, 3, 4}) {
    for (samDataType_t dt : {samFloat32, samBfloat16, samFloat16}) {
      LayerCase c = makeCase(R, 3, 2, 13, dt, seed + R);
      c.routeOf = [c](int rank) {
        // Rank 1 has no tokens at all; the others an awkward number.
        return samtest::randomRoute(c, rank, rank == 1 ? 0 : 17 + 5 * rank, 0.15);
      };
      EXPECT_EQ(runCase(c), 0) << R << " ranks, dtype " << dt;
    }
  }
}

TEST(DatapathFork, RowsStraddleSmallShmChunks) {
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (samDataType_t dt : {samFloat32, samFloat16}) {
    LayerCase c = makeCase(4, 2, 3, 13, dt, seed + dt);  // 52- or 26-byte rows in 100-byte chunks
    c.routeOf = [c](int rank) { return samtest::randomRoute(c, rank, 31 + rank, 0.1); };
    EXPECT_EQ(runCase(c, 20000, "100"), 0) << "dtype " << dt;
  }
}

TEST(DatapathFork, LargeDestinationsAreStreamed) {
  // Over 16 MiB of expert rows and of y per rank: dispatch and combine write
  // them with non-temporal stores. H = 2047 makes rows of 8188 bytes: they
  // straddle the 128 KiB ring chunks and every other row is not 16-byte
  // aligned (the streaming copy falls back to memcpy there).
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int H : {2048, 2047}) {
    LayerCase c = makeCase(2, 2, 2, H, samFloat32, seed + H);
    c.routeOf = [c](int rank) { return samtest::randomRoute(c, rank, 2100 + rank, 0.05); };
    EXPECT_EQ(runCase(c, 60000), 0) << "hidden " << H;
  }
}

TEST(DatapathFork, TwoNodesUseUcxBetweenAndShmWithin) {
#if !SAM_HAVE_UCX
  GTEST_SKIP() << "built without UCX (SAM_WITH_UCX): ranks on two nodes need it";
#endif
  const uint64_t seed = freshSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  for (int R : {2, 4}) {
    LayerCase c = makeCase(R, 2, 2, 9, R == 2 ? samBfloat16 : samFloat32, seed + R);
    for (int r = 0; r < R; ++r) c.rankNode[r] = r < R / 2 ? 0 : 1;
    c.routeOf = [c](int rank) { return samtest::randomRoute(c, rank, rank == 0 ? 0 : 23, 0.1); };
    EXPECT_EQ(runCase(c), 0) << R << " ranks on 2 nodes";
  }
}

TEST(DatapathFork, EveryTokenToOneExpert) {
  LayerCase c = makeCase(4, 2, 3, 6, samFloat32, freshSeed());
  c.routeOf = [c](int rank) { return samtest::randomRoute(c, rank, 40, 0, /*oneExpert=*/5); };
  EXPECT_EQ(runCase(c), 0);
}

TEST(DatapathFork, CapacityModeFitsAndPads) {
  LayerCase c = makeCase(3, 2, 2, 5, samFloat32, freshSeed());
  c.routeOf = [c](int rank) { return samtest::randomRoute(c, rank, 12, 0.1); };
  c.maxRecvRows = 3 * 12 * 2;  // every slot could land on one rank: always fits
  EXPECT_EQ(runCase(c), 0);
}

TEST(DatapathFork, CapacityOverflowFailsOnEveryRankNamingSizes) {
  LayerCase c = makeCase(3, 2, 2, 5, samFloat32, freshSeed());
  c.routeOf = [c](int rank) { return samtest::randomRoute(c, rank, 20, 0, /*oneExpert=*/0); };
  c.maxRecvRows = 10;  // rank 0 needs 60 rows (every token's slot 0)
  auto res = samtest::runRanks(3, [&](int rank, samtest::ForkBootstrap& bs) {
    auto comm = samtest::makeForkComm(bs, c.rankNode, 10000);
    samtest::RankRoute r = c.routeOf(rank);
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = 5;
    pc.maxRecvRows = 10;
    samHandle_t h = nullptr;
    samResult_t st = samPlanCreate(comm.get(), &c.route, &pc, r.numTokens, r.expertIdx.data(), r.weights.data(),
                                   nullptr, &h);
    CHILD_CHECK(st == samInvalidArgument && h == nullptr, "got %d", st);
    CHILD_CHECK(strstr(samGetLastError(), "capacity mode: rank 0 would receive ") &&
                    strstr(samGetLastError(), "expert rows but maxRecvRows is 10"), "message: %s",
                samGetLastError());
    return 0;
  });
  EXPECT_TRUE(res.allOk()) << res.describe();
}

TEST(DatapathFork, BadArgumentOnOneRankFailsThePeersQuickly) {
  LayerCase c = makeCase(3, 2, 2, 5, samFloat32, freshSeed());
  auto res = samtest::runRanks(3, [&](int rank, samtest::ForkBootstrap& bs) {
    auto comm = samtest::makeForkComm(bs, c.rankNode, 30000);
    samtest::RankRoute r = samtest::randomRoute(c, rank, 4, 0);
    if (rank == 2) r.expertIdx[3] = 99;  // out of range
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = 5;
    samHandle_t h = nullptr;
    samResult_t st = samPlanCreate(comm.get(), &c.route, &pc, 4, r.expertIdx.data(), r.weights.data(), nullptr, &h);
    if (rank == 2) {
      CHILD_CHECK(st == samInvalidArgument, "got %d", st);
      CHILD_CHECK(strstr(samGetLastError(), "expertIdx[1][1] is 99"), "message: %s", samGetLastError());
    } else {
      CHILD_CHECK(st == samRemoteError, "got %d", st);
      CHILD_CHECK(strstr(samGetLastError(), "rank(s) 2"), "message: %s", samGetLastError());
    }
    return 0;
  }, 10000, /*killAfterMs=*/15000);  // far below the 30 s timeout: no waiting for it
  EXPECT_TRUE(res.allOk()) << res.describe();
}

// A NULL buffer on one rank of a data-path call: that rank tells its peers
// (an abandoned-exchange chunk in shared memory, a block of the wrong length
// over UCX), so they fail at once with samRemoteError naming it, long before
// their 60 s timeout (the harness kills anything still running after 20 s).
void runAbandonCase(sam::DataPathOp op, const std::vector<int>& rankNode) {
  const int R = static_cast<int>(rankNode.size()), bad = 1, T = 40;
  LayerCase c = makeCase(R, 2, 2, 24, samFloat32, freshSeed());
  c.rankNode = rankNode;
  auto res = samtest::runRanks(R, [&](int rank, samtest::ForkBootstrap& bs) {
    auto comm = samtest::makeForkComm(bs, c.rankNode, 60000);
    samtest::RankRoute r = samtest::randomRoute(c, rank, T, 0);  // 40 tokens: every pair of ranks exchanges rows
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = c.hidden;
    samHandle_t h = nullptr;
    CHILD_CHECK(samPlanCreate(comm.get(), &c.route, &pc, T, r.expertIdx.data(), r.weights.data(), nullptr, &h) ==
                    samSuccess, "%s", samGetLastError());
    samPlanSizes_t sz;
    samPlanGetSizes(h, &sz);
    std::vector<float> tokens(T * c.hidden, 0.5f), rows((sz.expertRows + 1) * c.hidden, 0.25f), rows2(rows),
        gw(T * c.topk);
    float* tok = rank == bad ? nullptr : tokens.data();  // the bad argument: NULL tokens on one rank
    auto call = [&](float* t) {
      switch (op) {
        case sam::DataPathOp::dispatch: return samDispatch(h, t, rows.data(), nullptr);
        case sam::DataPathOp::combine: return samCombine(h, rows.data(), t, nullptr);
        case sam::DataPathOp::dispatchBackward: return samDispatchBackward(h, rows.data(), t, nullptr);
        default: return samCombineBackward(h, t, rows.data(), rows2.data(), gw.data(), nullptr);
      }
    };
    samResult_t st = call(tok);
    const std::string msg = samGetLastError();
    if (rank == bad) {
      CHILD_CHECK(st == samInvalidArgument && msg.find("is NULL but holds 40 rows") != std::string::npos,
                  "got %d: %s", st, msg.c_str());
      // The channels are out of step now, here as on the peers.
      st = call(tokens.data());
      CHILD_CHECK(st == samInvalidUsage && strstr(samGetLastError(), "abandoned exchange"), "then %d: %s", st,
                  samGetLastError());
    } else {
      CHILD_CHECK(st == samRemoteError && msg.find("rank 1") != std::string::npos, "got %d: %s", st, msg.c_str());
      // Through shared memory the peer also learns why.
      if (c.rankNode[rank] == c.rankNode[bad])
        CHILD_CHECK(msg.find("is NULL but holds 40 rows") != std::string::npos, "message: %s", msg.c_str());
    }
    bs.barrier();  // nobody leaves (and closes its endpoints) before every rank has its verdict
    samPlanDestroy(h);
    return 0;
  }, 20000, /*killAfterMs=*/20000);
  EXPECT_TRUE(res.allOk()) << res.describe();
}

TEST(DatapathFork, NullBufferOnOneRankFailsThePeersAtOnce) {
  for (auto op : {sam::DataPathOp::dispatch, sam::DataPathOp::combine, sam::DataPathOp::dispatchBackward,
                  sam::DataPathOp::combineBackward}) {
    SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)));
    runAbandonCase(op, {0, 0, 0});
  }
}

TEST(DatapathFork, NullBufferOnOneRankFailsItsUcxPeersAtOnce) {
#if !SAM_HAVE_UCX
  GTEST_SKIP() << "built without UCX (SAM_WITH_UCX)";
#endif
  // Rank 1 has a shared-memory peer (0) and a UCX peer (2).
  for (auto op : {sam::DataPathOp::dispatch, sam::DataPathOp::combine}) {
    SCOPED_TRACE("op " + std::to_string(static_cast<int>(op)));
    runAbandonCase(op, {0, 0, 1});
  }
}

TEST(DatapathFork, MismatchedHiddenIsNamed) {
  LayerCase c = makeCase(2, 2, 1, 5, samFloat32, freshSeed());
  auto res = samtest::runRanks(2, [&](int rank, samtest::ForkBootstrap& bs) {
    auto comm = samtest::makeForkComm(bs, c.rankNode, 10000);
    samtest::RankRoute r = samtest::randomRoute(c, rank, 3, 0);
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = 5 + rank;
    samHandle_t h = nullptr;
    samResult_t st = samPlanCreate(comm.get(), &c.route, &pc, 3, r.expertIdx.data(), r.weights.data(), nullptr, &h);
    CHILD_CHECK(st == samInvalidArgument, "got %d", st);
    CHILD_CHECK(strstr(samGetLastError(), "config->hidden differs between ranks: 5 on rank 0, 6 on rank 1"),
                "message: %s", samGetLastError());
    return 0;
  });
  EXPECT_TRUE(res.allOk()) << res.describe();
}

TEST(DatapathFork, RankDyingMidDispatchFailsThePeers) {
  LayerCase c = makeCase(3, 2, 2, 4096, samFloat32, freshSeed());
  auto start = std::chrono::steady_clock::now();
  auto res = samtest::runRanks(3, [&](int rank, samtest::ForkBootstrap& bs) {
    auto comm = samtest::makeForkComm(bs, c.rankNode, 3000);
    samtest::RankRoute r = samtest::randomRoute(c, rank, 64, 0);
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = c.hidden;
    samHandle_t h = nullptr;
    CHILD_CHECK(samPlanCreate(comm.get(), &c.route, &pc, 64, r.expertIdx.data(), r.weights.data(), nullptr, &h) ==
                    samSuccess, "%s", samGetLastError());
    if (rank == 2) _exit(7);  // dies before its dispatch: 64 x 16 KiB rows never come
    samPlanSizes_t sz;
    samPlanGetSizes(h, &sz);
    std::vector<float> x(64 * c.hidden, 1.f), in(sz.expertRows * c.hidden);
    samResult_t st = samDispatch(h, x.data(), in.data(), nullptr);
    CHILD_CHECK(st == samRemoteError || st == samTimeout, "dispatch returned %d", st);
    // The communicator's data path is now broken for good, and says so.
    CHILD_CHECK(samDispatch(h, x.data(), in.data(), nullptr) == samInvalidUsage, "second dispatch");
    samPlanDestroy(h);
    return 0;
  });
  EXPECT_EQ(res.exitCodes[0], 0) << res.describe();
  EXPECT_EQ(res.exitCodes[1], 0) << res.describe();
  EXPECT_EQ(res.exitCodes[2], 7) << res.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

// samCommAbort from another thread wakes a dispatch blocked on a peer that
// never sends, well before the communicator's timeout, inside a node (shared
// memory) and between nodes (UCX).
void abortWakesADispatch(const std::vector<int>& rankNode) {
  LayerCase c = makeCase(2, 2, 1, 1024, samFloat32, freshSeed());
  c.rankNode = rankNode;
  auto res = samtest::runRanks(2, [&](int rank, samtest::ForkBootstrap& bs) {
    auto comm = samtest::makeForkComm(bs, c.rankNode, 30000);
    samtest::RankRoute r = samtest::randomRoute(c, rank, 256, 0);
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = c.hidden;
    samHandle_t h = nullptr;
    CHILD_CHECK(samPlanCreate(comm.get(), &c.route, &pc, 256, r.expertIdx.data(), r.weights.data(), nullptr, &h) ==
                    samSuccess, "%s", samGetLastError());
    if (rank == 1) {
      usleep(1000 * 1000);  // never dispatches; alive well past the abort
      return 0;
    }
    samPlanSizes_t sz;
    samPlanGetSizes(h, &sz);
    std::vector<float> x(256 * c.hidden, 1.f), in(sz.expertRows * c.hidden);
    std::thread aborter([&] {
      usleep(200 * 1000);
      samCommAbort(comm.get());
    });
    auto t0 = std::chrono::steady_clock::now();
    samResult_t st = samDispatch(h, x.data(), in.data(), nullptr);
    aborter.join();
    CHILD_CHECK(st == samInvalidUsage, "dispatch returned %d (%s)", st, samGetLastError());
    CHILD_CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::seconds(10), "abort was not seen before the 30 s timeout");
    samPlanDestroy(h);
    return 0;
  });
  EXPECT_EQ(res.exitCodes[0], 0) << res.describe();
}

TEST(DatapathFork, AbortWakesADispatchWaitingForAPeer) { abortWakesADispatch({0, 0}); }

TEST(DatapathFork, AbortWakesADispatchWaitingForAPeerOverUcx) {
#if !SAM_HAVE_UCX
  GTEST_SKIP() << "built without UCX (SAM_WITH_UCX)";
#endif
  abortWakesADispatch({0, 1});
}

TEST(DatapathFork, NetLogPrintsEachPeersTraffic) {
  // SAM_DEBUG=INFO SAM_DEBUG_SUBSYS=NET: one line per peer and operation with
  // the bytes and messages of the counters.
  char dir[] = "/tmp/samnetlogXXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  LayerCase c = makeCase(2, 1, 1, 8, samFloat32, freshSeed());
  auto res = samtest::runRanks(2, [&](int rank, samtest::ForkBootstrap& bs) {
    setenv("SAM_DEBUG", "INFO", 1);
    setenv("SAM_DEBUG_SUBSYS", "NET", 1);
    setenv("SAM_DEBUG_FILE", (std::string(dir) + "/rank" + std::to_string(rank) + ".log").c_str(), 1);
    sam::logReset();
    auto comm = samtest::makeForkComm(bs, c.rankNode, 10000);
    // Every token of rank 0 goes to expert 1 (rank 1); rank 1 has none.
    const int64_t T = rank == 0 ? 5 : 0;
    std::vector<int32_t> idx(T, 1);
    std::vector<float> w(T, 0.5f), x(T * 8, 1.f);
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = 8;
    samHandle_t h = nullptr;
    CHILD_CHECK(samPlanCreate(comm.get(), &c.route, &pc, T, idx.data(), w.data(), nullptr, &h) == samSuccess, "%s",
                samGetLastError());
    std::vector<float> in(rank == 1 ? 5 * 8 : 0);
    CHILD_CHECK(samDispatch(h, x.data(), in.data(), nullptr) == samSuccess, "%s", samGetLastError());
    samPlanDestroy(h);
    return 0;
  });
  ASSERT_TRUE(res.allOk()) << res.describe();
  auto slurp = [&](int rank) {
    std::ifstream f(std::string(dir) + "/rank" + std::to_string(rank) + ".log");
    return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  };
  const std::string log0 = slurp(0), log1 = slurp(1);
  EXPECT_NE(log0.find("dispatch (exchange 3): peer 1 via shm: sent 160 bytes in 1 messages, received 0 bytes in 0 "
                      "messages"), std::string::npos) << log0;
  EXPECT_NE(log1.find("dispatch (exchange 3): peer 0 via shm: sent 0 bytes in 0 messages, received 160 bytes in 1 "
                      "messages"), std::string::npos) << log1;
  for (int r = 0; r < 2; ++r) unlink((std::string(dir) + "/rank" + std::to_string(r) + ".log").c_str());
  rmdir(dir);
}

TEST(DatapathFork, BadArgumentsOnOneRankAreNamed) {
  LayerCase c = makeCase(1, 4, 2, 8, samFloat32, freshSeed());
  auto res = samtest::runRanks(1, [&](int rank, samtest::ForkBootstrap& bs) {
    auto comm = samtest::makeForkComm(bs, c.rankNode, 10000);
    samtest::RankRoute r = samtest::randomRoute(c, 0, 6, 0);
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = 8;
    samHandle_t h = nullptr;
    auto create = [&](const samRouteConfig_t& rc, const samPlanConfig_t& cfg, int64_t T, const int32_t* idx) {
      return samPlanCreate(comm.get(), &rc, &cfg, T, idx, r.weights.data(), nullptr, &h);
    };
    auto expectError = [&](samResult_t got, const char* needle) {
      if (got != samInvalidArgument || strstr(samGetLastError(), needle) == nullptr) {
        fprintf(stderr, "expected an error naming '%s', got %d: %s\n", needle, got, samGetLastError());
        return false;
      }
      return true;
    };
    samPlanConfig_t bad = pc;
    bad.hidden = 0;
    CHILD_CHECK(expectError(create(c.route, bad, 6, r.expertIdx.data()), "config->hidden is 0"), "hidden");
    bad = pc;
    bad.dtype = samInt32;
    CHILD_CHECK(expectError(create(c.route, bad, 6, r.expertIdx.data()), "config->dtype"), "dtype");
    bad = pc;
    bad.magic = 0;
    CHILD_CHECK(expectError(create(c.route, bad, 6, r.expertIdx.data()), "SAM_PLAN_CONFIG_INITIALIZER"), "magic");
    CHILD_CHECK(expectError(create(c.route, pc, -3, r.expertIdx.data()), "numTokens is -3"), "T");
    CHILD_CHECK(expectError(create(c.route, pc, 6, nullptr), "expertIdx is NULL"), "idx");
    samRouteConfig_t rc = c.route;
    rc.numRanks = 2;
    CHILD_CHECK(expectError(create(rc, pc, 6, r.expertIdx.data()), "route->numRanks is 2 but the communicator has 1"),
                "ranks");
    CHILD_CHECK(h == nullptr, "handle written on failure");
    CHILD_CHECK(create(c.route, pc, 6, r.expertIdx.data()) == samSuccess, "%s", samGetLastError());
    samTrafficCounter_t tc;
    CHILD_CHECK(expectError(samPlanGetTraffic(h, 1, samTransportShm, &tc), "peer is 1, must be in [0, 1)"), "peer");
    CHILD_CHECK(expectError(samPlanGetTraffic(h, 0, samNumTransports, &tc), "transport is 5"), "transport");
    int64_t counts[4], offsets[5];
    CHILD_CHECK(expectError(samPlanGetExpertCounts(h, nullptr, offsets), "counts is NULL"), "counts");
    CHILD_CHECK(samPlanGetExpertCounts(h, counts, offsets) == samSuccess && offsets[4] == 12, "12 rows expected");
    std::vector<float> in(12 * 8);
    CHILD_CHECK(expectError(samDispatch(h, nullptr, in.data(), nullptr), "x is NULL but holds 6 rows"), "x");
    CHILD_CHECK(expectError(samCombine(h, in.data(), nullptr, nullptr), "y is NULL"), "y");
    samPlanDestroy(h);
    return 0;
  });
  EXPECT_TRUE(res.allOk()) << res.describe();
}

TEST(DatapathFork, ArgumentErrorsNameTheArgument) {
  EXPECT_EQ(samPlanCreate(nullptr, nullptr, nullptr, 0, nullptr, nullptr, nullptr, nullptr), samInvalidArgument);
  EXPECT_NE(strstr(samGetLastError(), "comm is NULL"), nullptr) << samGetLastError();
  EXPECT_EQ(samPlanDestroy(nullptr), samSuccess);
  samPlanSizes_t sz;
  EXPECT_EQ(samPlanGetSizes(nullptr, &sz), samInvalidArgument);
  EXPECT_EQ(samDispatch(nullptr, nullptr, nullptr, nullptr), samInvalidArgument);
}

}  // namespace
