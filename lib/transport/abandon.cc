// The default way to give up an exchange: a block of the wrong length to
// every peer that expects one. A transport that checks received lengths (UCX
// does) fails the peer's wait at once, naming this rank.
#include <algorithm>

#include "core/error.h"
#include "transport/transport.h"

namespace sam {

samResult_t Transport::abandon(const std::vector<int>& peers, const std::vector<size_t>& sendBytes, uint64_t seq,
                               const std::string& why, const Deadline& deadline) {
  const std::string text = "abandoned: " + why;  // never empty, so a block can always be shorter than 2 bytes
  std::vector<size_t> offsets(sendBytes.size(), 0), bytes(sendBytes.size(), 0), none(sendBytes.size(), 0);
  for (int p : peers) {
    const size_t want = sendBytes[p];
    if (want == 0) continue;  // the peer posts nothing for this rank: nothing would tell it
    // Shorter than expected when possible; one byte too long otherwise (a
    // 1-byte block): either way the receiver sees a length mismatch.
    bytes[p] = want > 1 ? std::min(text.size(), want - 1) : 2;
  }
  ExchangeSpec spec;
  spec.send = reinterpret_cast<const uint8_t*>(text.data());
  spec.sendOffsets = offsets.data();
  spec.sendBytes = bytes.data();
  spec.recvOffsets = offsets.data();
  spec.recvBytes = none.data();
  TrafficTable uncounted(static_cast<int>(sendBytes.size()));  // not data: kept out of the counters
  SAM_CHECK(post(spec, peers, seq, uncounted));
  return wait(deadline);
}

}  // namespace sam
