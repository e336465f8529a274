// Test data for block exchanges: every rank computes the same sizes and
// contents from (seed, seq, src, dst), so a receiver can check what it got
// byte by byte without seeing the sender's memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "transport/transport.h"

namespace sam::test {

constexpr uint8_t kPoison = 0xA5;

// How big the block src -> dst of exchange `seq` is: 0, a few bytes, tens of
// KB, or 1-4 MB, all odd-sized now and then.
using SizeRule = size_t (*)(uint64_t seed, uint64_t seq, int src, int dst);
size_t randomBlockSize(uint64_t seed, uint64_t seq, int src, int dst);

// One rank's side of one exchange: blocks laid out in a peer order that
// changes with seq, with gaps between them; the receive buffer is poisoned.
struct ExchangeData {
  std::vector<size_t> sendOffsets, sendBytes, recvOffsets, recvBytes;
  std::vector<uint8_t> send, recv;
  ExchangeSpec spec() const;
};

ExchangeData makeExchange(uint64_t seed, uint64_t seq, int rank, int nranks, SizeRule size = randomBlockSize);

// "" when the block from every peer in `served` holds exactly what its sender
// wrote and every other byte still holds the poison; else what was wrong.
std::string checkReceived(const ExchangeData& x, uint64_t seed, uint64_t seq, int rank, int nranks,
                          const std::vector<int>& served);
// The same with every other rank served.
std::string checkReceived(const ExchangeData& x, uint64_t seed, uint64_t seq, int rank, int nranks);

}  // namespace sam::test
