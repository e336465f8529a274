// The per-rank binary of the data-path tests over the real communicator
// (TCP bootstrap, samCommInitRank) and the real router (samRouteForward):
// started once per rank by test_datapath_multiproc (tests/support harness,
// --rank --nranks --uid-file --scenario). Fake nodes come from SAM_HOST_ID.

#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <numeric>
#include <random>

#include "datapath_check.h"
#include "support/rank_main.h"

namespace {

using samtest::LayerCase;
using samtest::RankRoute;

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
  std::vector<int> nodeOf(R);
  samCommRankNodes(comm, nodeOf.data());
  const samRoutePreset_t presets[] = {samPresetSwitch, samPresetGshard, samPresetSam, samPresetDeepseekV2,
                                      samPresetDeepseekV3};
  int caseNo = 0;
  int64_t totalDropped = 0;
  for (samRoutePreset_t preset : presets) {
    for (samDataType_t dt : {samFloat32, samBfloat16, samFloat16}) {
      if (!allDtypes && dt != samFloat32 && preset != samPresetSam) continue;
      for (float capacity : {0.f, 0.3f}) {
        if (capacity > 0 && (dt != samFloat32 || (preset != samPresetSam && preset != samPresetGshard))) continue;
        LayerCase c;
        c.nranks = R;
        c.numExperts = expertsFor(R);
        c.hidden = 7 + caseNo % 5;
        c.dtype = dt;
        c.seed = seed + 17 * caseNo++;
        c.rankNode = nodeOf;
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
  // SAM (M = 1) at factor 0.3 keeps C = ceil(0.3 T / R) tokens per rank, and
  // R * C < T for the T >= 9 of every rank but rank 1: drops are certain.
  if (R > 1 && me != 1 && totalDropped == 0) {
    fprintf(stderr, "[rank %d] capacity factor 0.3 dropped nothing: the drop cases were not exercised\n", me);
    return 1;
  }
  return 0;
}

samComm_t startComm(const sam::test::RankContext& ctx, int timeoutMs) {
  samConfig_t cfg = SAM_CONFIG_INITIALIZER;
  cfg.timeoutMs = timeoutMs;
  samComm_t comm = nullptr;
  if (ctx.initComm(&comm, &cfg) != samSuccess) {
    fprintf(stderr, "[rank %d] init: %s\n", ctx.rank, samGetLastError());
    return nullptr;
  }
  return comm;
}

// Every preset (x dtypes, x capacity drops) through one communicator.
int layerScenario(sam::test::RankContext& ctx) {
  samComm_t comm = startComm(ctx, 20000);
  if (comm == nullptr) return 2;
  int nodes = 0;
  samCommNodeCount(comm, &nodes);
  int code = runPresets(comm, ctx.rank, ctx.nranks, nodes, static_cast<uint64_t>(ctx.getInt("seed", 1)),
                        ctx.getInt("all-dtypes", 0) != 0);
  samCommDestroy(comm);
  return code;
}

// A rank killed in the middle of a dispatch (after the plan, before its own
// sends): its node peers (shared memory) and the other node (UCX) must fail
// within the timeout, never hang and never report success.
int killedScenario(sam::test::RankContext& ctx) {
  const int R = ctx.nranks, rank = ctx.rank;
  samComm_t comm = startComm(ctx, 3000);
  if (comm == nullptr) return 2;
  samRouteConfig_t cfg;
  if (samRouteConfigPreset(samPresetGshard, 2 * R, R, &cfg) != samSuccess) return 3;
  RankRoute r = routeWith(cfg, 5, rank, 64, nullptr);
  samPlanConfig_t pc = SAM_PLAN_CONFIG_INITIALIZER;
  pc.hidden = 4096;
  samHandle_t h = nullptr;
  RANK_CHECK_OK(samPlanCreate(comm, &cfg, &pc, 64, r.expertIdx.data(), r.weights.data(), nullptr, &h));
  if (rank == R - 1) kill(getpid(), SIGKILL);
  samPlanSizes_t sz;
  RANK_CHECK_OK(samPlanGetSizes(h, &sz));
  std::vector<float> x(64 * pc.hidden, 1.f), in(sz.expertRows * pc.hidden);
  samResult_t st = samDispatch(h, x.data(), in.data(), nullptr);
  RANK_CHECK(st == samRemoteError || st == samTimeout, "dispatch returned %d (%s)", st, samGetLastError());
  samResult_t async = samSuccess;
  RANK_CHECK_OK(samCommGetAsyncError(comm, &async));
  RANK_CHECK(async != samSuccess, "no async error recorded");
  samPlanDestroy(h);
  samCommAbort(comm);
  samCommDestroy(comm);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sam::test::rankMain(argc, argv, {{"layer", layerScenario}, {"killed", killedScenario}});
}
