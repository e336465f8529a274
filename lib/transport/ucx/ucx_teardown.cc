// Failure handling and teardown: taking blocks back from UCX without
// blaming healthy peers, closing endpoints, never hanging.
#include <algorithm>
#include <utility>

#include "core/error.h"
#include "core/log.h"
#include "transport/ucx/ucx_transport_impl.h"

namespace sam::ucx {
namespace {

// After a failure, how long the blocks with healthy peers may still take to
// complete. Cutting them off at once would make those peers fail too, and
// blame this rank instead of the one at fault.
constexpr int64_t kGraceMs = 500;
// How long to wait for UCX to hand back requests it is cancelling; they
// complete at once in practice.
constexpr int64_t kCancelBoundMs = 1000;
constexpr int64_t kDefaultCloseBoundMs = 2000;

}  // namespace

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

}  // namespace sam::ucx
