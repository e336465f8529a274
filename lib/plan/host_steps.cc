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

namespace {
// fp32 rows, one pass: per element the same operations in the same order as
// accumulating slot after slot into a zeroed fp32 row (0 + w0 x0 + w1 x1 ...),
// so the bits match the staged reduction it replaces.
void reduceFloatRows(int n, const float* const* src, const float* w, float* __restrict dst, int hidden) {
  if (n == 1) {
    const float* __restrict a = src[0];
    const float wa = w[0];
    for (int h = 0; h < hidden; ++h) dst[h] = 0.0f + wa * a[h];
    return;
  }
  if (n == 2) {
    const float* __restrict a = src[0];
    const float* __restrict b = src[1];
    const float wa = w[0], wb = w[1];
    for (int h = 0; h < hidden; ++h) dst[h] = (0.0f + wa * a[h]) + wb * b[h];
    return;
  }
  // Row by row (each loop vectorizes and streams one row) rather than element
  // by element across rows; every element still sums its terms in slot
  // order starting from 0, so the result is the same bits.
  const float* __restrict a = src[0];
  const float wa = w[0];
  for (int h = 0; h < hidden; ++h) dst[h] = 0.0f + wa * a[h];
  for (int j = 1; j < n; ++j) {
    const float* __restrict b = src[j];
    const float wb = w[j];
    for (int h = 0; h < hidden; ++h) dst[h] = dst[h] + wb * b[h];
  }
}
}  // namespace

void reduceVector(const RecvLayout& recv, int topk, const RowFormat& f, const void* rows, bool unitWeights,
                  int64_t v, void* dst, float* acc) {
  const size_t rb = f.bytes();
  constexpr int kMaxInline = 64;  // slots of one vector gathered on the stack (real routes: k <= 8 or so)
  if (f.dtype == samFloat32 && topk <= kMaxInline) {
    const float* src[kMaxInline];
    float w[kMaxInline];
    int n = 0;
    for (int j = 0; j < topk; ++j) {
      const int64_t row = recv.slotRow[v * topk + j];
      if (row < 0) continue;
      src[n] = reinterpret_cast<const float*>(rowAt(rows, row, rb));
      w[n++] = unitWeights ? 1.0f : recv.weight[v * topk + j];
    }
    if (n == 0) {
      memset(dst, 0, rb);
      return;
    }
    reduceFloatRows(n, src, w, static_cast<float*>(dst), f.hidden);
    return;
  }
  std::fill(acc, acc + f.hidden, 0.0f);
  for (int j = 0; j < topk; ++j) {
    const int64_t row = recv.slotRow[v * topk + j];
    if (row < 0) continue;
    const float w = unitWeights ? 1.0f : recv.weight[v * topk + j];
    accumulateRow(f.dtype, rowAt(rows, row, rb), w, acc, f.hidden);
  }
  storeRow(f.dtype, acc, dst, f.hidden);
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

void slotGradients(const RecvLayout& recv, int topk, const RowFormat& f, int64_t v, const void* g,
                   const void* rows, void* gradRows, float* dots, float* scratch) {
  const size_t rb = f.bytes();
  bool loaded = false;
  for (int j = 0; j < topk; ++j) {
    const int64_t row = recv.slotRow[v * topk + j];
    if (row < 0) {
      dots[v * topk + j] = 0.0f;
      continue;
    }
    const float w = recv.weight[v * topk + j];
    if (f.dtype == samFloat32) {
      const float* __restrict in = static_cast<const float*>(g);
      float* __restrict out = reinterpret_cast<float*>(rowAt(gradRows, row, rb));
      for (int h = 0; h < f.hidden; ++h) out[h] = w * in[h];
    } else {
      if (!loaded) loadRow(f.dtype, g, scratch, f.hidden);
      loaded = true;
      // w * g in fp32, rounded to dtype block by block (a small stack buffer,
      // element-wise: the same bits as scaling the whole row first).
      uint8_t* out = rowAt(gradRows, row, rb);
      const size_t eb = dataTypeBytes(f.dtype);
      constexpr int kBlock = 256;
      float scaled[kBlock];
      for (int h0 = 0; h0 < f.hidden; h0 += kBlock) {
        const int m = std::min(kBlock, f.hidden - h0);
        for (int i = 0; i < m; ++i) scaled[i] = w * scratch[h0 + i];
        storeRow(f.dtype, scaled, out + static_cast<size_t>(h0) * eb, m);
      }
    }
    dots[v * topk + j] = dotRows(f.dtype, g, rowAt(rows, row, rb), f.hidden);
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
