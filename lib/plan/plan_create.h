// Collective plan creation: the count exchange (every rank learns every
// rank's send counts, so capacity and config checks fail identically
// everywhere), the metadata exchange, and the expansion on the receiver.
#pragma once

#include <memory>

#include "plan/handle.h"
#include "sam.h"

namespace sam {

struct PlanRequest {
  const samRouteConfig_t* route = nullptr;
  const samPlanConfig_t* config = nullptr;
  int64_t numTokens = 0;
  const int32_t* expertIdx = nullptr;
  const float* weights = nullptr;
};

// Builds the plan on every rank of comm (collective). A rank whose arguments
// are bad still takes part in the count exchange, flagged, so its peers fail
// at once with samRemoteError instead of waiting for the timeout.
samResult_t createPlan(samComm* comm, const PlanRequest& req, std::unique_ptr<samHandle>* out);

}  // namespace sam
