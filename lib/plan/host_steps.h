// The local steps of the host data path, between two block exchanges. Each is
// a plain loop over the layout's index arrays (a CUDA executor runs the same
// steps as kernels). Rows are `hidden` elements of `dtype`; all sums in fp32.
#pragma once

#include <cstddef>
#include <cstdint>

#include "plan/layout.h"
#include "sam.h"

namespace sam {

struct RowFormat {
  samDataType_t dtype;
  int hidden;
  size_t bytes() const;  // of one row
};

// The weighted sum of recv vector v's expert rows, written straight to dst
// (a ring chunk of the reverse exchange: no staging buffer):
// dst = sum over the vector's kept slots, in slot order, of
// w * rows[slotRow[v, j]] (w = 1 when unitWeights), summed in fp32 from 0 and
// stored in dtype. `acc` is `hidden` floats of scratch (fp16/bf16, or k > 64).
void reduceVector(const RecvLayout& recv, int topk, const RowFormat& f, const void* rows, bool unitWeights,
                  int64_t v, void* dst, float* acc);
// y[t] for the tokens with no vector (zeros) or several (the sum over ranks,
// ascending, of their vectors in `spill`, indexed by send vector); the rows of
// tokens with a single vector were written by the exchange (soleToken).
void finishTokenSums(const SendLayout& send, int64_t numTokens, const RowFormat& f, const void* spill, void* y);
// Combine backward on the expert's rank, for one received gradient vector
// `g` (read straight from the ring): for each kept slot j of recv vector v,
// gradRows[slotRow] = w_j * g (stored in dtype) and
// dots[v * k + j] = <g, rows[slotRow]> in fp32; dots of other slots are 0.
// `scratch` is `hidden` floats (fp16/bf16 only).
void slotGradients(const RecvLayout& recv, int topk, const RowFormat& f, int64_t v, const void* g,
                   const void* rows, void* gradRows, float* dots, float* scratch);
// gradWeights[t, j] from the per-vector slot values sent back; 0 for slots
// that were dropped (each kept slot lives on exactly one rank).
void scatterSlots(const SendLayout& send, int64_t numTokens, int topk, const float* g,
                  float* gradWeights);

}  // namespace sam
