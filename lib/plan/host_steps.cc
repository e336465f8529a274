#include "plan/host_steps.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "plan/dtype_convert.h"

namespace sam {

size_t RowFormat::bytes() const { return static_cast<size_t>(hidden) * dataTypeBytes(dtype); }

namespace {
const uint8_t* rowAt(const void* base, int64_t i, size_t rowBytes) {
  return static_cast<const uint8_t*>(base) + static_cast<size_t>(i) * rowBytes;
}
uint8_t* rowAt(void* base, int64_t i, size_t rowBytes) {
  return static_cast<uint8_t*>(base) + static_cast<size_t>(i) * rowBytes;
}
}  // namespace

void packTokens(const SendLayout& send, const RowFormat& f, const void* x, void* packed) {
  const size_t rb = f.bytes();
  for (int64_t i = 0; i < send.total(); ++i) memcpy(rowAt(packed, i, rb), rowAt(x, send.token[i], rb), rb);
}

void reduceSlots(const RecvLayout& recv, int topk, const RowFormat& f, const void* rows,
                 bool unitWeights, void* out) {
  const size_t rb = f.bytes();
  std::vector<float> acc(f.hidden);
  for (int64_t v = 0; v < recv.total(); ++v) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int j = 0; j < topk; ++j) {
      int64_t row = recv.slotRow[v * topk + j];
      if (row < 0) continue;
      float w = unitWeights ? 1.0f : recv.weight[v * topk + j];
      accumulateRow(f.dtype, rowAt(rows, row, rb), w, acc.data(), f.hidden);
    }
    storeRow(f.dtype, acc.data(), rowAt(out, v, rb), f.hidden);
  }
}

void finishTokenSums(const SendLayout& send, int64_t numTokens, const RowFormat& f, const void* spill, void* y) {
  const size_t rb = f.bytes();
  std::vector<float> acc(f.hidden);
  for (int64_t t = 0; t < numTokens; ++t) {
    const int64_t n = send.tokenOffset[t + 1] - send.tokenOffset[t];
    if (n == 1) continue;  // landed in y directly
    if (n == 0) {
      memset(rowAt(y, t, rb), 0, rb);
      continue;
    }
    // The token's vectors in ascending rank order: the same sum on every run.
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int64_t i = send.tokenOffset[t]; i < send.tokenOffset[t + 1]; ++i)
      accumulateRow(f.dtype, rowAt(spill, send.spillRow[send.tokenVector[i]], rb), 1.0f, acc.data(), f.hidden);
    storeRow(f.dtype, acc.data(), rowAt(y, t, rb), f.hidden);
  }
}

void scaleToRows(const RecvLayout& recv, int topk, const RowFormat& f, const void* recvd,
                 void* gradRows) {
  const size_t rb = f.bytes();
  std::vector<float> in(f.hidden), out(f.hidden);
  for (int64_t v = 0; v < recv.total(); ++v) {
    bool loaded = false;
    for (int j = 0; j < topk; ++j) {
      int64_t row = recv.slotRow[v * topk + j];
      if (row < 0) continue;
      if (!loaded) loadRow(f.dtype, rowAt(recvd, v, rb), in.data(), f.hidden);
      loaded = true;
      const float w = recv.weight[v * topk + j];
      for (int h = 0; h < f.hidden; ++h) out[h] = w * in[h];
      storeRow(f.dtype, out.data(), rowAt(gradRows, row, rb), f.hidden);
    }
  }
}

void slotDots(const RecvLayout& recv, int topk, const RowFormat& f, const void* recvd,
              const void* rows, float* g) {
  const size_t rb = f.bytes();
  for (int64_t v = 0; v < recv.total(); ++v) {
    for (int j = 0; j < topk; ++j) {
      int64_t row = recv.slotRow[v * topk + j];
      g[v * topk + j] = row < 0 ? 0.0f : dotRows(f.dtype, rowAt(recvd, v, rb), rowAt(rows, row, rb), f.hidden);
    }
  }
}

void scatterSlots(const SendLayout& send, int64_t numTokens, int topk, const float* g,
                  float* gradWeights) {
  std::fill(gradWeights, gradWeights + numTokens * topk, 0.0f);
  for (int64_t i = 0; i < send.total(); ++i) {
    const int64_t t = send.token[i];
    for (int j = 0; j < topk; ++j)
      if (send.localExpert[i * topk + j] >= 0) gradWeights[t * topk + j] = g[i * topk + j];
  }
}

}  // namespace sam
