// The C entry points of routing: argument checks, then the backend chosen by
// the memory space (host: the reference; cuda: the kernels).
#include <cmath>
#include <cstring>
#include <string>

#include "core/error.h"
#include "core/log.h"
#include "route/route_config.h"
#include "route/route_ref.h"
#if SAM_HAVE_CUDA
#include "route/route_cuda.h"
#endif

namespace {

using sam::route::RouteSpec;

void checkSpaceAndSizes(const char* fn, samMemSpace_t space, const void* logits, samDataType_t dtype,
                        int64_t numTokens) {
  if (space != samMemHost && space != samMemCuda)
    sam::throwError(samInvalidArgument, std::string(fn) + ": space is " + std::to_string((int)space) +
                                            ", must be samMemHost or samMemCuda");
  if (numTokens < 0)
    sam::throwError(samInvalidArgument,
                    std::string(fn) + ": numTokens is " + std::to_string(numTokens) + ", must be >= 0");
  if (numTokens > (int64_t{1} << 31) - 1)
    sam::throwError(samInvalidArgument, std::string(fn) + ": numTokens is " + std::to_string(numTokens) +
                                            ", at most 2^31-1 tokens per call");
  sam::route::logitBytes(dtype, fn);
  if (numTokens > 0 && logits == nullptr)
    sam::throwError(samInvalidArgument, std::string(fn) + ": logits is NULL with numTokens > 0");
  if (space == samMemCuda && !SAM_HAVE_CUDA)
    sam::throwError(samNotSupported, std::string(fn) +
                                         ": space is samMemCuda but this libsam was built without CUDA "
                                         "(configure with SAM_WITH_CUDA=ON and a CUDA toolkit)");
}

template <typename T>
void copyOut(T* dst, const std::vector<T>& src) {
  if (dst && !src.empty()) std::memcpy(dst, src.data(), src.size() * sizeof(T));
}

}  // namespace

extern "C" {

samResult_t samRouteForward(const samRouteConfig_t* config, samMemSpace_t space, const void* logits,
                            samDataType_t dtype, int64_t numTokens, samRouteOutput_t* out,
                            samRouteStats_t* stats, void* stream) {
  const char* fn = "samRouteForward";
  return sam::apiCall(fn, [&] {
    const RouteSpec spec = sam::route::resolveSpec(config, fn);
    checkSpaceAndSizes(fn, space, logits, dtype, numTokens);
    SAM_CHECK_PTR(out, fn);
    SAM_CHECK_ARG(numTokens == 0 || out->expertIdx != nullptr, fn, "out->expertIdx is NULL");
    SAM_CHECK_ARG(numTokens == 0 || out->weights != nullptr, fn, "out->weights is NULL");
    SAM_TRACE(LOG_ROUTE, "%s: T=%lld E=%d R=%d G=%d M=%d k=%d space=%d", fn, (long long)numTokens, spec.E,
              spec.R, spec.G, spec.M, spec.k, (int)space);
    if (space == samMemCuda) {
#if SAM_HAVE_CUDA
      sam::route::forwardCuda(spec, logits, dtype, numTokens, *out, stats, stream, fn);
#endif
      return samSuccess;
    }
    sam::route::ForwardResult r;
    sam::route::forwardReference(spec, logits, dtype, numTokens, fn, r);
    // Nothing was written before this point: commit everything at once.
    copyOut(out->expertIdx, r.expertIdx);
    copyOut(out->weights, r.weights);
    copyOut(out->rankCounts, r.rankCounts);
    copyOut(out->expertCounts, r.expertCounts);
    copyOut(out->dropped, r.dropped);
    if (stats) *stats = r.stats;
    return samSuccess;
  });
}

samResult_t samRouteBackward(const samRouteConfig_t* config, samMemSpace_t space, const void* logits,
                             samDataType_t dtype, int64_t numTokens, const int32_t* expertIdx,
                             const float* gradWeights, const samRouteLossCoef_t* coef, float* gradLogits,
                             void* stream) {
  const char* fn = "samRouteBackward";
  return sam::apiCall(fn, [&] {
    const RouteSpec spec = sam::route::resolveSpec(config, fn);
    checkSpaceAndSizes(fn, space, logits, dtype, numTokens);
    SAM_CHECK_ARG(numTokens == 0 || expertIdx != nullptr, fn, "expertIdx is NULL");
    SAM_CHECK_ARG(numTokens == 0 || gradLogits != nullptr, fn, "gradLogits is NULL");
    const samRouteLossCoef_t c = coef ? *coef : samRouteLossCoef_t{0.0f, 0.0f, 0.0f};
    if (!std::isfinite(c.expertBalance) || !std::isfinite(c.deviceBalance) || !std::isfinite(c.alignment))
      return sam::fail(samInvalidArgument, std::string(fn) + ": coef has a non-finite coefficient");
    if (space == samMemCuda) {
#if SAM_HAVE_CUDA
      sam::route::backwardCuda(spec, logits, dtype, numTokens, expertIdx, gradWeights, c, gradLogits, stream, fn);
#endif
      return samSuccess;
    }
    std::vector<float> grad;
    sam::route::backwardReference(spec, logits, dtype, numTokens, expertIdx, gradWeights, c, fn, grad);
    copyOut(gradLogits, grad);
    return samSuccess;
  });
}

}  // extern "C"
