#include "sam_perf_bench.h"

#include <chrono>
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <stdexcept>

#include "sam_perf_baseline.h"
#include "sam_perf_dtype.h"
#include "sam_perf_impl.h"
#include "sam_perf_inputs.h"
#include "sam_perf_reference.h"
#include "sam_perf_route_ref.h"

namespace samperf {

namespace {

using Clock = std::chrono::steady_clock;
volatile uint8_t sink_;

// nccl-tests' loop: warm-up, a barrier so every rank starts together, `iters`
// calls back to back; the slowest rank's mean is the time of the operation.
template <typename F>
double timeLoop(Ranks& ranks, const Options& opt, F&& body) {
  for (int i = 0; i < opt.warmup; ++i) body();
  ranks.barrier();
  auto t0 = Clock::now();
  for (int i = 0; i < opt.iters; ++i) body();
  double us = std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / opt.iters;
  return ranks.maxOverRanks(us);
}

// The traffic of one call of `body`, read back from the communicator's counters.
template <typename F>
TrafficResult measureTraffic(Ranks& ranks, F&& body) {
  ranks.barrier();
  check(samCommResetTraffic(ranks.comm()), "samCommResetTraffic");
  body();
  std::vector<double> mine(5, 0.0);  // self, shm, ucx, other, remote messages
  for (int peer = 0; peer < ranks.size(); ++peer) {
    for (int t = 0; t < samNumTransports; ++t) {
      samTrafficCounter_t c{};
      check(samCommGetTraffic(ranks.comm(), peer, static_cast<samTransport_t>(t), &c), "samCommGetTraffic");
      double bytes = static_cast<double>(c.bytesSent);
      if (peer == ranks.rank() || t == samTransportSelf) {
        mine[0] += bytes;
        continue;
      }
      mine[t == samTransportShm ? 1 : t == samTransportUcx ? 2 : 3] += bytes;
      mine[4] += static_cast<double>(c.messagesSent);
    }
  }
  std::vector<double> all = ranks.sumOverRanks(mine);
  TrafficResult r;
  r.selfBytes = all[0];
  r.shmBytes = all[1];
  r.ucxBytes = all[2];
  r.otherBytes = all[3];
  r.remoteMessages = all[4];
  return r;
}

// --self-test-corrupt: one element changed, as a bug in the data path would.
void corrupt(void* data, int64_t elements, samDataType_t dt) {
  if (elements > 0) storeElem(data, static_cast<size_t>(elements / 2), loadElem(data, elements / 2, dt) + 1.0f, dt);
}

std::string key(const char* op, const char* impl) { return std::string(op) + "/" + impl; }

// Bus bandwidth of an exchange among R ranks, as nccl-tests' all-to-all: the
// share (R-1)/R of the bytes that leaves the rank under uniform routing.
double busFactor(int nranks) { return nranks > 1 ? static_cast<double>(nranks - 1) / nranks : 0.0; }

}  // namespace

LayerSetup makeLayerSetup(const Options& opt, const Ranks& ranks, int topk) {
  LayerSetup s;
  samRoutePreset_t preset;
  check(samRoutePresetFromName(opt.preset.c_str(), &preset), "samRoutePresetFromName");
  check(samRouteConfigPreset(preset, opt.experts, ranks.size(), &s.route), "samRouteConfigPreset");
  if (topk > 0) s.route.topk = topk;
  if (s.route.nodeLimit > 0) s.route.rankNodes = ranks.rankNodes().data();
  check(samRouteConfigCheck(&s.route), "samRouteConfigCheck");
  s.topk = s.route.topk;
  return s;
}

PointResult runPoint(Ranks& ranks, const Options& opt, const LayerSetup& setup, int64_t numTokens) {
  const int R = ranks.size(), me = ranks.rank();
  Layer layer;
  layer.nranks = R;
  layer.experts = opt.experts;
  layer.hidden = opt.hidden;
  layer.topk = setup.topk;
  layer.dtype = opt.dtype;
  layer.seed = opt.seed;
  const size_t rb = layer.rowBytes();
  const samRouteConfig_t& cfg = setup.route;

  PointResult res;
  res.topk = setup.topk;
  res.tokens = numTokens;
  res.dtype = opt.dtype;

  // ---- route
  std::vector<float> logits(static_cast<size_t>(numTokens) * opt.experts);
  makeLogits(opt.seed, me, numTokens, opt.experts, logits.data());
  Routes routes = routesFor(numTokens, layer.topk);
  auto route = [&] { routeInto(cfg, logits.data(), numTokens, routes); };
  route();
  if (opt.wants("route")) {
    OpResult& r = res.ops[key("route", "sam")];
    r.ran = true;
    r.timeUs = timeLoop(ranks, opt, route);
    double bytes = numTokens * (opt.experts * 4.0 + layer.topk * 8.0);  // logits in, indices + weights out
    r.algbw = r.busbw = r.timeUs > 0 ? bytes / (r.timeUs * 1e3) : 0;
    r.wrong = -1;
    if (opt.check) {
      RouteCheck rc = checkRoutes(cfg, logits.data(), numTokens, routes.expertIdx.data(), routes.weights.data());
      r.wrong = ranks.sumOverRanks(rc.wrong);
      res.routeNearTies = ranks.sumOverRanks(rc.nearTies);
    }
  }

  // ---- the reference's view of every rank's routes, and this rank's tokens
  std::vector<RowMultiset> expectedRows;
  if (opt.check) {
    std::vector<Routes> all(R);
    for (int src = 0; src < R; ++src) all[src] = src == me ? routes : routeRank(layer, cfg, src, numTokens);
    expectedRows = expectedExpertRows(layer, me, numTokens, all);
  }
  std::vector<uint8_t> x(static_cast<size_t>(numTokens) * rb);
  makeTokens(opt.seed, me, 0, numTokens, opt.hidden, opt.dtype, x.data());
  std::vector<uint8_t> y(x.size() + 1);

  std::vector<std::unique_ptr<MoeImpl>> impls;
  impls.emplace_back(new SamImpl(ranks.comm(), cfg, layer));
  if (opt.baseline) impls.emplace_back(new BaselineImpl(ranks.comm(), layer, me));

  for (auto& implPtr : impls) {
    MoeImpl& impl = *implPtr;
    const char* name = impl.name();
    impl.plan(numTokens, routes.expertIdx.data(), routes.weights.data());
    res.sendVectors[name] = static_cast<double>(ranks.sumOverRanks(impl.sendVectors()));
    std::vector<uint8_t> expertIn(impl.expertRows() * rb + 1), expertOut(expertIn.size());
    auto countRows = [&] {
      return opt.check ? ranks.sumOverRanks(countWrongExpertRows(layer, expectedRows, expertIn.data(),
                                                                 impl.expertOffsets().data()))
                       : -1;
    };
    auto countOutput = [&] {
      return opt.check ? ranks.sumOverRanks(countWrongOutput(layer, numTokens, x.data(), routes, y.data())) : -1;
    };

    // Checked calls first, on poisoned outputs, so every element must be written.
    poison(expertIn.data(), expertIn.size());
    impl.dispatch(x.data(), expertIn.data());
    if (opt.selfTestCorrupt) corrupt(expertIn.data(), impl.expertRows() * opt.hidden, opt.dtype);
    int64_t dispatchWrong = countRows();
    runLocalExperts(layer, me, impl.expertOffsets(), expertIn.data(), expertOut.data());
    poison(y.data(), y.size());
    impl.combine(expertOut.data(), y.data());
    if (opt.selfTestCorrupt) corrupt(y.data(), numTokens * opt.hidden, opt.dtype);
    int64_t combineWrong = countOutput();

    auto layerRoundTrip = [&] {
      impl.plan(numTokens, routes.expertIdx.data(), routes.weights.data());
      impl.dispatch(x.data(), expertIn.data());
      runLocalExperts(layer, me, impl.expertOffsets(), expertIn.data(), expertOut.data());
      impl.combine(expertOut.data(), y.data());
    };
    // The plan's per-expert counts against the reference's.
    int64_t planWrong = -1;
    if (opt.check) {
      int64_t bad = 0;
      const std::vector<int64_t>& off = impl.expertOffsets();
      for (int j = 0; j < layer.localExperts(); ++j) {
        int64_t want = 0;
        for (const auto& kv : expectedRows[j]) want += kv.second;
        if (off[j + 1] - off[j] != want) ++bad;
      }
      planWrong = ranks.sumOverRanks(bad);
    }
    int64_t roundTripWrong = -1;
    if (opt.wants("roundtrip")) {
      poison(expertIn.data(), expertIn.size());
      poison(y.data(), y.size());
      layerRoundTrip();
      if (opt.selfTestCorrupt) corrupt(y.data(), numTokens * opt.hidden, opt.dtype);
      if (impl.expertRows() * rb + 1 != expertIn.size())
        throw std::runtime_error(std::string(name) + ": the plan changed size for the same routes");
      roundTripWrong = std::max(countRows(), int64_t(0)) + countOutput();
      if (!opt.check) roundTripWrong = -1;
    }

    struct Op {
      const char* op;
      int64_t wrong;
      std::function<void()> body;
    };
    std::vector<Op> timed = {
        {"plan", planWrong, [&] { impl.plan(numTokens, routes.expertIdx.data(), routes.weights.data()); }},
        {"dispatch", dispatchWrong, [&] { impl.dispatch(x.data(), expertIn.data()); }},
        {"combine", combineWrong, [&] { impl.combine(expertOut.data(), y.data()); }},
        {"roundtrip", roundTripWrong, layerRoundTrip},
    };
    for (Op& op : timed) {
      if (!opt.wants(op.op)) continue;
      OpResult& r = res.ops[key(op.op, name)];
      r.ran = true;
      r.wrong = op.wrong;
      r.timeUs = timeLoop(ranks, opt, op.body);
      // dispatch and combine keep the plan, so its own counters must grow by
      // exactly what the communicator's counted.
      const bool samePlan = std::string(op.op) == "dispatch" || std::string(op.op) == "combine";
      double planBefore = samePlan ? impl.planBytesSent() : -1;
      TrafficResult t = measureTraffic(ranks, op.body);
      if (planBefore >= 0) {
        double planDelta = ranks.sumOverRanks(std::vector<double>{impl.planBytesSent() - planBefore})[0];
        res.planCounterChecks += 1;
        if (planDelta != t.remoteBytes() + t.selfBytes) res.planCounterMismatches += 1;
      }
      res.traffic[key(op.op, name)] = t;
    }
  }

  // SAM's vectors define the bytes of the point for both implementations, so
  // their bandwidths compare as their times do.
  res.bytes = res.sendVectors["sam"] * rb / R;
  for (auto& kv : res.ops) {
    if (kv.first.rfind("route/", 0) == 0) continue;
    if (kv.first.rfind("plan/", 0) == 0) continue;  // moves counts, not tokens: time only
    OpResult& r = kv.second;
    double bytes = kv.first.rfind("roundtrip/", 0) == 0 ? 2 * res.bytes : res.bytes;
    r.algbw = r.timeUs > 0 ? bytes / (r.timeUs * 1e3) : 0;
    r.busbw = r.algbw * busFactor(R);
  }

  // ---- the ceiling: a plain memcpy of this rank's dispatched bytes, all ranks at once
  if (opt.memcpyCeiling) {
    size_t bytes = static_cast<size_t>(impls[0]->sendVectors()) * rb;
    std::vector<uint8_t> src(bytes + 1, 1), dst(bytes + 1, 0);
    OpResult& r = res.memcpyCeiling;
    r.ran = true;
    r.timeUs = timeLoop(ranks, opt, [&] {
      std::memcpy(dst.data(), src.data(), bytes);
      sink_ = sink_ + dst[bytes / 2];  // the copy is observable, so it is never optimised away
    });
    r.algbw = r.timeUs > 0 ? res.bytes / (r.timeUs * 1e3) : 0;
    r.busbw = r.algbw;
    r.wrong = -1;
  }
  return res;
}

}  // namespace samperf
