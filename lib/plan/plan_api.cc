// The C entry points of the data path: plan lifecycle, queries, dispatch,
// combine and their backward passes (host backend).
#include <algorithm>
#include <memory>

#include "comm/comm.h"
#include "core/error.h"
#include "plan/handle.h"
#include "plan/plan_create.h"

namespace {

samResult_t checkHandle(samHandle_t handle, const char* fn) {
  SAM_CHECK_PTR(handle, fn);
  if (handle->executor == nullptr) return sam::failf(samInvalidUsage, "%s: the plan is incomplete", fn);
  return samSuccess;
}

// A data buffer may be NULL only when it has no rows.
samResult_t checkBuffer(const void* p, int64_t rows, const char* fn, const char* name) {
  if (p == nullptr && rows > 0)
    return sam::failf(samInvalidArgument, "%s: %s is NULL but holds %lld rows", fn, name, static_cast<long long>(rows));
  return samSuccess;
}

int64_t expertBufferRows(const samHandle* h) {
  return h->maxRecvRows > 0 ? h->maxRecvRows : h->layout.recv.rows();
}

}  // namespace

extern "C" {

samResult_t samPlanCreate(samComm_t comm, const samRouteConfig_t* route, const samPlanConfig_t* config,
                          int64_t numTokens, const int32_t* expertIdx, const float* weights, void* stream,
                          samHandle_t* handle) {
  return sam::apiCall("samPlanCreate", [&] {
    SAM_CHECK_PTR(comm, "samPlanCreate");
    SAM_CHECK_PTR(handle, "samPlanCreate");
    if (comm->aborted.load()) return sam::fail(samInvalidUsage, "samPlanCreate: the communicator was aborted");
    if (comm->config.backend != samBackendHost)
      return sam::fail(samNotSupported, "samPlanCreate: only the host backend has a data path in this build");
    sam::PlanRequest req{route, config, numTokens, expertIdx, weights};
    std::unique_ptr<samHandle> h;
    SAM_CHECK(sam::createPlan(comm, req, &h));
    *handle = h.release();
    return samSuccess;
  });
}

samResult_t samPlanDestroy(samHandle_t handle) {
  return sam::apiCall("samPlanDestroy", [&] {
    delete handle;
    return samSuccess;
  });
}

samResult_t samPlanGetSizes(samHandle_t handle, samPlanSizes_t* sizes) {
  return sam::apiCall("samPlanGetSizes", [&] {
    SAM_CHECK(checkHandle(handle, "samPlanGetSizes"));
    SAM_CHECK_PTR(sizes, "samPlanGetSizes");
    const sam::PlanLayout& L = handle->layout;
    sizes->sendTokens = L.send.total();
    sizes->recvTokens = L.recv.total();
    sizes->expertRows = L.recv.rows();
    sizes->numLocalExperts = L.placement.localExperts();
    return samSuccess;
  });
}

samResult_t samPlanGetExpertCounts(samHandle_t handle, int64_t* counts, int64_t* offsets) {
  return sam::apiCall("samPlanGetExpertCounts", [&] {
    SAM_CHECK(checkHandle(handle, "samPlanGetExpertCounts"));
    SAM_CHECK_PTR(counts, "samPlanGetExpertCounts");
    SAM_CHECK_PTR(offsets, "samPlanGetExpertCounts");
    const sam::RecvLayout& r = handle->layout.recv;
    std::copy(r.expertCount.begin(), r.expertCount.end(), counts);
    std::copy(r.expertOffset.begin(), r.expertOffset.end(), offsets);
    return samSuccess;
  });
}

samResult_t samPlanGetTraffic(samHandle_t handle, int peer, samTransport_t transport, samTrafficCounter_t* counter) {
  return sam::apiCall("samPlanGetTraffic", [&] {
    SAM_CHECK(checkHandle(handle, "samPlanGetTraffic"));
    SAM_CHECK_PTR(counter, "samPlanGetTraffic");
    const int R = handle->traffic.nranks();
    if (peer < 0 || peer >= R)
      return sam::failf(samInvalidArgument, "samPlanGetTraffic: peer is %d, must be in [0, %d)", peer, R);
    if (transport < 0 || transport >= samNumTransports)
      return sam::failf(samInvalidArgument, "samPlanGetTraffic: transport is %d, must be in [0, %d)",
                        static_cast<int>(transport), static_cast<int>(samNumTransports));
    *counter = handle->traffic.get(peer, transport);
    return samSuccess;
  });
}

samResult_t samDispatch(samHandle_t handle, const void* x, void* expertIn, void* stream) {
  return sam::apiCall("samDispatch", [&] {
    SAM_CHECK(checkHandle(handle, "samDispatch"));
    SAM_CHECK(checkBuffer(x, handle->layout.numTokens, "samDispatch", "x"));
    SAM_CHECK(checkBuffer(expertIn, expertBufferRows(handle), "samDispatch", "expertIn"));
    return handle->executor->dispatch(x, expertIn);
  });
}

samResult_t samCombine(samHandle_t handle, const void* expertOut, void* y, void* stream) {
  return sam::apiCall("samCombine", [&] {
    SAM_CHECK(checkHandle(handle, "samCombine"));
    SAM_CHECK(checkBuffer(expertOut, handle->layout.recv.rows(), "samCombine", "expertOut"));
    SAM_CHECK(checkBuffer(y, handle->layout.numTokens, "samCombine", "y"));
    return handle->executor->combine(expertOut, y);
  });
}

samResult_t samDispatchBackward(samHandle_t handle, const void* gradExpertIn, void* gradX, void* stream) {
  return sam::apiCall("samDispatchBackward", [&] {
    SAM_CHECK(checkHandle(handle, "samDispatchBackward"));
    SAM_CHECK(checkBuffer(gradExpertIn, handle->layout.recv.rows(), "samDispatchBackward", "gradExpertIn"));
    SAM_CHECK(checkBuffer(gradX, handle->layout.numTokens, "samDispatchBackward", "gradX"));
    return handle->executor->dispatchBackward(gradExpertIn, gradX);
  });
}

samResult_t samCombineBackward(samHandle_t handle, const void* gradY, const void* expertOut, void* gradExpertOut,
                               float* gradWeights, void* stream) {
  return sam::apiCall("samCombineBackward", [&] {
    SAM_CHECK(checkHandle(handle, "samCombineBackward"));
    const int64_t rows = handle->layout.recv.rows();
    SAM_CHECK(checkBuffer(gradY, handle->layout.numTokens, "samCombineBackward", "gradY"));
    SAM_CHECK(checkBuffer(expertOut, rows, "samCombineBackward", "expertOut"));
    SAM_CHECK(checkBuffer(gradExpertOut, expertBufferRows(handle), "samCombineBackward", "gradExpertOut"));
    return handle->executor->combineBackward(gradY, expertOut, gradExpertOut, gradWeights);
  });
}

}  // extern "C"
