#include "plan/host_executor.h"

#include <algorithm>

#include "comm/comm.h"
#include "core/error.h"
#include "transport/exchange.h"
#include "transport/exchange_label.h"
#include "transport/row_exchange.h"

namespace sam {
namespace {

// Byte offsets and sizes per rank from vector counts/offsets.
struct Blocks {
  std::vector<size_t> offsets, bytes;
  Blocks(const std::vector<int64_t>& count, const std::vector<int64_t>& offset, size_t unit) {
    for (size_t r = 0; r < count.size(); ++r) {
      offsets.push_back(static_cast<size_t>(offset[r]) * unit);
      bytes.push_back(static_cast<size_t>(count[r]) * unit);
    }
  }
};

samResult_t exchangeBlocks(samComm* comm, const void* send, const Blocks& out, void* recv,
                           const Blocks& in, TrafficTable* planTraffic) {
  ExchangeSpec spec;
  spec.send = static_cast<const uint8_t*>(send);
  spec.sendOffsets = out.offsets.data();
  spec.sendBytes = out.bytes.data();
  spec.recv = static_cast<uint8_t*>(recv);
  spec.recvOffsets = in.offsets.data();
  spec.recvBytes = in.bytes.data();
  return exchange(comm, spec, planTraffic);
}

}  // namespace

HostExecutor::HostExecutor(samComm* comm, const PlanLayout& layout, RowFormat format, int64_t paddedRows,
                           TrafficTable* planTraffic)
    : comm_(comm), layout_(layout), format_(format), paddedRows_(paddedRows), planTraffic_(planTraffic) {}

samResult_t HostExecutor::forward(const void* send, void* recv, size_t unit) {
  const SendLayout& s = layout_.send;
  const RecvLayout& r = layout_.recv;
  return exchangeBlocks(comm_, send, Blocks(s.count, s.offset, unit), recv, Blocks(r.count, r.offset, unit),
                        planTraffic_);
}

samResult_t HostExecutor::backward(const void* send, void* recv, size_t unit) {
  const SendLayout& s = layout_.send;
  const RecvLayout& r = layout_.recv;
  return exchangeBlocks(comm_, send, Blocks(r.count, r.offset, unit), recv, Blocks(s.count, s.offset, unit),
                        planTraffic_);
}

samResult_t HostExecutor::dispatch(const void* x, void* expertIn) {
  ExchangeLabel label("dispatch");
  // Rows go from x straight to their expert rows: the shared-memory and self
  // paths gather and scatter them without staging copies.
  RowExchangeSpec rs;
  rs.rowBytes = format_.bytes();
  rs.send = static_cast<const uint8_t*>(x);
  rs.sendOffset = layout_.send.offset.data();
  rs.sendRow = layout_.send.token.data();
  rs.recv = static_cast<uint8_t*>(expertIn);
  rs.recvOffset = layout_.recv.offset.data();
  rs.recvDest = layout_.recv.slotRow.data();
  rs.fanout = layout_.placement.topk;
  SAM_CHECK(exchangeRows(comm_, rs, planTraffic_));
  const int64_t rows = layout_.recv.rows();
  if (paddedRows_ > rows)
    std::fill(static_cast<uint8_t*>(expertIn) + rows * rs.rowBytes,
              static_cast<uint8_t*>(expertIn) + paddedRows_ * rs.rowBytes, uint8_t{0});
  return samSuccess;
}

samResult_t HostExecutor::combineWith(const void* rows, void* y, bool unitWeights) {
  const size_t rb = format_.bytes();
  const SendLayout& s = layout_.send;
  const RecvLayout& r = layout_.recv;
  sendBuf_.resize(r.total() * rb);
  recvBuf_.resize(s.total() * rb);
  reduceSlots(r, layout_.placement.topk, format_, rows, unitWeights, sendBuf_.data());
  // Back home, a token's only vector lands in its row of y; the vectors of
  // tokens served by several ranks go to the spill buffer and are summed.
  RowExchangeSpec rs;
  rs.rowBytes = rb;
  rs.send = sendBuf_.data();
  rs.sendOffset = r.offset.data();
  rs.recv = static_cast<uint8_t*>(y);
  rs.recvOffset = s.offset.data();
  rs.recvDest = s.soleToken.data();
  rs.fanout = 1;
  rs.recvSpill = recvBuf_.data();
  rs.recvSpillRow = s.spillRow.data();
  SAM_CHECK(exchangeRows(comm_, rs, planTraffic_));
  finishTokenSums(s, layout_.numTokens, format_, recvBuf_.data(), y);
  return samSuccess;
}

samResult_t HostExecutor::combine(const void* expertOut, void* y) {
  ExchangeLabel label("combine");
  return combineWith(expertOut, y, false);
}

samResult_t HostExecutor::dispatchBackward(const void* gradExpertIn, void* gradX) {
  ExchangeLabel label("dispatch backward");
  return combineWith(gradExpertIn, gradX, true);
}

samResult_t HostExecutor::combineBackward(const void* gradY, const void* expertOut, void* gradExpertOut,
                                          float* gradWeights) {
  ExchangeLabel label("combine backward");
  const size_t rb = format_.bytes();
  const int k = layout_.placement.topk;
  sendBuf_.resize(layout_.send.total() * rb);
  recvBuf_.resize(layout_.recv.total() * rb);
  packTokens(layout_.send, format_, gradY, sendBuf_.data());
  SAM_CHECK(forward(sendBuf_.data(), recvBuf_.data(), rb));
  scaleToRows(layout_.recv, k, format_, recvBuf_.data(), gradExpertOut);
  if (paddedRows_ > layout_.recv.rows())
    std::fill(static_cast<uint8_t*>(gradExpertOut) + layout_.recv.rows() * rb,
              static_cast<uint8_t*>(gradExpertOut) + paddedRows_ * rb, uint8_t{0});
  // The weight gradients are computed where the expert outputs live and go
  // back as k floats per vector. Every rank takes part in this exchange even
  // when its own gradWeights is NULL: a peer may want its gradients.
  std::vector<float> dots(layout_.recv.total() * k), back(layout_.send.total() * k);
  slotDots(layout_.recv, k, format_, recvBuf_.data(), expertOut, dots.data());
  SAM_CHECK(backward(dots.data(), back.data(), k * sizeof(float)));
  if (gradWeights != nullptr) scatterSlots(layout_.send, layout_.numTokens, k, back.data(), gradWeights);
  return samSuccess;
}

}  // namespace sam
