// What sam-perf feeds the layer, made so that every rank can recompute any
// other rank's data without communication: logits and tokens come from a
// counter-based generator keyed by (seed, rank, token, column), and the
// experts are simple known functions, so the dense reference needs no weights.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sam.h"

namespace samperf {

// Logits [T, E] of `rank`, uniform in [-3, 3): no ties in practice.
void makeLogits(uint64_t seed, int rank, int64_t numTokens, int numExperts, float* logits);

// Token rows [count, H] of `rank`, tokens first..first+count-1, uniform in
// [-1, 1) and stored in dtype `dt`.
void makeTokens(uint64_t seed, int rank, int64_t first, int64_t count, int hidden, samDataType_t dt,
                void* out);

// Expert e is f_e(v) = a_e * v + b_e, element-wise, computed in float and
// stored in dt. Distinct (a_e, b_e) for neighbouring experts, so a row sent to
// the wrong expert shows in the output.
float expertScale(int expert);
float expertBias(int expert);
inline float expertFunction(int expert, float v) { return expertScale(expert) * v + expertBias(expert); }

// out[rows, H] = f_e(in[rows, H]) (out may equal in).
void applyExpert(int expert, const void* in, void* out, int64_t rows, int hidden, samDataType_t dt);

// 64-bit hash of a byte range (rows are compared as multisets by hash).
uint64_t hashBytes(const void* data, size_t bytes);

}  // namespace samperf
