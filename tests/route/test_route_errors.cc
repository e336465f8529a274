// Bad input: each gives its error, names the problem, and writes nothing.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "route_test_util.h"

using namespace routetest;

namespace {

// Runs a forward that must fail with `code` and a message containing `needle`,
// then checks that every output still holds its poison.
void expectForwardFails(const samRouteConfig_t* c, const void* logits, samDataType_t dtype, int64_t T,
                        samResult_t code, const std::string& needle, int k = 2, int E = 8, int R = 2,
                        samMemSpace_t space = samMemHost) {
  HostOut h(std::max<int64_t>(T, 4), k, E, R);
  const HostOut poison(std::max<int64_t>(T, 4), k, E, R);
  samRouteStats_t statsBefore = h.stats;
  EXPECT_EQ(samRouteForward(c, space, logits, dtype, T, &h.out, &h.stats, nullptr), code) << needle;
  EXPECT_NE(std::string(samGetLastError()).find(needle), std::string::npos) << samGetLastError();
  EXPECT_EQ(h.idx, poison.idx);
  EXPECT_EQ(h.w, poison.w);
  EXPECT_EQ(h.rankCounts, poison.rankCounts);
  EXPECT_EQ(h.expertCounts, poison.expertCounts);
  EXPECT_EQ(h.dropped, poison.dropped);
  EXPECT_EQ(0, std::memcmp(&h.stats, &statsBefore, sizeof statsBefore));
}

}  // namespace

TEST(RouteErrors, NonFiniteLogitsNameTheFirstBadEntry) {
  samRouteConfig_t c = preset(samPresetSam, 8, 2);
  std::vector<float> x(4 * 8, 0.5f);
  x[3 * 8 + 5] = std::numeric_limits<float>::quiet_NaN();
  x[3 * 8 + 6] = std::numeric_limits<float>::infinity();
  expectForwardFails(&c, x.data(), samFloat32, 4, samNumericError, "logits[3, 5] is NaN");
  x[3 * 8 + 5] = 0;
  x[1 * 8 + 0] = -std::numeric_limits<float>::infinity();
  expectForwardFails(&c, x.data(), samFloat32, 4, samNumericError, "logits[1, 0] is -Inf");
  for (samDataType_t dt : {samFloat16, samBfloat16}) {
    Logits l = pack(x, dt);
    expectForwardFails(&c, l.data(), dt, 4, samNumericError, "logits[1, 0] is -Inf");
  }
  std::vector<float> bias(8, 0.0f);
  bias[6] = std::numeric_limits<float>::quiet_NaN();
  c.selectionBias = bias.data();
  std::vector<float> ok(4 * 8, 0.25f);
  expectForwardFails(&c, ok.data(), samFloat32, 4, samNumericError, "selectionBias[6] is NaN");
}

TEST(RouteErrors, BadConfigsNameTheField) {
  std::vector<float> x(4 * 8, 0.5f);
  samRouteConfig_t c = preset(samPresetSam, 8, 2);
  c.topk = 5;  // one group of 4 experts
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "config.topk (5) exceeds", 5);
  EXPECT_EQ(samRouteConfigCheck(&c), samInvalidArgument);
  c = preset(samPresetSam, 8, 2);
  c.numGroups = 3;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "not divisible by config.numGroups (3)");
  c = preset(samPresetSam, 8, 2);
  c.numRanks = 3;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "not divisible by config.numRanks (3)");
  c = preset(samPresetSam, 8, 2);
  c.groupsPerToken = 3;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "config.groupsPerToken is 3");
  c = preset(samPresetSam, 8, 2);
  c.scoreFunc = (samScoreFunc_t)7;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "config.scoreFunc is 7");
  c = preset(samPresetSam, 8, 2);
  c.groupReduce = (samGroupReduce_t)9;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "config.groupReduce is 9");
  c = preset(samPresetSam, 8, 2);
  c.nodeLimit = 1;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "config.rankNodes is NULL");
  const int nodes[2] = {0, 1};
  c.rankNodes = nodes;
  c.nodeLimit = 3;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "more than the 2 nodes");
  c = preset(samPresetSam, 8, 2);
  c.capacityFactor = -1.0f;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "config.capacityFactor");
  c.magic = 0;
  expectForwardFails(&c, x.data(), samFloat32, 4, samInvalidArgument, "config is not initialised");
  expectForwardFails(nullptr, x.data(), samFloat32, 4, samInvalidArgument, "config is NULL");
}

TEST(RouteErrors, BadArgumentsNameTheArgument) {
  std::vector<float> x(4 * 8, 0.5f);
  samRouteConfig_t c = preset(samPresetSam, 8, 2);
  expectForwardFails(&c, x.data(), samFloat32, -3, samInvalidArgument, "samRouteForward: numTokens is -3, must be >= 0");
  expectForwardFails(&c, nullptr, samFloat32, 4, samInvalidArgument, "logits is NULL");
  expectForwardFails(&c, x.data(), samInt32, 4, samInvalidArgument, "dtype 3 is not a logits type");
  HostOut h(4, 2, 8, 2);
  EXPECT_EQ(samRouteForward(&c, samMemHost, x.data(), samFloat32, 4, nullptr, nullptr, nullptr), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("out is NULL"), std::string::npos);
  h.out.expertIdx = nullptr;
  EXPECT_EQ(samRouteForward(&c, samMemHost, x.data(), samFloat32, 4, &h.out, nullptr, nullptr), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("out->expertIdx is NULL"), std::string::npos);
  EXPECT_EQ(h.w, std::vector<float>(8, -12345.0f));
  EXPECT_EQ(samRouteForward(&c, (samMemSpace_t)5, x.data(), samFloat32, 4, &h.out, nullptr, nullptr),
            samInvalidArgument);
}

