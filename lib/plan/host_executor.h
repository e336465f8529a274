// The host executor: host memory, the local steps of host_steps.h, and block
// exchanges with every rank through sam::exchange (self copy, shared memory,
// UCX: the plan does not know which).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "plan/executor.h"
#include "plan/host_steps.h"
#include "plan/layout.h"
#include "transport/traffic.h"

struct samComm;

namespace sam {

class HostExecutor : public PlanExecutor {
 public:
  HostExecutor(samComm* comm, const PlanLayout& layout, RowFormat format, int64_t paddedRows,
               TrafficTable* planTraffic);
  samResult_t dispatch(const void* x, void* expertIn) override;
  samResult_t combine(const void* expertOut, void* y) override;
  samResult_t dispatchBackward(const void* gradExpertIn, void* gradX) override;
  samResult_t combineBackward(const void* gradY, const void* expertOut, void* gradExpertOut,
                              float* gradWeights) override;

 private:
  // Tokens out (send counts) -> vectors in (recv counts), `unit` bytes each.
  samResult_t forward(const void* send, void* recv, size_t unit);
  // Vectors back (recv counts) -> tokens home (send counts).
  samResult_t backward(const void* send, void* recv, size_t unit);
  samResult_t combineWith(const void* rows, void* y, bool unitWeights);

  samComm* comm_;
  const PlanLayout& layout_;
  RowFormat format_;
  int64_t paddedRows_;
  TrafficTable* planTraffic_;
  std::vector<uint8_t> sendBuf_, recvBuf_;  // reused across calls
};

}  // namespace sam
