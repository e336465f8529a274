#include "transport/ucx/ucx_transport.h"

#include <sched.h>
#include <time.h>
#include <ucp/api/ucp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "core/log.h"

namespace sam {
namespace {

// What each rank contributes to the address exchange: a magic (so a blob from
// something else is refused before UCX parses it), the rank, the address.
constexpr char kAddressMagic[8] = {'S', 'A', 'M', 'U', 'C', 'X', '1', '\0'};
constexpr size_t kAddressHeader = sizeof(kAddressMagic) + sizeof(uint32_t);

constexpr ucp_tag_t kFullTagMask = ~ucp_tag_t(0);
// After a failure, how long the blocks with healthy peers may still take to
// complete. Cutting them off at once would make those peers fail too, and
// blame this rank instead of the one at fault.
constexpr int64_t kGraceMs = 500;
// How long to wait for UCX to hand back requests it is cancelling; they
// complete at once in practice.
constexpr int64_t kCancelBoundMs = 1000;
constexpr int64_t kDefaultCloseBoundMs = 2000;

// Tag layout: bits 63..32 the exchange's seq mod 2^32, bit 31 set only for
// the connection check at construction, bits 30..0 the sender's rank.
constexpr ucp_tag_t kControlTagBit = ucp_tag_t(1) << 31;
ucp_tag_t blockTag(uint64_t seq, int sender) {
  return (static_cast<ucp_tag_t>(seq & 0xffffffffu) << 32) | static_cast<uint32_t>(sender);
}

std::string rankList(const std::vector<int>& ranks) {
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

std::string blockName(const Block& b) {
  return b.control ? std::string("the connection check") : "exchange " + std::to_string(b.seq);
}

void onSendDone(void* request, ucs_status_t status, void* user) {
  Block* b = static_cast<Block*>(user);
  b->status = status;
  b->done = true;
  b->request = nullptr;
  ucp_request_free(request);
}

void onRecvDone(void* request, ucs_status_t status, const ucp_tag_recv_info_t* info, void* user) {
  Block* b = static_cast<Block*>(user);
  b->status = status;
  if (info != nullptr) b->info = *info;
  b->done = true;
  b->request = nullptr;
  ucp_request_free(request);
}

void onPeerError(void* arg, ucp_ep_h, ucs_status_t status) {
  Peer* p = static_cast<Peer*>(arg);
  if (p->error == UCS_OK) p->error = status;
}

class UcxTransport final : public Transport {
 public:
  UcxTransport(int rank, int nranks, int timeoutMs)
      : rank_(rank), nranks_(nranks), timeoutMs_(timeoutMs), peers_(static_cast<size_t>(nranks)) {}
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
  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  std::vector<Peer> peers_;  // [nranks], never resized: UCX holds pointers into it
  std::deque<Block> blocks_;
  samResult_t broken_ = samSuccess;
  std::string brokenDetail_;
};

samResult_t UcxTransport::startWorker(std::string* addressBlob) {
  ucp_config_t* config = nullptr;
  ucs_status_t st = ucp_config_read(nullptr, nullptr, &config);
  if (st != UCS_OK) return failf(samSystemError, "%s: ucp_config_read: %s", prefix().c_str(), ucs_status_string(st));
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES | UCP_PARAM_FIELD_MT_WORKERS_SHARED |
                      UCP_PARAM_FIELD_ESTIMATED_NUM_EPS | UCP_PARAM_FIELD_NAME;
  params.features = UCP_FEATURE_TAG;
  params.mt_workers_shared = 0;
  params.estimated_num_eps = static_cast<size_t>(nranks_);
  params.name = "libsam";
  st = ucp_init(&params, config, &context_);
  ucp_config_release(config);
  if (st != UCS_OK) {
    context_ = nullptr;
    return failf(samSystemError, "%s: ucp_init: %s", prefix().c_str(), ucs_status_string(st));
  }

  // SERIALIZED: frameworks call from more than one thread (autograd runs the
  // backward pass on its own thread), never from two at once.
  ucp_worker_params_t wparams{};
  wparams.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  wparams.thread_mode = UCS_THREAD_MODE_SERIALIZED;
  st = ucp_worker_create(context_, &wparams, &worker_);
  if (st != UCS_OK) {
    worker_ = nullptr;
    return failf(samSystemError, "%s: ucp_worker_create: %s", prefix().c_str(), ucs_status_string(st));
  }

  ucp_address_t* address = nullptr;
  size_t length = 0;
  st = ucp_worker_get_address(worker_, &address, &length);
  if (st != UCS_OK)
    return failf(samSystemError, "%s: ucp_worker_get_address: %s", prefix().c_str(), ucs_status_string(st));
  const uint32_t rank32 = static_cast<uint32_t>(rank_);
  addressBlob->assign(kAddressMagic, sizeof(kAddressMagic));
  addressBlob->append(reinterpret_cast<const char*>(&rank32), sizeof(rank32));
  addressBlob->append(reinterpret_cast<const char*>(address), length);
  ucp_worker_release_address(worker_, address);
  return samSuccess;
}

samResult_t UcxTransport::connect(const std::vector<std::string>& blobs, std::vector<int>* badRanks) {
  for (int r = 0; r < nranks_; ++r) {
    if (r == rank_) continue;
    const std::string& blob = blobs[r];
    uint32_t claimed = 0;
    if (blob.size() > kAddressHeader) std::memcpy(&claimed, blob.data() + sizeof(kAddressMagic), sizeof(claimed));
    if (blob.size() <= kAddressHeader || std::memcmp(blob.data(), kAddressMagic, sizeof(kAddressMagic)) != 0 ||
        claimed != static_cast<uint32_t>(r)) {
      // An empty blob is a rank that could not start UCX (it logged why).
      badRanks->push_back(r);
      continue;
    }
    // UCX parses the address during ucp_ep_create; no alignment needs, but
    // copy it out of the string so the pointer is plainly a byte buffer.
    std::vector<uint8_t> address(blob.begin() + kAddressHeader, blob.end());
    ucp_ep_params_t ep{};
    ep.field_mask = UCP_EP_PARAM_FIELD_REMOTE_ADDRESS | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                    UCP_EP_PARAM_FIELD_ERR_HANDLER;
    ep.address = reinterpret_cast<const ucp_address_t*>(address.data());
    ep.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    ep.err_handler.cb = onPeerError;
    ep.err_handler.arg = &peers_[r];
    ucs_status_t st = ucp_ep_create(worker_, &ep, &peers_[r].ep);
    if (st != UCS_OK) {
      peers_[r].ep = nullptr;
      return failf(samSystemError, "%s: ucp_ep_create to rank %d: %s", prefix().c_str(), r, ucs_status_string(st));
    }
  }
  return samSuccess;
}

// Every rank sends its rank number to every other rank and receives theirs.
// Wiring all endpoints up front surfaces an unreachable rank at construction
// (within the timeout, naming it), keeps connection setup out of the first
// exchange, and means no connection is half set up when a rank tears down
// (UCX 1.13 can abort in ucp_worker_destroy on a wireup reply still queued).
samResult_t UcxTransport::checkConnections() {
  std::vector<uint32_t> outbox(1, static_cast<uint32_t>(rank_));
  std::vector<uint32_t> inbox(static_cast<size_t>(nranks_), UINT32_MAX);
  for (int pass = 0; pass < 2; ++pass) {
    for (int p = 0; p < nranks_; ++p) {
      if (p == rank_) continue;
      Block& b = blocks_.emplace_back();
      b.peer = p;
      b.isSend = pass == 1;
      b.bytes = sizeof(uint32_t);
      b.control = true;
      b.tag = kControlTagBit | static_cast<uint32_t>(b.isSend ? rank_ : p);
      postBlock(b, b.isSend ? static_cast<void*>(outbox.data()) : static_cast<void*>(&inbox[p]));
    }
  }
  SAM_CHECK(wait(Deadline::in(timeoutMs_)));
  for (int p = 0; p < nranks_; ++p)
    if (p != rank_ && inbox[p] != static_cast<uint32_t>(p))
      return failf(samRemoteError, "%s: the connection check with rank %d got rank %u's message", prefix().c_str(),
                   p, inbox[p]);
  return samSuccess;
}

namespace {

// One allgather of a one-byte verdict per rank; `*failed` gets the ranks
// whose step did not succeed.
samResult_t gatherVerdicts(Bootstrap& bootstrap, bool ok, std::vector<int>* failed) {
  std::vector<std::string> verdicts;
  SAM_CHECK(bootstrap.allgather(std::string(1, ok ? '1' : '0'), &verdicts));
  for (int r = 0; r < static_cast<int>(verdicts.size()); ++r)
    if (verdicts[r] != "1") failed->push_back(r);
  return samSuccess;
}

}  // namespace

samResult_t UcxTransport::init(Bootstrap& bootstrap) {
  // Every rank takes part in every allgather whatever happened locally, so a
  // rank that fails tells the others instead of leaving them to time out.
  // 1. Worker addresses.
  std::string mine;
  samResult_t local = startWorker(&mine);
  if (local != samSuccess) mine.clear();
  std::vector<std::string> blobs;
  SAM_CHECK(bootstrap.allgather(mine, &blobs));
  if (static_cast<int>(blobs.size()) != nranks_)
    return failf(samInternalError, "%s: address allgather returned %zu blobs for %d ranks", prefix().c_str(),
                 blobs.size(), nranks_);

  // 2. Endpoints to every other rank.
  std::vector<int> badRanks;
  if (local == samSuccess) local = connect(blobs, &badRanks);
  std::vector<int> failed;
  SAM_CHECK(gatherVerdicts(bootstrap, local == samSuccess && badRanks.empty(), &failed));
  if (local != samSuccess) return local;  // already logged with its reason
  if (!badRanks.empty())
    return failf(samRemoteError, "%s: no usable UCX worker address from rank(s) %s (could not start UCX?)",
                 prefix().c_str(), rankList(badRanks).c_str());
  if (!failed.empty())
    return failf(samRemoteError, "%s: rank(s) %s could not set up their UCX endpoints", prefix().c_str(),
                 rankList(failed).c_str());

  // 3. Every connection carries a message both ways.
  local = checkConnections();
  SAM_CHECK(gatherVerdicts(bootstrap, local == samSuccess, &failed));
  if (local != samSuccess) return local;
  if (!failed.empty())
    return failf(samRemoteError, "%s: rank(s) %s could not reach every other rank over UCX", prefix().c_str(),
                 rankList(failed).c_str());
  SAM_INFO(LOG_NET, "%s: UCX %s, worker and %d connected endpoints ready", prefix().c_str(),
           ucp_get_version_string(), nranks_ - 1);
  return samSuccess;
}

samResult_t UcxTransport::refuseBroken(const char* what) const {
  return failf(broken_, "%s: %s after an earlier failure: %s", prefix().c_str(), what, brokenDetail_.c_str());
}

samResult_t UcxTransport::checkArgs(const ExchangeSpec& spec, const std::vector<int>& peers) const {
  std::vector<bool> seen(static_cast<size_t>(nranks_), false);
  for (int p : peers) {
    if (p < 0 || p >= nranks_)
      return failf(samInvalidArgument, "%s: peer %d is out of range [0, %d)", prefix().c_str(), p, nranks_);
    if (p == rank_)
      return failf(samInvalidArgument, "%s: peer %d is this rank (the self transport serves it)", prefix().c_str(), p);
    if (seen[p]) return failf(samInvalidArgument, "%s: peer %d is listed twice", prefix().c_str(), p);
    seen[p] = true;
  }
  if (peers.empty()) return samSuccess;
  if (spec.sendBytes == nullptr || spec.recvBytes == nullptr)
    return failf(samInvalidArgument, "%s: spec.sendBytes or spec.recvBytes is NULL", prefix().c_str());
  for (int p : peers) {
    if (spec.sendBytes[p] > 0 && (spec.send == nullptr || spec.sendOffsets == nullptr))
      return failf(samInvalidArgument, "%s: %zu bytes to send to rank %d but spec.send or spec.sendOffsets is NULL",
                   prefix().c_str(), spec.sendBytes[p], p);
    if (spec.recvBytes[p] > 0 && (spec.recv == nullptr || spec.recvOffsets == nullptr))
      return failf(samInvalidArgument,
                   "%s: %zu bytes to receive from rank %d but spec.recv or spec.recvOffsets is NULL",
                   prefix().c_str(), spec.recvBytes[p], p);
  }
  return samSuccess;
}

void UcxTransport::postBlock(Block& b, void* buffer) {
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.user_data = &b;
  ucs_status_ptr_t req;
  if (b.isSend) {
    param.cb.send = onSendDone;
    req = ucp_tag_send_nbx(peers_[b.peer].ep, buffer, b.bytes, b.tag, &param);
  } else {
    // Always through the callback: UCX 1.13 may complete a receive at once
    // without filling recv_info, and the length is what we check.
    param.op_attr_mask |= UCP_OP_ATTR_FLAG_NO_IMM_CMPL;
    param.cb.recv = onRecvDone;
    req = ucp_tag_recv_nbx(worker_, buffer, b.bytes, b.tag, kFullTagMask, &param);
  }
  // Completed at once (no callback follows), failed at once, or in flight.
  if (req == nullptr) {
    b.done = true;
  } else if (UCS_PTR_IS_ERR(req)) {
    b.done = true;
    b.status = UCS_PTR_STATUS(req);
  } else {
    b.request = req;
  }
}

samResult_t UcxTransport::post(const ExchangeSpec& spec, const std::vector<int>& peers, uint64_t seq,
                               TrafficTable& traffic) {
  if (broken_ != samSuccess) return refuseBroken("cannot post");
  SAM_CHECK(checkArgs(spec, peers));
  // Receives first, so that most sends find their receive already posted.
  for (int pass = 0; pass < 2; ++pass) {
    const bool isSend = pass == 1;
    for (int p : peers) {
      const size_t bytes = isSend ? spec.sendBytes[p] : spec.recvBytes[p];
      if (bytes == 0) continue;  // empty blocks never travel (see the header)
      Block& b = blocks_.emplace_back();
      b.peer = p;
      b.isSend = isSend;
      b.bytes = bytes;
      b.seq = seq;
      b.tag = blockTag(seq, isSend ? rank_ : p);
      if (isSend) {
        postBlock(b, const_cast<uint8_t*>(spec.send + spec.sendOffsets[p]));
        traffic.countSend(p, samTransportUcx, bytes);
      } else {
        postBlock(b, spec.recv + spec.recvOffsets[p]);
        traffic.countRecv(p, samTransportUcx, bytes);
      }
      SAM_TRACE(LOG_NET, "%s: seq %llu posted %s of %zu bytes %s rank %d", prefix().c_str(),
                static_cast<unsigned long long>(seq), isSend ? "send" : "receive", bytes, isSend ? "to" : "from", p);
    }
  }
  return samSuccess;
}

samResult_t UcxTransport::wait(const Deadline& deadline) {
  if (broken_ != samSuccess) return refuseBroken("cannot wait");
  const auto start = Deadline::Clock::now();
  Backoff backoff;
  for (;;) {
    const unsigned events = ucp_worker_progress(worker_);

    bool allDone = true;
    std::vector<int> deadPeers;
    std::string why;
    for (const Block& b : blocks_) {
      if (b.done) {
        if (b.status != UCS_OK) {
          deadPeers.push_back(b.peer);
          if (why.empty())
            why = std::string(b.isSend ? "send to" : "receive from") + " rank " + std::to_string(b.peer) +
                  ": " + ucs_status_string(b.status);
        } else if (!b.isSend && b.info.length != b.bytes) {
          deadPeers.push_back(b.peer);
          if (why.empty())
            why = "rank " + std::to_string(b.peer) + " sent " + std::to_string(b.info.length) +
                  " bytes for " + blockName(b) + ", expected " + std::to_string(b.bytes);
        }
        continue;
      }
      allDone = false;
      const ucs_status_t gone = peers_[b.peer].error;
      if (gone != UCS_OK) {
        deadPeers.push_back(b.peer);
        if (why.empty()) why = "rank " + std::to_string(b.peer) + " is gone: " + ucs_status_string(gone);
      }
    }
    if (!deadPeers.empty()) {
      std::sort(deadPeers.begin(), deadPeers.end());
      deadPeers.erase(std::unique(deadPeers.begin(), deadPeers.end()), deadPeers.end());
      return breakDown(samRemoteError,
                       prefix() + ": exchange failed with rank(s) " + rankList(deadPeers) + " (" + why + ")",
                       deadPeers);
    }
    if (allDone) {
      blocks_.clear();
      return samSuccess;
    }
    if (deadline.expired()) {
      std::vector<int> late;
      std::string detail;
      for (const Block& b : blocks_) {
        if (b.done) continue;
        late.push_back(b.peer);
        if (!detail.empty()) detail += "; ";
        detail += std::string(b.isSend ? "send to" : "receive from") + " rank " + std::to_string(b.peer) + " (" +
                  std::to_string(b.bytes) + " bytes, " + blockName(b) + ")";
      }
      std::sort(late.begin(), late.end());
      late.erase(std::unique(late.begin(), late.end()), late.end());
      const auto waited =
          std::chrono::duration_cast<std::chrono::milliseconds>(Deadline::Clock::now() - start).count();
      return breakDown(samTimeout,
                       prefix() + ": rank(s) " + rankList(late) + " did not complete their blocks within " +
                           std::to_string(waited) + " ms: " + detail,
                       late);
    }
    backoff.progressed(events);
  }
}

samResult_t UcxTransport::breakDown(samResult_t code, const std::string& detail,
                                    const std::vector<int>& culprits) {
  broken_ = code;
  brokenDetail_ = detail;
  for (int p : culprits) peers_[p].culprit = true;
  abandonBlocks();
  return fail(code, detail);
}

bool UcxTransport::progressUntilBlocksDone(const Deadline& bound) {
  Backoff backoff;
  for (;;) {
    bool allDone = true;
    for (const Block& b : blocks_) allDone = allDone && b.done;
    if (allDone) return true;
    if (bound.expired()) return false;
    backoff.progressed(ucp_worker_progress(worker_));
  }
}

void UcxTransport::forceClose(int peer) {
  Peer& p = peers_[peer];
  p.culprit = true;
  if (p.ep == nullptr) return;
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
  param.flags = UCP_EP_CLOSE_FLAG_FORCE;
  ucs_status_ptr_t req = ucp_ep_close_nbx(p.ep, &param);
  p.ep = nullptr;
  // A forced close completes at once; if UCX still hands back a request,
  // it finishes (and is released) on its own during progress.
  if (UCS_PTR_IS_PTR(req) && req != nullptr) ucp_request_free(req);
}

void UcxTransport::abandonBlocks() {
  // 1. Cut the culprits off: cancel their receives (a receive can be
  //    cancelled), force-close their endpoints (the only way to take back a
  //    send: UCX completes it with UCS_ERR_CANCELED).
  for (Block& b : blocks_)
    if (!b.done && !b.isSend && b.request != nullptr && peers_[b.peer].culprit) ucp_request_cancel(worker_, b.request);
  for (int r = 0; r < nranks_; ++r)
    if (peers_[r].culprit || peers_[r].error != UCS_OK) forceClose(r);
  // 2. Let the blocks with healthy peers finish (they are in their own wait).
  if (progressUntilBlocksDone(Deadline::in(kGraceMs))) {
    blocks_.clear();
    return;
  }
  // 3. Whoever still has blocks in flight is cut off too.
  for (Block& b : blocks_) {
    if (b.done) continue;
    if (!b.isSend && b.request != nullptr) ucp_request_cancel(worker_, b.request);
    if (b.isSend) forceClose(b.peer);
  }
  if (progressUntilBlocksDone(Deadline::in(kCancelBoundMs))) {
    blocks_.clear();
    return;
  }
  // Left in blocks_ on purpose: UCX may still call back into them until the
  // worker is destroyed.
  SAM_WARN(LOG_NET, "%s: UCX did not give back every request within %lld ms", prefix().c_str(),
           static_cast<long long>(kCancelBoundMs));
}

void UcxTransport::closeEndpoints(const Deadline& bound) {
  std::vector<std::pair<int, void*>> closing;
  for (int r = 0; r < nranks_; ++r) {
    Peer& p = peers_[r];
    if (p.ep == nullptr) continue;
    if (p.culprit || p.error != UCS_OK) {
      forceClose(r);  // a peer that is gone can only be force-closed
      continue;
    }
    // A flushing close first delivers what is still queued for the peer.
    ucp_request_param_t param{};
    ucs_status_ptr_t req = ucp_ep_close_nbx(p.ep, &param);
    p.ep = nullptr;
    if (UCS_PTR_IS_PTR(req) && req != nullptr) closing.emplace_back(r, req);
  }
  Backoff backoff;
  while (!closing.empty()) {
    backoff.progressed(ucp_worker_progress(worker_));
    for (size_t i = 0; i < closing.size();) {
      if (ucp_request_check_status(closing[i].second) != UCS_INPROGRESS) {
        ucp_request_free(closing[i].second);
        closing[i] = closing.back();
        closing.pop_back();
      } else {
        ++i;
      }
    }
    if (!closing.empty() && bound.expired()) {
      std::vector<int> ranks;
      for (auto& c : closing) {
        ranks.push_back(c.first);
        ucp_request_free(c.second);  // UCX releases it when it is done
      }
      SAM_WARN(LOG_NET, "%s: closing the endpoints to rank(s) %s did not finish in time; destroying anyway",
               prefix().c_str(), rankList(ranks).c_str());
      return;
    }
  }
}

UcxTransport::~UcxTransport() {
  if (worker_ != nullptr) {
    bool pending = false;
    for (const Block& b : blocks_) pending = pending || !b.done;
    if (pending) abandonBlocks();  // posted but never waited for
    const int64_t boundMs = timeoutMs_ > 0 ? std::min<int64_t>(timeoutMs_, kDefaultCloseBoundMs) : kDefaultCloseBoundMs;
    closeEndpoints(Deadline::in(boundMs));
    ucp_worker_destroy(worker_);
  }
  if (context_ != nullptr) ucp_cleanup(context_);
}

}  // namespace

samResult_t createUcxTransport(Bootstrap& bootstrap, int timeoutMs, std::unique_ptr<Transport>* out) {
  if (out == nullptr) return fail(samInvalidArgument, "createUcxTransport: out is NULL");
  auto transport = std::make_unique<UcxTransport>(bootstrap.rank(), bootstrap.size(), timeoutMs);
  SAM_CHECK(transport->init(bootstrap));
  *out = std::move(transport);
  return samSuccess;
}

}  // namespace sam
