// The data path: posting blocks as tagged messages and driving them to
// completion, or to an error that names the ranks at fault.
#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/log.h"
#include "transport/ucx/ucx_transport_impl.h"

namespace sam::ucx {

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
    // samCommAbort from another thread: stop waiting now. The posted blocks
    // cannot complete in step with the peers any more, so the transport is
    // broken from here on (its requests are cancelled at teardown).
    if (aborted_ != nullptr && aborted_->load(std::memory_order_relaxed))
      return breakDown(samInvalidUsage, prefix() + ": the communicator was aborted during an exchange", {});
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

}  // namespace sam::ucx
