// Setting the transport up: UCP context and worker, the address exchange,
// endpoints, the connection check. Collective over the bootstrap's ranks.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <regex>
#include <set>

#include "core/error.h"
#include "core/log.h"
#include "transport/ucx/ucx_transport.h"
#include "transport/ucx/ucx_transport_impl.h"

namespace sam {
namespace ucx {
namespace {

// What each rank contributes to the address exchange: a magic (so a blob from
// something else is refused before UCX parses it), the rank, the address.
constexpr char kAddressMagic[8] = {'S', 'A', 'M', 'U', 'C', 'X', '1', '\0'};
constexpr size_t kAddressHeader = sizeof(kAddressMagic) + sizeof(uint32_t);

// The UCX transports and devices an endpoint's lanes use ("tcp/lo.0"), read
// from ucp_ep_print_info: UCX 1.13 has no query for them.
std::string endpointLanes(ucp_ep_h ep) {
  char* text = nullptr;
  size_t length = 0;
  FILE* stream = open_memstream(&text, &length);
  if (stream == nullptr) return "?";
  ucp_ep_print_info(ep, stream);
  fclose(stream);
  const std::string info(text, length);
  free(text);
  static const std::regex kLane(R"(lane\[\d+\]:\s+\d+:(\S+))");
  std::set<std::string> lanes;
  for (auto it = std::sregex_iterator(info.begin(), info.end(), kLane); it != std::sregex_iterator(); ++it)
    lanes.insert((*it)[1].str());
  std::string list;
  for (const std::string& l : lanes) list += (list.empty() ? "" : ", ") + l;
  return list.empty() ? "?" : list;
}

}  // namespace

void onPeerError(void* arg, ucp_ep_h, ucs_status_t status) {
  Peer* p = static_cast<Peer*>(arg);
  if (p->error == UCS_OK) p->error = status;
}

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
  // Members, not locals: UCX may write into them until the blocks are done.
  checkOutbox_.assign(1, static_cast<uint32_t>(rank_));
  checkInbox_.assign(static_cast<size_t>(nranks_), UINT32_MAX);
  std::vector<uint32_t>& inbox = checkInbox_;
  for (int pass = 0; pass < 2; ++pass) {
    for (int p = 0; p < nranks_; ++p) {
      if (p == rank_) continue;
      Block& b = blocks_.emplace_back();
      b.peer = p;
      b.isSend = pass == 1;
      b.bytes = sizeof(uint32_t);
      b.control = true;
      b.tag = kControlTagBit | static_cast<uint32_t>(b.isSend ? rank_ : p);
      postBlock(b, b.isSend ? static_cast<void*>(checkOutbox_.data()) : static_cast<void*>(&inbox[p]));
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
  // Which wire UCX chose, so that it can be checked rather than assumed.
  if (logEnabled(LOG_LEVEL_INFO, LOG_NET))
    for (int r = 0; r < nranks_; ++r)
      if (peers_[r].ep != nullptr)
        SAM_INFO(LOG_NET, "%s: rank %d over %s", prefix().c_str(), r, endpointLanes(peers_[r].ep).c_str());
  return samSuccess;
}

}  // namespace ucx

samResult_t createUcxTransport(Bootstrap& bootstrap, int timeoutMs, const std::atomic<bool>* aborted,
                               std::unique_ptr<Transport>* out) {
  if (out == nullptr) return fail(samInvalidArgument, "createUcxTransport: out is NULL");
  auto transport = std::make_unique<ucx::UcxTransport>(bootstrap.rank(), bootstrap.size(), timeoutMs, aborted);
  SAM_CHECK(transport->init(bootstrap));
  *out = std::move(transport);
  return samSuccess;
}

}  // namespace sam
