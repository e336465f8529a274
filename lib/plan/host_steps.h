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

// send[i] = x[token of send vector i] for every send vector (rank order).
void packTokens(const SendLayout& send, const RowFormat& f, const void* x, void* packed);
// out[v] = sum over the slots of recv vector v of w * rows[slotRow], w the
// slot's weight (or 1 when unitWeights), fp32 sums stored in dtype.
void reduceSlots(const RecvLayout& recv, int topk, const RowFormat& f, const void* rows,
                 bool unitWeights, void* out);
// y[t] for the tokens with no vector (zeros) or several (the sum over ranks,
// ascending, of their vectors in `spill`, indexed by send vector); the rows of
// tokens with a single vector were written by the exchange (soleToken).
void finishTokenSums(const SendLayout& send, int64_t numTokens, const RowFormat& f, const void* spill, void* y);
// gradRows[row] = w(slot of row) * recvd[vector of row] (combine backward).
void scaleToRows(const RecvLayout& recv, int topk, const RowFormat& f, const void* recvd,
                 void* gradRows);
// g[v * k + j] = <recvd[v], rows[slotRow]> for kept slots, 0 otherwise.
void slotDots(const RecvLayout& recv, int topk, const RowFormat& f, const void* recvd,
              const void* rows, float* g);
// gradWeights[t, j] from the per-vector slot values sent back; 0 for slots
// that were dropped (each kept slot lives on exactly one rank).
void scatterSlots(const SendLayout& send, int64_t numTokens, int topk, const float* g,
                  float* gradWeights);

}  // namespace sam
