// The executor runs a plan's data movement; the layout says what moves where.
// The host executor (host memory, block exchanges through sam::exchange) is
// the one built today; a CUDA executor will implement the same interface with
// the layout mirrored on the device and stream-ordered kernels.
#pragma once

#include "sam.h"

namespace sam {

class PlanExecutor {
 public:
  virtual ~PlanExecutor() = default;
  virtual samResult_t dispatch(const void* x, void* expertIn) = 0;
  virtual samResult_t combine(const void* expertOut, void* y) = 0;
  virtual samResult_t dispatchBackward(const void* gradExpertIn, void* gradX) = 0;
  virtual samResult_t combineBackward(const void* gradY, const void* expertOut, void* gradExpertOut,
                                      float* gradWeights) = 0;
};

}  // namespace sam
