// Bytes and messages per (peer, transport): what crossed, counted where it
// crossed, so traffic can be verified rather than assumed.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "sam.h"

namespace sam {

class TrafficTable {
 public:
  explicit TrafficTable(int nranks = 0) { resize(nranks); }
  void resize(int nranks) {
    nranks_ = nranks;
    cells_ = std::vector<Cell>(static_cast<size_t>(nranks) * samNumTransports);
  }
  void countSend(int peer, samTransport_t t, uint64_t bytes) {
    Cell& c = cell(peer, t);
    c.bytesSent += bytes;
    c.messagesSent += 1;
  }
  void countRecv(int peer, samTransport_t t, uint64_t bytes) {
    Cell& c = cell(peer, t);
    c.bytesReceived += bytes;
    c.messagesReceived += 1;
  }
  samTrafficCounter_t get(int peer, samTransport_t t) const {
    const Cell& c = cells_[index(peer, t)];
    return {c.bytesSent.load(), c.bytesReceived.load(), c.messagesSent.load(), c.messagesReceived.load()};
  }
  void reset() {
    for (Cell& c : cells_) c.bytesSent = c.bytesReceived = c.messagesSent = c.messagesReceived = 0;
  }
  int nranks() const { return nranks_; }

 private:
  struct Cell {
    std::atomic<uint64_t> bytesSent{0}, bytesReceived{0}, messagesSent{0}, messagesReceived{0};
    Cell() = default;
    Cell(const Cell&) {}
  };
  size_t index(int peer, samTransport_t t) const {
    return static_cast<size_t>(peer) * samNumTransports + static_cast<size_t>(t);
  }
  Cell& cell(int peer, samTransport_t t) { return cells_[index(peer, t)]; }
  int nranks_ = 0;
  std::vector<Cell> cells_;
};

}  // namespace sam
