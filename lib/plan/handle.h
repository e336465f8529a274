// The object behind samHandle_t: one MoE layer's plan on one rank.
#pragma once

#include <memory>

#include "plan/executor.h"
#include "plan/layout.h"
#include "sam.h"
#include "transport/traffic.h"

struct samComm;

struct samHandle {
  samComm* comm = nullptr;
  int hidden = 0;
  samDataType_t dtype = samFloat32;
  int64_t maxRecvRows = 0;  // capacity mode budget, 0 = dropless
  sam::PlanLayout layout;
  // Traffic of this plan's operations (creation included), per peer/transport.
  sam::TrafficTable traffic;
  std::unique_ptr<sam::PlanExecutor> executor;
};
