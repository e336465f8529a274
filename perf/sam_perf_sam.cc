// SamImpl: the library's own data path, through the public API only.
#include "sam_perf_impl.h"
#include "sam_perf_inputs.h"
#include "sam_perf_ranks.h"

namespace samperf {

SamImpl::SamImpl(samComm_t comm, const samRouteConfig_t& route, const Layer& layer)
    : comm_(comm), route_(route) {
  config_.size = sizeof config_;
  config_.magic = SAM_PLAN_CONFIG_MAGIC;
  config_.version = SAM_VERSION_CODE;
  config_.hidden = layer.hidden;
  config_.dtype = layer.dtype;
  config_.maxRecvRows = 0;  // dropless, two-phase
}

SamImpl::~SamImpl() { samPlanDestroy(handle_); }

void SamImpl::plan(int64_t numTokens, const int32_t* expertIdx, const float* weights) {
  samPlanDestroy(handle_);
  handle_ = nullptr;
  check(samPlanCreate(comm_, &route_, &config_, numTokens, expertIdx, weights, nullptr, &handle_),
        "samPlanCreate");
  check(samPlanGetSizes(handle_, &sizes_), "samPlanGetSizes");
  counts_.assign(sizes_.numLocalExperts, 0);
  offsets_.assign(sizes_.numLocalExperts + 1, 0);
  check(samPlanGetExpertCounts(handle_, counts_.data(), offsets_.data()), "samPlanGetExpertCounts");
}

void SamImpl::dispatch(const void* x, void* expertIn) {
  check(samDispatch(handle_, x, expertIn, nullptr), "samDispatch");
}

void SamImpl::combine(const void* expertOut, void* y) {
  check(samCombine(handle_, expertOut, y, nullptr), "samCombine");
}

double SamImpl::planBytesSent() const {
  int nranks = 0;
  check(samCommSize(comm_, &nranks), "samCommSize");
  double bytes = 0;
  for (int peer = 0; peer < nranks; ++peer)
    for (int t = 0; t < samNumTransports; ++t) {
      samTrafficCounter_t c{};
      check(samPlanGetTraffic(handle_, peer, static_cast<samTransport_t>(t), &c), "samPlanGetTraffic");
      bytes += static_cast<double>(c.bytesSent);
    }
  return bytes;
}

void runLocalExperts(const Layer& layer, int rank, const std::vector<int64_t>& offsets, const void* in,
                     void* out) {
  const size_t rb = layer.rowBytes();
  for (int j = 0; j + 1 < static_cast<int>(offsets.size()); ++j) {
    int64_t rows = offsets[j + 1] - offsets[j];
    if (rows == 0) continue;
    applyExpert(rank * layer.localExperts() + j, static_cast<const uint8_t*>(in) + offsets[j] * rb,
                static_cast<uint8_t*>(out) + offsets[j] * rb, rows, layer.hidden, layer.dtype);
  }
}

}  // namespace samperf
