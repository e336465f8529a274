// The executor runs a plan's data movement; the layout says what moves where.
// The host executor (host memory, block exchanges through sam::exchange) is
// the one built today; a CUDA executor will implement the same interface with
// the layout mirrored on the device and stream-ordered kernels.
#pragma once

#include <string>

#include "sam.h"

namespace sam {

// The data-path calls, by the shape of their first exchange.
enum class DataPathOp { dispatch, combine, dispatchBackward, combineBackward };

class PlanExecutor {
 public:
  virtual ~PlanExecutor() = default;
  virtual samResult_t dispatch(const void* x, void* expertIn) = 0;
  virtual samResult_t combine(const void* expertOut, void* y) = 0;
  virtual samResult_t dispatchBackward(const void* gradExpertIn, void* gradX) = 0;
  virtual samResult_t combineBackward(const void* gradY, const void* expertOut, void* gradExpertOut,
                                      float* gradWeights) = 0;
  // This rank cannot run `op` (a bad argument, `why`): its peers, already in
  // the call or about to be, are told so they fail at once naming this rank.
  virtual void abandon(DataPathOp op, const std::string& why) = 0;
};

}  // namespace sam
