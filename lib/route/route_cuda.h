// The CUDA backend of routing (route_cuda.cu). Same contract as the reference:
// identical indices, the same float weights, nothing written on error (throws
// sam::Error). Only compiled when SAM_HAVE_CUDA.
#pragma once

#include "route/route_config.h"
#include "sam.h"

namespace sam {
namespace route {

void forwardCuda(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                 const samRouteOutput_t& out, samRouteStats_t* stats, void* stream, const char* fn);

void backwardCuda(const RouteSpec& spec, const void* logits, samDataType_t dtype, int64_t T,
                  const int32_t* expertIdx, const float* gradWeights, const samRouteLossCoef_t& coef,
                  float* gradLogits, void* stream, const char* fn);

// The bound the row kernel's sigmoid proofs rest on (kSigmoidErr in
// route_approx.cuh: |approximate - exact sigmoid|) and the largest such
// error over every finite float, measured on the current GPU (the GPU tests
// check the one against the other). Throws sam::Error on a CUDA error.
struct ApproxBound {
  double bound;
  double measured;
};
ApproxBound sigmoidApproxBound();

// The sieve's claim (route_sieve.cuh, sieveLogit: a logit below the bound it
// gives yields an approximate sel below the sieve's bound), checked on the
// current GPU over a grid of bounds and biases: how many logits were
// checked, how many broke it, and the smallest bound - sel seen. Throws
// sam::Error on a CUDA error.
struct SieveBoundCheck {
  unsigned long long checked;
  unsigned long long violations;
  float closest;
};
SieveBoundCheck sieveBoundCheck();

}  // namespace route
}  // namespace sam
