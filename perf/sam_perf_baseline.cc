#include "sam_perf_baseline.h"

#include <cstring>

#include "comm/comm.h"
#include "sam_perf_dtype.h"
#include "sam_perf_ranks.h"
#include "transport/exchange.h"

namespace samperf {

BaselineImpl::BaselineImpl(samComm_t comm, const Layer& layer, int rank)
    : comm_(comm), layer_(layer), rank_(rank) {}

void BaselineImpl::plan(int64_t numTokens, const int32_t* expertIdx, const float* weights) {
  const int R = layer_.nranks, L = layer_.localExperts(), k = layer_.topk;
  numTokens_ = numTokens;
  expertIdx_ = expertIdx;
  weights_ = weights;
  // Pairs per (dest rank, local expert) chunk; expert e is chunk e itself.
  std::vector<int64_t> sendCounts(static_cast<size_t>(R) * L, 0);
  for (int64_t p = 0; p < numTokens * k; ++p)
    if (expertIdx[p] >= 0) ++sendCounts[expertIdx[p]];
  sendRowOffsets_.assign(static_cast<size_t>(R) * L + 1, 0);
  for (int c = 0; c < R * L; ++c) sendRowOffsets_[c + 1] = sendRowOffsets_[c] + sendCounts[c];
  sendRows_ = sendRowOffsets_.back();
  // Stable placement: pairs of one chunk in token order.
  std::vector<int64_t> fill(sendRowOffsets_.begin(), sendRowOffsets_.end() - 1);
  pairRow_.assign(static_cast<size_t>(numTokens) * k, -1);
  for (int64_t p = 0; p < numTokens * k; ++p)
    if (expertIdx[p] >= 0) pairRow_[p] = fill[expertIdx[p]]++;

  // The counts all-to-all: L counts to every rank.
  std::vector<int64_t> recvCounts(static_cast<size_t>(R) * L, 0);
  std::vector<size_t> off(R), bytes(R, L * sizeof(int64_t));
  for (int r = 0; r < R; ++r) off[r] = static_cast<size_t>(r) * L * sizeof(int64_t);
  sam::ExchangeSpec spec;
  spec.send = reinterpret_cast<const uint8_t*>(sendCounts.data());
  spec.sendOffsets = off.data();
  spec.sendBytes = bytes.data();
  spec.recv = reinterpret_cast<uint8_t*>(recvCounts.data());
  spec.recvOffsets = off.data();
  spec.recvBytes = bytes.data();
  check(sam::exchange(comm_, spec), "baseline counts exchange");

  recvRowOffsets_.assign(static_cast<size_t>(R) * L + 1, 0);
  for (int c = 0; c < R * L; ++c) recvRowOffsets_[c + 1] = recvRowOffsets_[c] + recvCounts[c];
  // Expert order: local expert j's rows from rank 0, then rank 1, ...
  expertOffsets_.assign(L + 1, 0);
  for (int j = 0; j < L; ++j) {
    int64_t rows = 0;
    for (int r = 0; r < R; ++r) rows += recvCounts[r * L + j];
    expertOffsets_[j + 1] = expertOffsets_[j] + rows;
  }
  expertChunkRow_.assign(static_cast<size_t>(R) * L, 0);
  for (int j = 0; j < L; ++j) {
    int64_t at = expertOffsets_[j];
    for (int r = 0; r < R; ++r) {
      expertChunkRow_[r * L + j] = at;
      at += recvCounts[r * L + j];
    }
  }
  const size_t rb = layer_.rowBytes();
  sendBuf_.resize(static_cast<size_t>(sendRows_) * rb);
  recvBuf_.resize(static_cast<size_t>(recvRowOffsets_.back()) * rb);
}

void BaselineImpl::exchangeRows(const uint8_t* send, const std::vector<int64_t>& sendRowOffsets,
                                uint8_t* recv, const std::vector<int64_t>& recvRowOffsets) {
  const int R = layer_.nranks, L = layer_.localExperts();
  const size_t rb = layer_.rowBytes();
  std::vector<size_t> sOff(R), sBytes(R), rOff(R), rBytes(R);
  for (int r = 0; r < R; ++r) {
    sOff[r] = sendRowOffsets[r * L] * rb;
    sBytes[r] = (sendRowOffsets[(r + 1) * L] - sendRowOffsets[r * L]) * rb;
    rOff[r] = recvRowOffsets[r * L] * rb;
    rBytes[r] = (recvRowOffsets[(r + 1) * L] - recvRowOffsets[r * L]) * rb;
  }
  sam::ExchangeSpec spec;
  spec.send = send;
  spec.sendOffsets = sOff.data();
  spec.sendBytes = sBytes.data();
  spec.recv = recv;
  spec.recvOffsets = rOff.data();
  spec.recvBytes = rBytes.data();
  check(sam::exchange(comm_, spec), "baseline all-to-all");
}

void BaselineImpl::regroup(const uint8_t* from, uint8_t* to, bool toExperts) {
  const int R = layer_.nranks, L = layer_.localExperts();
  const size_t rb = layer_.rowBytes();
  for (int c = 0; c < R * L; ++c) {
    size_t n = (recvRowOffsets_[c + 1] - recvRowOffsets_[c]) * rb;
    if (n == 0) continue;
    const size_t rankAt = recvRowOffsets_[c] * rb, expertAt = expertChunkRow_[c] * rb;
    if (toExperts) std::memcpy(to + expertAt, from + rankAt, n);
    else std::memcpy(to + rankAt, from + expertAt, n);
  }
}

void BaselineImpl::dispatch(const void* x, void* expertIn) {
  const int k = layer_.topk;
  const size_t rb = layer_.rowBytes();
  const uint8_t* src = static_cast<const uint8_t*>(x);
  for (int64_t p = 0; p < numTokens_ * k; ++p)
    if (pairRow_[p] >= 0) std::memcpy(sendBuf_.data() + pairRow_[p] * rb, src + (p / k) * rb, rb);
  exchangeRows(sendBuf_.data(), sendRowOffsets_, recvBuf_.data(), recvRowOffsets_);
  regroup(recvBuf_.data(), static_cast<uint8_t*>(expertIn), true);
}

void BaselineImpl::combine(const void* expertOut, void* y) {
  const int k = layer_.topk, H = layer_.hidden;
  const samDataType_t dt = layer_.dtype;
  regroup(static_cast<const uint8_t*>(expertOut), recvBuf_.data(), false);
  exchangeRows(recvBuf_.data(), recvRowOffsets_, sendBuf_.data(), sendRowOffsets_);
  // Unpermute and weight: y[t] = sum_i w_i * row(t, i), accumulated in float.
  std::vector<float> acc(H);
  for (int64_t t = 0; t < numTokens_; ++t) {
    std::fill(acc.begin(), acc.end(), 0.0f);
    for (int i = 0; i < k; ++i) {
      int64_t row = pairRow_[t * k + i];
      if (row < 0) continue;
      const float w = weights_[t * k + i];
      const uint8_t* v = sendBuf_.data() + row * layer_.rowBytes();
      if (dt == samFloat32) {
        const float* f = reinterpret_cast<const float*>(v);
        for (int h = 0; h < H; ++h) acc[h] += w * f[h];
      } else {
        for (int h = 0; h < H; ++h) acc[h] += w * loadElem(v, h, dt);
      }
    }
    if (dt == samFloat32) {
      std::memcpy(static_cast<float*>(y) + t * H, acc.data(), H * sizeof(float));
    } else {
      for (int h = 0; h < H; ++h) storeElem(y, static_cast<size_t>(t) * H + h, acc[h], dt);
    }
  }
}

}  // namespace samperf
