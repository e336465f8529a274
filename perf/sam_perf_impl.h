// One way of running the data path of an MoE layer, so that the benchmark
// loops and checks are written once for SAM and for the baseline.
// plan() is everything that depends only on the routes (counts exchange,
// layouts); dispatch() and combine() move the data.
#pragma once

#include <cstdint>
#include <vector>

#include "sam.h"
#include "sam_perf_reference.h"

namespace samperf {

class MoeImpl {
 public:
  virtual ~MoeImpl() = default;
  virtual const char* name() const = 0;
  // Collective. Replaces the previous plan.
  virtual void plan(int64_t numTokens, const int32_t* expertIdx, const float* weights) = 0;
  // x [T, H] -> expertIn [expertRows, H] grouped by local expert.
  virtual void dispatch(const void* x, void* expertIn) = 0;
  // expertOut [expertRows, H] -> y [T, H].
  virtual void combine(const void* expertOut, void* y) = 0;
  virtual int64_t expertRows() const = 0;
  // [localExperts + 1] start of each local expert's rows.
  virtual const std::vector<int64_t>& expertOffsets() const = 0;
  // Hidden vectors this rank sends in one dispatch (to itself included).
  virtual int64_t sendVectors() const = 0;
  // Bytes sent so far under the current plan by its own counters, or -1 when
  // the implementation keeps none (samPlanGetTraffic for SAM).
  virtual double planBytesSent() const { return -1; }
};

// SAM: samPlanCreate / samDispatch / samCombine.
class SamImpl : public MoeImpl {
 public:
  SamImpl(samComm_t comm, const samRouteConfig_t& route, const Layer& layer);
  ~SamImpl() override;
  const char* name() const override { return "sam"; }
  void plan(int64_t numTokens, const int32_t* expertIdx, const float* weights) override;
  void dispatch(const void* x, void* expertIn) override;
  void combine(const void* expertOut, void* y) override;
  int64_t expertRows() const override { return sizes_.expertRows; }
  const std::vector<int64_t>& expertOffsets() const override { return offsets_; }
  int64_t sendVectors() const override { return sizes_.sendTokens; }
  double planBytesSent() const override;

 private:
  samComm_t comm_;
  samRouteConfig_t route_;
  samPlanConfig_t config_;
  samHandle_t handle_ = nullptr;
  samPlanSizes_t sizes_{};
  std::vector<int64_t> counts_, offsets_;
};

// Runs every local expert of `rank` over its rows: out = f_e(in).
void runLocalExperts(const Layer& layer, int rank, const std::vector<int64_t>& offsets, const void* in,
                     void* out);

}  // namespace samperf