TEST(RouteErrors, Presets) {
  samRouteConfig_t c;
  EXPECT_EQ(samRouteConfigPreset(samPresetDeepseekV3, 12, 2, &c), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("numExperts (12) must be divisible by 8"), std::string::npos);
  EXPECT_EQ(samRouteConfigPreset(samPresetSam, 6, 4, &c), samInvalidArgument);
  EXPECT_EQ(samRouteConfigPreset(samPresetSam, 8, 2, nullptr), samInvalidArgument);
  samRoutePreset_t p;
  EXPECT_EQ(samRoutePresetFromName("deepseek-v3", &p), samSuccess);
  EXPECT_EQ(p, samPresetDeepseekV3);
  EXPECT_EQ(samRoutePresetFromName("top2", &p), samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("unknown preset \"top2\""), std::string::npos);
  // Every preset's values, as ARCHITECTURE §1 gives them.
  c = preset(samPresetSam, 64, 8);
  EXPECT_EQ(c.numGroups, 8);
  EXPECT_EQ(c.groupsPerToken, 1);
  EXPECT_EQ(c.topk, 2);
  EXPECT_EQ(c.renormalize, 0);
  c = preset(samPresetSam, 8, 8);
  EXPECT_EQ(c.topk, 1);  // min(2, E/R)
  c = preset(samPresetDeepseekV2, 64, 8);
  EXPECT_EQ(c.numGroups, 8);
  EXPECT_EQ(c.groupsPerToken, 3);
  EXPECT_EQ(c.topk, 6);
  EXPECT_EQ(c.groupReduce, samGroupReduceMax);
  EXPECT_EQ(c.scale, 16.0f);
  c = preset(samPresetDeepseekV3, 256, 8);
  EXPECT_EQ(c.scoreFunc, samScoreSigmoid);
  EXPECT_EQ(c.groupReduce, samGroupReduceTopN);
  EXPECT_EQ(c.groupReduceTopN, 2);
  EXPECT_EQ(c.groupsPerToken, 4);
  EXPECT_EQ(c.topk, 8);
  EXPECT_EQ(c.renormalize, 1);
  EXPECT_EQ(c.scale, 2.5f);
  c = preset(samPresetSwitch, 64, 8);
  EXPECT_EQ(c.topk, 1);
  EXPECT_EQ(c.groupsPerToken, 8);
}

TEST(RouteErrors, BackwardRejectsBadRoutesAndWritesNothing) {
  samRouteConfig_t c = preset(samPresetSam, 8, 2);
  std::vector<float> x(3 * 8);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.1f * (float)((i * 7) % 11);
  HostOut h(3, 2, 8, 2);
  ASSERT_EQ(samRouteForward(&c, samMemHost, x.data(), samFloat32, 3, &h.out, nullptr, nullptr), samSuccess);
  std::vector<float> grad(3 * 8, 99.0f);
  std::vector<int32_t> idx = h.idx;
  idx[3] = 8;
  EXPECT_EQ(samRouteBackward(&c, samMemHost, x.data(), samFloat32, 3, idx.data(), nullptr, nullptr, grad.data(),
                             nullptr),
            samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("expertIdx[1, 1] is 8"), std::string::npos) << samGetLastError();
  idx = h.idx;
  idx[2] = idx[3];  // a different expert than the routing chose
  EXPECT_EQ(samRouteBackward(&c, samMemHost, x.data(), samFloat32, 3, idx.data(), nullptr, nullptr, grad.data(),
                             nullptr),
            samInvalidArgument);
  EXPECT_NE(std::string(samGetLastError()).find("expertIdx[1, 0]"), std::string::npos) << samGetLastError();
  x[9] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(samRouteBackward(&c, samMemHost, x.data(), samFloat32, 3, h.idx.data(), nullptr, nullptr, grad.data(),
                             nullptr),
            samNumericError);
  EXPECT_NE(std::string(samGetLastError()).find("logits[1, 1] is NaN"), std::string::npos);
  EXPECT_EQ(grad, std::vector<float>(3 * 8, 99.0f));
}

#if !SAM_HAVE_CUDA
TEST(RouteErrors, CudaSpaceWithoutCudaIsNotSupported) {
  samRouteConfig_t c = preset(samPresetSam, 8, 2);
  std::vector<float> x(8, 0.0f);
  expectForwardFails(&c, x.data(), samFloat32, 1, samNotSupported, "built without CUDA", 2, 8, 2, samMemCuda);
}
#endif
