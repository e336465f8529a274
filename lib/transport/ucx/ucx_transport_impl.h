// Internals of the UCX transport, shared by its three parts: setup
// (ucx_setup.cc), the data path (ucx_exchange.cc) and failure handling and
// teardown (ucx_teardown.cc). Nothing outside lib/transport/ucx includes it.
#pragma once

#include <sched.h>
#include <time.h>
#include <ucp/api/ucp.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "core/deadline.h"
#include "transport/transport.h"

namespace sam::ucx {

constexpr ucp_tag_t kFullTagMask = ~ucp_tag_t(0);
// Tag layout: bits 63..32 the exchange's seq mod 2^32, bit 31 set only for
// the connection check at construction, bits 30..0 the sender's rank.
constexpr ucp_tag_t kControlTagBit = ucp_tag_t(1) << 31;
inline ucp_tag_t blockTag(uint64_t seq, int sender) {
  return (static_cast<ucp_tag_t>(seq & 0xffffffffu) << 32) | static_cast<uint32_t>(sender);
}

inline std::string rankList(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ", ") + std::to_string(r);
  return s;
}

// Polls without burning a core that other ranks need (several ranks may share
// one machine): spin while UCX makes progress, then yield, then nap.
class Backoff {
 public:
  void progressed(unsigned events) {
    if (events > 0) {
      idle_ = 0;
      return;
    }
    ++idle_;
    if (idle_ < 64) return;
    if (idle_ < 1024) {
      sched_yield();
      return;
    }
    timespec nap{0, 20 * 1000};
    nanosleep(&nap, nullptr);
  }

 private:
  unsigned idle_ = 0;
};

// One endpoint per other rank. `error` is set by UCX's error handler when the
// peer goes away (UCP_ERR_HANDLING_MODE_PEER); `culprit` when an exchange
// failed because of this peer: its endpoint is then only force-closed.
struct Peer {
  ucp_ep_h ep = nullptr;
  ucs_status_t error = UCS_OK;
  bool culprit = false;
};

// One posted send or receive. Lives in a deque (stable address) because UCX's
// completion callback writes into it.
struct Block {
  int peer = -1;
  bool isSend = false;
  size_t bytes = 0;
  uint64_t seq = 0;
  ucp_tag_t tag = 0;
  bool control = false;  // the connection check, not an exchange
  void* request = nullptr;  // UCX's request while in flight
  bool done = false;
  ucs_status_t status = UCS_OK;
  ucp_tag_recv_info_t info{};  // receives: what arrived
};

inline std::string blockName(const Block& b) {
  return b.control ? std::string("the connection check") : "exchange " + std::to_string(b.seq);
}

void onSendDone(void* request, ucs_status_t status, void* user);
void onRecvDone(void* request, ucs_status_t status, const ucp_tag_recv_info_t* info, void* user);
void onPeerError(void* arg, ucp_ep_h ep, ucs_status_t status);

class UcxTransport final : public Transport {
 public:
  UcxTransport(int rank, int nranks, int timeoutMs, const std::atomic<bool>* aborted)
      : rank_(rank), nranks_(nranks), timeoutMs_(timeoutMs), aborted_(aborted), peers_(static_cast<size_t>(nranks)) {}
  ~UcxTransport() override;

  // The collective part of createUcxTransport.
  samResult_t init(Bootstrap& bootstrap);

  samTransport_t kind() const override { return samTransportUcx; }
  samResult_t post(const ExchangeSpec& spec, const std::vector<int>& peers, uint64_t seq,
                   TrafficTable& traffic) override;
  samResult_t wait(const Deadline& deadline) override;

 private:
  samResult_t startWorker(std::string* addressBlob);
  samResult_t connect(const std::vector<std::string>& blobs, std::vector<int>* badRanks);
  samResult_t checkConnections();
  samResult_t checkArgs(const ExchangeSpec& spec, const std::vector<int>& peers) const;
  void postBlock(Block& b, void* buffer);
  // Records the failure for good (blaming `culprits`), takes every block
  // back from UCX, logs it.
  samResult_t breakDown(samResult_t code, const std::string& detail, const std::vector<int>& culprits);
  samResult_t refuseBroken(const char* what) const;
  void abandonBlocks();
  bool progressUntilBlocksDone(const Deadline& bound);
  void forceClose(int peer);
  void closeEndpoints(const Deadline& bound);
  std::string prefix() const { return "UCX transport (rank " + std::to_string(rank_) + ")"; }

  const int rank_;
  const int nranks_;
  const int timeoutMs_;
  const std::atomic<bool>* aborted_;  // samCommAbort's flag, or null
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  std::vector<Peer> peers_;  // [nranks], never resized: UCX holds pointers into it
  std::deque<Block> blocks_;
  samResult_t broken_ = samSuccess;
  std::string brokenDetail_;
  std::vector<uint32_t> checkOutbox_, checkInbox_;  // the connection check's messages
};

}  // namespace sam::ucx
