#include "sam_perf_reference.h"

#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

#include "sam_perf_args.h"
#include "sam_perf_dtype.h"
#include "sam_perf_inputs.h"

namespace samperf {

size_t Layer::rowBytes() const { return static_cast<size_t>(hidden) * dtypeSize(dtype); }

Routes routesFor(int64_t numTokens, int topk) {
  Routes r;
  r.expertIdx.assign(static_cast<size_t>(numTokens) * topk, -1);
  r.weights.assign(static_cast<size_t>(numTokens) * topk, 0.0f);
  return r;
}

void routeInto(const samRouteConfig_t& cfg, const float* logits, int64_t numTokens, Routes& r) {
  samRouteOutput_t out{};
  out.expertIdx = r.expertIdx.data();
  out.weights = r.weights.data();
  samResult_t res = samRouteForward(&cfg, samMemHost, logits, samFloat32, numTokens, &out, nullptr, nullptr);
  if (res != samSuccess)
    throw std::runtime_error(std::string("samRouteForward: ") + samGetErrorString(res) + ": " +
                             samGetLastError());
}

Routes routeRank(const Layer& layer, const samRouteConfig_t& cfg, int rank, int64_t numTokens) {
  std::vector<float> logits(static_cast<size_t>(numTokens) * layer.experts);
  makeLogits(layer.seed, rank, numTokens, layer.experts, logits.data());
  Routes r = routesFor(numTokens, cfg.topk);
  routeInto(cfg, logits.data(), numTokens, r);
  return r;
}

std::vector<RowMultiset> expectedExpertRows(const Layer& layer, int rank, int64_t numTokens,
                                            const std::vector<Routes>& allRanks) {
  const int L = layer.localExperts(), k = layer.topk;
  std::vector<RowMultiset> expected(L);
  std::vector<uint8_t> row(layer.rowBytes());
  for (int src = 0; src < static_cast<int>(allRanks.size()); ++src) {
    const Routes& r = allRanks[src];
    for (int64_t t = 0; t < numTokens; ++t) {
      bool generated = false;
      uint64_t h = 0;
      for (int i = 0; i < k; ++i) {
        int e = r.expertIdx[t * k + i];
        if (e < 0 || e / L != rank) continue;
        if (!generated) {
          makeTokens(layer.seed, src, t, 1, layer.hidden, layer.dtype, row.data());
          h = hashBytes(row.data(), row.size());
          generated = true;
        }
        expected[e - rank * L][h] += 1;
      }
    }
  }
  return expected;
}

int64_t countWrongExpertRows(const Layer& layer, const std::vector<RowMultiset>& expected,
                             const void* rows, const int64_t* offsets) {
  const size_t rowBytes = layer.rowBytes();
  const uint8_t* base = static_cast<const uint8_t*>(rows);
  int64_t wrongRows = 0;
  for (int j = 0; j < layer.localExperts(); ++j) {
    RowMultiset left = expected[j];
    int64_t unmatched = 0, expectedCount = 0;
    for (const auto& kv : left) expectedCount += kv.second;
    for (int64_t r = offsets[j]; r < offsets[j + 1]; ++r) {
      auto it = left.find(hashBytes(base + r * rowBytes, rowBytes));
      if (it == left.end() || it->second == 0) {
        ++unmatched;
      } else {
        --it->second;
      }
    }
    int64_t matched = (offsets[j + 1] - offsets[j]) - unmatched;
    int64_t missing = expectedCount - matched;
    wrongRows += std::max(unmatched, missing);
  }
  return wrongRows * layer.hidden;
}

int64_t countWrongOutput(const Layer& layer, int64_t numTokens, const void* x, const Routes& routes,
                         const void* y) {
  const int H = layer.hidden, k = layer.topk;
  const samDataType_t dt = layer.dtype;
  // The reference uses the same rounded expert outputs, so what may differ:
  // each rank's weighted partial sum rounded to dt before it travels, the
  // final sum rounded to dt (u each, u the unit roundoff), and float
  // summation of k terms in any order. bf16: about 0.8% of the magnitude.
  const double u = unitRoundoff(dt);
  const double tolFactor = 2.0 * u + k * std::ldexp(1.0, -23);
  int64_t wrong = 0;
  for (int64_t t = 0; t < numTokens; ++t) {
    const int32_t* idx = &routes.expertIdx[t * k];
    const float* w = &routes.weights[t * k];
    for (int h = 0; h < H; ++h) {
      size_t at = static_cast<size_t>(t) * H + h;
      float xv = loadElem(x, at, dt);
      double ref = 0, mag = 0;
      for (int i = 0; i < k; ++i) {
        if (idx[i] < 0) continue;
        double term = static_cast<double>(w[i]) * roundTo(expertFunction(idx[i], xv), dt);
        ref += term;
        mag += std::fabs(term);
      }
      double got = loadElem(y, at, dt);
      if (!(std::fabs(got - ref) <= tolFactor * (mag + std::fabs(ref)) + 1e-30)) ++wrong;
    }
  }
  return wrong;
}

void poison(void* data, size_t bytes) {
  if (bytes) std::memset(data, 0xff, bytes);
}

}  // namespace samperf
