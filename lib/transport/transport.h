// The primitive under dispatch and combine: a block exchange with a set of
// peers. Rank r sends sendBytes[p] bytes at send + sendOffsets[p] to each peer
// p, and receives recvBytes[p] bytes into recv + recvOffsets[p]. Sizes were
// agreed beforehand (the plan's count exchange), so both sides know them.
// Arrays are indexed by global rank (nranks entries); only `peers` are used.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/deadline.h"
#include "sam.h"
#include "transport/traffic.h"

namespace sam {

struct ExchangeSpec {
  const uint8_t* send = nullptr;
  const size_t* sendOffsets = nullptr;
  const size_t* sendBytes = nullptr;
  uint8_t* recv = nullptr;
  const size_t* recvOffsets = nullptr;
  const size_t* recvBytes = nullptr;
};

class Transport {
 public:
  virtual ~Transport() = default;
  virtual samTransport_t kind() const = 0;
  // Starts the exchange with `peers` (all served by this transport). `seq`
  // numbers the exchanges of a communicator (the same on every rank), so two
  // exchanges in flight are never confused. Counts every block in `traffic`.
  virtual samResult_t post(const ExchangeSpec& spec, const std::vector<int>& peers, uint64_t seq,
                           TrafficTable& traffic) = 0;
  // Drives the exchange posted last to completion, or fails by the deadline:
  // samTimeout naming the peers that did not deliver, samRemoteError if a peer
  // is known dead. Output bytes are complete only after success.
  virtual samResult_t wait(const Deadline& deadline) = 0;
  // Instead of post + wait, for a rank that cannot take part in exchange
  // `seq` (a bad argument): tells `peers` so that their wait fails at once
  // with samRemoteError naming this rank, rather than by their timeout.
  // sendBytes[p] (indexed by rank) is what p expects from this rank. Best
  // effort. The default (any transport that checks block lengths, UCX): each
  // peer that expects bytes gets a block of the wrong length holding `why`.
  virtual samResult_t abandon(const std::vector<int>& peers, const std::vector<size_t>& sendBytes, uint64_t seq,
                              const std::string& why, const Deadline& deadline);
};

}  // namespace sam
