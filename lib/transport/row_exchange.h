// A block exchange whose blocks are lists of rows, so dispatch moves each row
// of x straight from where it lives to where the experts read it: the sender
// gathers rows by index, the receiver scatters each received row to all the
// rows that need it (one per local expert). Shared-memory and self peers do
// this without staging copies; other transports get packed blocks.
#pragma once

#include <cstddef>
#include <cstdint>

#include <vector>

#include "sam.h"
#include "transport/traffic.h"

struct samComm;

namespace sam {

struct RowExchangeSpec {
  size_t rowBytes = 0;
  // Sender: vectors to peer p are [sendOffset[p], sendOffset[p+1]); vector i
  // is row sendRow[i] of `send` (row i when sendRow is NULL).
  const uint8_t* send = nullptr;
  const int64_t* sendOffset = nullptr;  // [nranks + 1]
  const int32_t* sendRow = nullptr;
  // Receiver: vectors from peer p are [recvOffset[p], recvOffset[p+1]);
  // vector v goes to rows recvDest[v * fanout + j] of `recv`, j < fanout,
  // skipping -1; and, when recvSpillRow is given, to row recvSpillRow[v] of
  // `recvSpill` unless it is -1 (vectors that need more work than a copy).
  uint8_t* recv = nullptr;
  const int64_t* recvOffset = nullptr;  // [nranks + 1]
  const int64_t* recvDest = nullptr;
  int fanout = 1;
  uint8_t* recvSpill = nullptr;
  const int64_t* recvSpillRow = nullptr;

  const uint8_t* sendVector(int64_t i) const {
    return send + static_cast<size_t>(sendRow != nullptr ? sendRow[i] : i) * rowBytes;
  }
  template <typename F>
  void forEachDest(int64_t v, F&& f) const {
    for (int j = 0; j < fanout; ++j) {
      const int64_t d = recvDest[v * fanout + j];
      if (d >= 0) f(recv + static_cast<size_t>(d) * rowBytes);
    }
    if (recvSpillRow != nullptr && recvSpillRow[v] >= 0) f(recvSpill + static_cast<size_t>(recvSpillRow[v]) * rowBytes);
  }
};

// A transport that can gather and scatter rows itself (self, shm). Others are
// fed packed blocks by exchangeRows. Completion is the transport's wait().
class RowTransport {
 public:
  virtual ~RowTransport() = default;
  virtual samResult_t postRows(const RowExchangeSpec& spec, const std::vector<int>& peers, uint64_t seq,
                               TrafficTable& traffic) = 0;
};

// Collective, like sam::exchange (same counters, same failure rules).
samResult_t exchangeRows(samComm* comm, const RowExchangeSpec& spec, TrafficTable* extra = nullptr);

}  // namespace sam
