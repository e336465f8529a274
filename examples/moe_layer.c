/*
 * One MoE layer through the C API, on the host backend: route with the SAM
 * preset, dispatch each token once to its device, run toy experts, combine.
 *
 * One process:           ./moe_layer
 * Several (any launcher that sets SAM_RANK, SAM_NRANKS and SAM_ROOT_ADDR, or
 * torchrun / mpirun):    SAM_RANK=r SAM_NRANKS=n SAM_ROOT_ADDR=127.0.0.1:29400 ./moe_layer
 *
 * The toy expert e computes (e + 1) * x, so y = sum_i w_i (e_i + 1) x, which
 * the program checks for every token.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sam.h"

#define CHECK(call)                                                                     \
  do {                                                                                  \
    samResult_t r_ = (call);                                                            \
    if (r_ != samSuccess) {                                                             \
      fprintf(stderr, "%s failed: %s: %s\n", #call, samGetErrorString(r_), samGetLastError()); \
      exit(1);                                                                          \
    }                                                                                   \
  } while (0)

static samComm_t initComm(void) {
  samComm_t comm = NULL;
  samConfig_t config = SAM_CONFIG_INITIALIZER;
  if (getenv("SAM_RANK") || getenv("RANK") || getenv("OMPI_COMM_WORLD_RANK")) {
    CHECK(samCommInitFromEnv(&comm, &config));
  } else {
    samUniqueId id;
    CHECK(samGetUniqueId(&id));
    CHECK(samCommInitRank(&comm, 1, id, 0, &config));
  }
  return comm;
}

int main(void) {
  const int numTokens = 1000, hidden = 256, expertsPerRank = 8;
  samComm_t comm = initComm();
  int rank, nranks;
  CHECK(samCommRank(comm, &rank));
  CHECK(samCommSize(comm, &nranks));
  const int numExperts = expertsPerRank * nranks;

  /* Route: SAM picks one rank per token, then the top-2 experts on it. */
  samRouteConfig_t route;
  CHECK(samRouteConfigPreset(samPresetSam, numExperts, nranks, &route));
  float* logits = malloc(sizeof(float) * numTokens * numExperts);
  float* x = malloc(sizeof(float) * numTokens * hidden);
  srand(1234 + rank);
  for (int i = 0; i < numTokens * numExperts; ++i) logits[i] = (float)rand() / RAND_MAX * 4.0f - 2.0f;
  for (int i = 0; i < numTokens * hidden; ++i) x[i] = (float)rand() / RAND_MAX - 0.5f;
  int32_t* expertIdx = malloc(sizeof(int32_t) * numTokens * route.topk);
  float* weights = malloc(sizeof(float) * numTokens * route.topk);
  samRouteOutput_t out;
  memset(&out, 0, sizeof(out));
  out.expertIdx = expertIdx;
  out.weights = weights;
  samRouteStats_t stats;
  CHECK(samRouteForward(&route, samMemHost, logits, samFloat32, numTokens, &out, &stats, NULL));

  /* Plan: counts are exchanged, then this rank knows how many rows it gets. */
  samPlanConfig_t planConfig = {sizeof(samPlanConfig_t), SAM_PLAN_CONFIG_MAGIC, SAM_VERSION_CODE,
                                hidden, samFloat32, 0};
  samHandle_t plan;
  CHECK(samPlanCreate(comm, &route, &planConfig, numTokens, expertIdx, weights, NULL, &plan));
  samPlanSizes_t sizes;
  CHECK(samPlanGetSizes(plan, &sizes));
  int64_t* counts = malloc(sizeof(int64_t) * sizes.numLocalExperts);
  int64_t* offsets = malloc(sizeof(int64_t) * (sizes.numLocalExperts + 1));
  CHECK(samPlanGetExpertCounts(plan, counts, offsets));

  float* expertIn = malloc(sizeof(float) * (sizes.expertRows + 1) * hidden);
  float* expertOut = malloc(sizeof(float) * (sizes.expertRows + 1) * hidden);
  float* y = malloc(sizeof(float) * numTokens * hidden);
  CHECK(samDispatch(plan, x, expertIn, NULL));
  /* The framework's grouped GEMM goes here: rows [offsets[e], offsets[e+1]) are expert e's. */
  for (int e = 0; e < sizes.numLocalExperts; ++e) {
    float scale = (float)(rank * expertsPerRank + e + 1);
    for (int64_t row = offsets[e]; row < offsets[e + 1]; ++row)
      for (int h = 0; h < hidden; ++h) expertOut[row * hidden + h] = scale * expertIn[row * hidden + h];
  }
  CHECK(samCombine(plan, expertOut, y, NULL));

  /* Check every token against y = sum_i w_i (e_i + 1) x. */
  long wrong = 0;
  for (int t = 0; t < numTokens; ++t) {
    float factor = 0.0f;
    for (int i = 0; i < route.topk; ++i)
      if (expertIdx[t * route.topk + i] >= 0) factor += weights[t * route.topk + i] * (expertIdx[t * route.topk + i] + 1);
    for (int h = 0; h < hidden; ++h)
      if (fabsf(y[t * hidden + h] - factor * x[t * hidden + h]) > 1e-4f * (1.0f + fabsf(factor))) ++wrong;
  }
  printf("rank %d/%d: %d tokens, sent %lld vectors, received %lld, %lld expert rows over %d experts; %ld wrong\n",
         rank, nranks, numTokens, (long long)sizes.sendTokens, (long long)sizes.recvTokens,
         (long long)sizes.expertRows, sizes.numLocalExperts, wrong);

  CHECK(samPlanDestroy(plan));
  CHECK(samCommDestroy(comm));
  free(logits); free(x); free(expertIdx); free(weights); free(counts); free(offsets);
  free(expertIn); free(expertOut); free(y);
  return wrong == 0 ? 0 : 1;
}
