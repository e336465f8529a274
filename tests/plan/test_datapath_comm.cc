// The data path over the real communicator (TCP bootstrap, samCommInitRank)
// and the real router (samRouteForward, every preset): one process per rank,
// 1 to 8 ranks, one or two fake nodes (SAM_HOST_ID), all three dtypes,
// T = 0 on a rank, capacity drops, against the dense reference.
#include <gtest/gtest.h>

#include <signal.h>

#include <cstdlib>
#include <numeric>
#include <random>

#include "../transport/fork_harness.h"
#include "datapath_check.h"

namespace {

using samtest::LayerCase;
using samtest::RankRoute;

// Every rank starts a communicator: rank 0 makes the id and ships it through
// the harness's side channel (as a launcher would through a file).
samComm_t initComm(samtest::ForkBootstrap& bs, int nodes, int timeoutMs) {
  const int rank = bs.rank(), R = bs.size();
  std::string node = "fakenode" + std::to_string(rank * nodes / R);
  setenv("SAM_HOST_ID", node.c_str(), 1);
  std::string blob;
  if (rank == 0) {
    samUniqueId id;
    if (samGetUniqueId(&id) != samSuccess) return nullptr;
    blob.assign(id.internal, sizeof(id.internal));
  }
  if (bs.broadcast(0, &blob) != samSuccess) return nullptr;
  samUniqueId id;
  memcpy(id.internal, blob.data(), sizeof(id.internal));
  samConfig_t cfg = SAM_CONFIG_INITIALIZER;
  cfg.timeoutMs = timeoutMs;
  samComm_t comm = nullptr;
  if (samCommInitRank(&comm, R, id, rank, &cfg) != samSuccess) {
    fprintf(stderr, "rank %d init: %s\n", rank, samGetLastError());
    return nullptr;
  }
  return comm;
}

// E divisible by the ranks and by the 8 groups of the DeepSeek presets, with
// groups large enough for deepseek-v3's k = 8 among 4 groups.
int expertsFor(int R) { return std::lcm(R, 8) * 2; }

// Routing through samRouteForward on logits every rank can regenerate.
RankRoute routeWith(const samRouteConfig_t& cfg, uint64_t seed, int rank, int64_t tokens, int64_t* dropped) {
  std::mt19937_64 g(seed * 1000003 + rank);
  std::normal_distribution<float> N(0.f, 2.f);
  std::vector<float> logits(tokens * cfg.numExperts);
  for (float& v : logits) v = N(g);
  RankRoute r;
  r.numTokens = tokens;
  r.expertIdx.assign(tokens * cfg.topk, -7);
  r.weights.assign(tokens * cfg.topk, NAN);
  std::vector<int32_t> droppedPerToken(tokens, -1);
  samRouteOutput_t out{};
  out.expertIdx = r.expertIdx.data();
  out.weights = r.weights.data();
  out.dropped = droppedPerToken.data();
  samRouteStats_t stats{};
  if (samRouteForward(&cfg, samMemHost, logits.data(), samFloat32, tokens, &out, &stats, nullptr) != samSuccess) {
    fprintf(stderr, "samRouteForward: %s\n", samGetLastError());
    r.numTokens = -1;
  }
  if (dropped) *dropped = std::accumulate(droppedPerToken.begin(), droppedPerToken.end(), int64_t{0});
  return r;
}

int runPresets(samComm_t comm, int me, int R, int nodes, uint64_t seed, bool allDtypes) {
  int nodeOf[8];
  samCommRankNodes(comm, nodeOf);
  const samRoutePreset_t presets[] = {samPresetSwitch, samPresetGshard, samPresetSam, samPresetDeepseekV2,
                                      samPresetDeepseekV3};
  int caseNo = 0;
  int64_t totalDropped = 0;
  for (samRoutePreset_t preset : presets) {
    for (samDataType_t dt : {samFloat32, samBfloat16, samFloat16}) {
      if (!allDtypes && dt != samFloat32 && preset != samPresetSam) continue;
      for (float capacity : {0.f, 0.6f}) {
        if (capacity > 0 && (dt != samFloat32 || (preset != samPresetSam && preset != samPresetGshard))) continue;
        LayerCase c;
        c.nranks = R;
        c.numExperts = expertsFor(R);
        c.hidden = 7 + caseNo % 5;
        c.dtype = dt;
        c.seed = seed + 17 * caseNo++;
        c.rankNode.assign(nodeOf, nodeOf + R);
        if (samRouteConfigPreset(preset, c.numExperts, R, &c.route) != samSuccess) {
          fprintf(stderr, "preset %d: %s\n", preset, samGetLastError());
          return 1;
        }
        c.route.capacityFactor = capacity;
        c.topk = c.route.topk;
        // Rank 1 has no tokens; the others an odd number.
        auto tokensOf = [](int rank) { return rank == 1 ? int64_t{0} : int64_t{9 + 4 * rank}; };
        const samRouteConfig_t route = c.route;
        const uint64_t s = c.seed;
        c.routeOf = [route, s, tokensOf](int rank) { return routeWith(route, s, rank, tokensOf(rank), nullptr); };
        int64_t dropped = 0;
        routeWith(route, s, me, tokensOf(me), &dropped);
        if (samtest::runLayerCheck(comm, c, me) != 0) {
          fprintf(stderr, "[rank %d] failed: preset %d dtype %d capacity %.1f, %d ranks, %d nodes\n", me, preset, dt,
                  capacity, R, nodes);
          return 1;
        }
        // Capacity drops are counted by the router and give zeros (checked
        // by the reference: a dropped slot contributes nothing).
        totalDropped += dropped;
      }
    }
  }
  // With SAM's M = 1 and a factor of 0.6, a rank with tokens must drop some.
  if (R > 1 && me != 1 && totalDropped == 0) {
    fprintf(stderr, "[rank %d] capacity factor 0.6 dropped nothing: the drop cases were not exercised\n", me);
    return 1;
  }
  return 0;
}

void runJob(int R, int nodes, bool allDtypes) {
  std::random_device rd;
  const uint64_t seed = rd();
  auto res = samtest::runRanks(R, [&](int rank, samtest::ForkBootstrap& bs) {
    samComm_t comm = initComm(bs, nodes, 20000);
    if (comm == nullptr) return 2;
    int code = runPresets(comm, rank, R, nodes, seed, allDtypes);
    samCommDestroy(comm);
    return code;
  });
  EXPECT_TRUE(res.allOk()) << R << " ranks on " << nodes << " node(s), seed " << seed << ": " << res.describe();
}

TEST(DatapathComm, OneNodeOneToEightRanks) {
  for (int R = 1; R <= 8; ++R) runJob(R, 1, /*allDtypes=*/R == 3 || R == 4);
}

TEST(DatapathComm, TwoFakeNodes) {
#if !SAM_HAVE_UCX
  GTEST_SKIP() << "built without UCX (SAM_WITH_UCX=OFF or libucx-dev missing): two nodes need the UCX transport";
#endif
  for (int R : {2, 3, 4, 8}) runJob(R, 2, /*allDtypes=*/R == 4);
}

// A rank killed in the middle of a dispatch (after the plan, before its own
// sends): its node peer (shared memory) and the other node (UCX) must fail
// within the timeout, never hang and never report success.
void killedMidDispatch(int nodes) {
  const int R = 4;
  auto start = std::chrono::steady_clock::now();
  auto res = samtest::runRanks(R, [&](int rank, samtest::ForkBootstrap& bs) {
    samComm_t comm = initComm(bs, nodes, 3000);
    if (comm == nullptr) return 2;
    samRouteConfig_t cfg;
    if (samRouteConfigPreset(samPresetGshard, 8, R, &cfg) != samSuccess) return 3;
    RankRoute r = routeWith(cfg, 5, rank, 64, nullptr);
    samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
    pc.hidden = 4096;
    samHandle_t h = nullptr;
    CHILD_CHECK(samPlanCreate(comm, &cfg, &pc, 64, r.expertIdx.data(), r.weights.data(), nullptr, &h) == samSuccess,
                "%s", samGetLastError());
    if (rank == 3) kill(getpid(), SIGKILL);
    samPlanSizes_t sz;
    samPlanGetSizes(h, &sz);
    std::vector<float> x(64 * pc.hidden, 1.f), in(sz.expertRows * pc.hidden);
    samResult_t st = samDispatch(h, x.data(), in.data(), nullptr);
    CHILD_CHECK(st == samRemoteError || st == samTimeout, "dispatch returned %d (%s)", st, samGetLastError());
    samResult_t async = samSuccess;
    samCommGetAsyncError(comm, &async);
    CHILD_CHECK(async != samSuccess, "no async error recorded");
    samPlanDestroy(h);
    samCommAbort(comm);
    samCommDestroy(comm);
    return 0;
  });
  for (int r = 0; r < 3; ++r) EXPECT_EQ(res.exitCodes[r], 0) << nodes << " node(s): " << res.describe();
  EXPECT_EQ(res.exitCodes[3], 128 + SIGKILL) << res.describe();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
}

TEST(DatapathComm, RankKilledMidDispatchOneNode) { killedMidDispatch(1); }

TEST(DatapathComm, RankKilledMidDispatchTwoNodes) {
#if !SAM_HAVE_UCX
  GTEST_SKIP() << "built without UCX: two nodes need the UCX transport";
#endif
  killedMidDispatch(2);
}

}  // namespace
