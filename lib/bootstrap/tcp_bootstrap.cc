#include "bootstrap/tcp_bootstrap.h"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>

#include "bootstrap/net_if.h"
#include "bootstrap/root_listener.h"
#include "core/error.h"
#include "core/log.h"
#include "core/params.h"

namespace sam {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// The root gives up on silent leaves this much before the leaves give up on
// the root, so that its verdict (naming the missing ranks) arrives first.
int rootMarginMs(int timeoutMs) { return std::clamp(timeoutMs / 5, 1, 2000); }

std::string rankList(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ",") + std::to_string(r);
  return s;
}

}  // namespace

struct TcpBootstrap::ReadSlot {
  bool done = false;
  ReadOutcome outcome;
};

BootstrapOptions bootstrapOptions(int timeoutMs) {
  BootstrapOptions o;
  o.timeoutMs = timeoutMs;
  int64_t maxMsg = paramInt("SAM_BOOTSTRAP_MAX_MESSAGE");
  if (maxMsg < 4096 || maxMsg > (INT64_C(1) << 31))
    throwError(samInvalidArgument, "SAM_BOOTSTRAP_MAX_MESSAGE=" + std::to_string(maxMsg) +
                                       " is out of range (4096 .. 2147483648 bytes)");
  o.maxMessageBytes = static_cast<uint32_t>(maxMsg);
  return o;
}

samResult_t bootstrapCreateRoot(samUniqueId* id) {
  NetInterface nif = bootstrapInterface();
  RootAddress bindAt = nif.address;
  bindAt.port = 0;
  wire::Secret secret = randomSecret();
  int helloTimeoutMs = static_cast<int>(std::clamp<int64_t>(paramInt("SAM_TIMEOUT_MS"), 100, 600000));
  auto listener = RootListener::start(bindAt, secret, helloTimeoutMs);
  UniqueIdContents c;
  c.root = listener->address();
  c.secret = secret;
  registerRootListener(listener);
  encodeUniqueId(c, id);
  return samSuccess;
}

namespace {

// Connects to the root, retrying while it is not listening yet, until the deadline.
samResult_t connectToRoot(const RootAddress& root, Deadline deadline, int timeoutMs, int* fd) {
  asio::io_context io;
  Tcp::endpoint ep = toEndpoint(root);
  std::string lastError = "none";
  auto backoff = std::chrono::milliseconds(20);
  for (;;) {
    if (deadline.expired())
      return fail(samTimeout, "rendezvous: could not reach the root (rank 0) at " + root.toString() + " within " +
                                  std::to_string(timeoutMs) + " ms (last error: " + lastError +
                                  "): missing ranks: 0");
    Tcp::socket s(io);
    bool done = false;
    boost::system::error_code ec;
    s.async_connect(ep, [&](const boost::system::error_code& e) {
      ec = e;
      done = true;
    });
    io.restart();
    while (!done && !deadline.expired()) io.run_one_until(std::min(deadline.at(), Clock::now() + backoff * 10));
    if (!done) {
      boost::system::error_code ignored;
      s.close(ignored);
      io.restart();
      io.poll();
      continue;
    }
    if (!ec) {
      boost::system::error_code e2;
      s.set_option(Tcp::no_delay(true), e2);
      *fd = s.release(e2);
      if (!e2) return samSuccess;
      lastError = e2.message();
    } else {
      lastError = ec.message();
    }
    SAM_TRACE(LOG_BOOT, "connect to root %s failed (%s), retrying", root.toString().c_str(), lastError.c_str());
    auto pause = std::min<Clock::duration>(backoff, deadline.at() - Clock::now());
    if (pause > Clock::duration::zero()) std::this_thread::sleep_for(pause);
    backoff = std::min(backoff * 2, std::chrono::milliseconds(500));
  }
}

}  // namespace

samResult_t bootstrapConnect(const UniqueIdContents& id, int rank, int nranks, const BootstrapOptions& opts,
                             std::unique_ptr<Bootstrap>* out) {
  Deadline deadline = Deadline::in(opts.timeoutMs);
  if (rank != 0) {
    int fd = -1;
    SAM_CHECK(connectToRoot(id.root, deadline, opts.timeoutMs, &fd));
    auto boot = std::make_unique<TcpBootstrap>(rank, nranks, std::vector<int>{fd},
                                               std::vector<int>{id.root.family}, opts);
    SAM_CHECK(boot->leafHandshake(id.secret, deadline));
    *out = std::move(boot);
    return samSuccess;
  }
  std::shared_ptr<RootListener> listener = takeRootListener(id.secret);
  if (nranks == 1) {
    listener.reset();
    *out = std::make_unique<TcpBootstrap>(0, 1, std::vector<int>{-1}, std::vector<int>{4}, opts);
    return samSuccess;
  }
  if (!listener) {
    // No samGetUniqueId in this process (samCommInitFromEnv): listen on the
    // id's port on every address of its family.
    RootAddress any = id.root;
    memset(any.addr, 0, sizeof(any.addr));
    try {
      listener = RootListener::start(any, id.secret, opts.timeoutMs);
    } catch (const Error& e) {
      return fail(samSystemError, "rendezvous: rank 0 " + e.detail +
                                      " (rank 0 must run in the process that called samGetUniqueId, or own "
                                      "the rendezvous port)");
    }
  }
  std::vector<RootListener::Arrival> arrivals;
  std::string text;
  Deadline collectBy = Deadline::in(opts.timeoutMs - rootMarginMs(opts.timeoutMs));
  // After a disagreement on nranks, the others still get a while to arrive
  // and learn why (they are started at about the same time as the odd one).
  int graceMs = std::clamp(opts.timeoutMs / 2, 1, 2000);
  samResult_t r = listener->collect(nranks, collectBy, graceMs, &arrivals, &text);
  listener.reset();
  std::vector<int> fds, families;
  for (const auto& a : arrivals) {
    fds.push_back(a.fd);
    families.push_back(a.family);
  }
  auto boot = std::make_unique<TcpBootstrap>(0, nranks, fds, families, opts);
  if (r != samSuccess) return boot->failAndTell(r, "rendezvous: " + text);
  SAM_CHECK(boot->rootSendWelcome(id.secret));
  SAM_INFO(LOG_BOOT, "rendezvous complete: %d ranks", nranks);
  *out = std::move(boot);
  return samSuccess;
}

TcpBootstrap::TcpBootstrap(int rank, int nranks, const std::vector<int>& fds, const std::vector<int>& families,
                           const BootstrapOptions& opts)
    : fds_(fds), rank_(rank), nranks_(nranks), opts_(opts) {
  sockets_.resize(fds.size());
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i] < 0) continue;
    sockets_[i] = std::make_unique<Tcp::socket>(io_);
    boost::system::error_code ec;
    sockets_[i]->assign(families[i] == 6 ? Tcp::v6() : Tcp::v4(), fds[i], ec);
    if (ec) {
      ::close(fds[i]);
      sockets_[i].reset();
      fds_[i] = -1;
    }
  }
}

TcpBootstrap::~TcpBootstrap() {
  {
    std::lock_guard<std::mutex> lock(fdMu_);
    std::fill(fds_.begin(), fds_.end(), -1);
  }
  for (auto& s : sockets_) {
    boost::system::error_code ec;
    if (s) s->close(ec);
  }
}

void TcpBootstrap::abort() {
  aborted_ = true;
  {
    std::lock_guard<std::mutex> lock(fdMu_);
    // shutdown (not close) is safe while the caller's thread uses the socket:
    // its pending reads complete and the peers see the connection end.
    for (int fd : fds_)
      if (fd >= 0) ::shutdown(fd, SHUT_RDWR);
  }
  io_.stop();
}

std::string TcpBootstrap::describe(wire::Op op, uint32_t seq) const {
  return std::string("bootstrap ") + wire::opName(op) + " #" + std::to_string(seq);
}

samResult_t TcpBootstrap::brokenOrAborted(const char* what) {
  if (aborted_) return fail(samInvalidUsage, std::string("bootstrap ") + what + ": the communicator was aborted");
  if (broken_ != samSuccess)
    return fail(broken_, std::string("bootstrap ") + what + ": an earlier failure broke the communicator: " +
                             brokenText_);
  return samSuccess;
}

samResult_t TcpBootstrap::breakWith(samResult_t code, const std::string& text) {
  if (broken_ == samSuccess) {
    broken_ = code;
    brokenText_ = text;
  }
  return fail(code, text);
}

std::shared_ptr<TcpBootstrap::ReadSlot> TcpBootstrap::startRead(int peer) {
  auto slot = std::make_shared<ReadSlot>();
  ++pending_;
  wire::Limits limits{opts_.maxMessageBytes, std::max(nranks_, static_cast<int>(sockets_.size()))};
  asyncReadMessage(*sockets_[peer], limits, [this, slot](const ReadOutcome& o) {
    slot->outcome = o;
    slot->done = true;
    --pending_;
  });
  return slot;
}

void TcpBootstrap::startWrite(int peer, std::shared_ptr<const std::string> bytes, std::shared_ptr<int> pendingWrites,
                              std::shared_ptr<std::string> writeError) {
  ++pending_;
  ++*pendingWrites;
  asio::async_write(*sockets_[peer], asio::buffer(*bytes),
                    [this, peer, bytes, pendingWrites, writeError](const boost::system::error_code& ec, size_t) {
                      --pending_;
                      --*pendingWrites;
                      if (ec && writeError->empty())
                        *writeError = "rank " + std::to_string(peer) + ": " + ec.message();
                    });
}

TcpBootstrap::Wait TcpBootstrap::runUntil(const std::function<bool()>& done, Deadline deadline) {
  for (;;) {
    if (done()) return Wait::Done;
    if (aborted_) return Wait::Aborted;
    if (deadline.expired()) return Wait::TimedOut;
    if (pending_ == 0) return Wait::Done;  // nothing left that could change the state
    io_.run_one_until(std::min(deadline.at(), Clock::now() + std::chrono::milliseconds(100)));
    if (io_.stopped() && !aborted_) io_.restart();
  }
}

samResult_t TcpBootstrap::failAndTell(samResult_t code, const std::string& text, int exceptRank) {
  if (!aborted_) {
    auto bytes = std::make_shared<const std::string>(wire::encodeError(rank_, code, text));
    auto pendingWrites = std::make_shared<int>(0);
    auto writeError = std::make_shared<std::string>();
    for (size_t r = 0; r < sockets_.size(); ++r)
      if (sockets_[r] && static_cast<int>(r) != exceptRank && static_cast<int>(r) != rank_)
        startWrite(static_cast<int>(r), bytes, pendingWrites, writeError);
    io_.restart();
    runUntil([&] { return *pendingWrites == 0; }, Deadline::in(std::min(opts_.timeoutMs, 1000)));
  }
  return breakWith(code, text);
}

samResult_t TcpBootstrap::rootSendWelcome(const wire::Secret& secret) {
  auto bytes = std::make_shared<const std::string>(wire::encodeWelcome(nranks_, secret));
  auto pendingWrites = std::make_shared<int>(0);
  auto writeError = std::make_shared<std::string>();
  for (int r = 1; r < nranks_; ++r) startWrite(r, bytes, pendingWrites, writeError);
  Wait w = runUntil([&] { return *pendingWrites == 0 || !writeError->empty(); }, Deadline::in(opts_.timeoutMs));
  if (!writeError->empty())
    return failAndTell(samRemoteError, "rendezvous: sending the welcome failed: " + *writeError +
                                           " (the rank went away during the rendezvous)");
  if (w == Wait::TimedOut) return failAndTell(samTimeout, "rendezvous: sending the welcome timed out");
  if (w == Wait::Aborted || aborted_) return breakWith(samInvalidUsage, "rendezvous: aborted");
  return samSuccess;
}

samResult_t TcpBootstrap::leafHandshake(const wire::Secret& secret, Deadline deadline) {
  auto bytes = std::make_shared<const std::string>(wire::encodeHello(rank_, nranks_, secret));
  auto pendingWrites = std::make_shared<int>(0);
  auto writeError = std::make_shared<std::string>();
  startWrite(0, bytes, pendingWrites, writeError);
  auto slot = startRead(0);
  Wait w = runUntil([&] { return slot->done; }, deadline);
  if (w == Wait::Aborted || aborted_) return breakWith(samInvalidUsage, "rendezvous: aborted");
  if (!slot->done)
    return breakWith(samTimeout, "rendezvous: rank " + std::to_string(rank_) + " got no answer from the root (rank 0) within " +
                                     std::to_string(opts_.timeoutMs) + " ms: missing ranks: 0");
  const ReadOutcome& o = slot->outcome;
  if (o.kind == ReadOutcome::Closed)
    return breakWith(samRemoteError, "rendezvous: the root (rank 0) closed the connection (" + o.detail +
                                         "): it refused this rank (wrong unique id?) or failed");
  if (o.kind == ReadOutcome::Invalid)
    return breakWith(samRemoteError, "rendezvous: invalid message from the root: " + o.detail);
  const wire::Message& m = o.message;
  if (m.header.type == wire::MsgType::Error)
    return breakWith(static_cast<samResult_t>(m.errorCode), "rank 0 reports: " + m.errorText);
  if (m.header.type != wire::MsgType::Welcome || !wire::secretsEqual(m.secret, secret))
    return breakWith(samRemoteError, "rendezvous: the root answered without this job's secret");
  if (m.nranks != nranks_)
    return breakWith(samInvalidArgument, "ranks disagree on nranks: nranks=" + std::to_string(m.nranks) +
                                             " on rank 0; nranks=" + std::to_string(nranks_) + " on rank " +
                                             std::to_string(rank_));
  return samSuccess;
}

samResult_t TcpBootstrap::allgather(const std::string& mine, std::vector<std::string>* all) {
  return collective(wire::Op::Allgather, 0, mine, all, nullptr);
}

samResult_t TcpBootstrap::broadcast(int root, std::string* blob) {
  if (root < 0 || root >= nranks_)
    return fail(samInvalidArgument, "bootstrap broadcast: root " + std::to_string(root) + " is not a rank of " +
                                        std::to_string(nranks_));
  if (blob == nullptr) return fail(samInvalidArgument, "bootstrap broadcast: blob is NULL");
  return collective(wire::Op::Broadcast, root, *blob, nullptr, blob);
}

samResult_t TcpBootstrap::barrier() { return collective(wire::Op::Barrier, 0, std::string(), nullptr, nullptr); }

samResult_t TcpBootstrap::collective(wire::Op op, int bcastRoot, const std::string& mine,
                                     std::vector<std::string>* all, std::string* blobOut) {
  SAM_CHECK(brokenOrAborted(wire::opName(op)));
  uint32_t seq = ++seq_;
  if (op == wire::Op::Allgather && all == nullptr) return fail(samInvalidArgument, "bootstrap allgather: all is NULL");
  if (nranks_ == 1) {
    if (all) *all = {mine};
    return samSuccess;
  }
  io_.restart();
  Deadline deadline = Deadline::in(opts_.timeoutMs);
  SAM_TRACE(LOG_BOOT, "%s begins (%zu bytes)", describe(op, seq).c_str(), mine.size());
  return rank_ == 0 ? rootCollective(op, seq, bcastRoot, mine, deadline, all, blobOut)
                    : leafCollective(op, seq, bcastRoot, mine, deadline, all, blobOut);
}

samResult_t TcpBootstrap::rootCollective(wire::Op op, uint32_t seq, int bcastRoot, const std::string& mine,
                                         Deadline deadline, std::vector<std::string>* all, std::string* blobOut) {
  const std::string what = describe(op, seq);
  std::vector<std::shared_ptr<ReadSlot>> slots(nranks_);
  for (int r = 1; r < nranks_; ++r) slots[r] = startRead(r);
  auto bad = [](const ReadSlot& s) {
    return s.done && (s.outcome.kind != ReadOutcome::Message || s.outcome.message.header.type == wire::MsgType::Error);
  };
  Deadline gatherBy = Deadline::in(opts_.timeoutMs - rootMarginMs(opts_.timeoutMs));
  Wait w = runUntil(
      [&] {
        bool complete = true;
        for (int r = 1; r < nranks_; ++r) {
          if (bad(*slots[r])) return true;
          complete = complete && slots[r]->done;
        }
        return complete;
      },
      gatherBy);
  if (w == Wait::Aborted || aborted_) return breakWith(samInvalidUsage, what + ": the communicator was aborted");

  // Judge in rank order so that every run reports the same culprit.
  for (int r = 1; r < nranks_; ++r) {
    const ReadSlot& s = *slots[r];
    if (!s.done) continue;
    const std::string who = "rank " + std::to_string(r);
    if (s.outcome.kind == ReadOutcome::Closed)
      return failAndTell(samRemoteError, what + ": " + who + " closed its connection (it exited, crashed or aborted)", r);
    if (s.outcome.kind == ReadOutcome::Invalid)
      return failAndTell(samRemoteError, what + ": " + who + " sent an invalid message: " + s.outcome.detail, r);
    const wire::Message& m = s.outcome.message;
    if (m.header.type == wire::MsgType::Error)
      return failAndTell(static_cast<samResult_t>(m.errorCode), who + " failed: " + m.errorText, r);
    if (m.header.type != wire::MsgType::Contribute || m.header.rank != r)
      return failAndTell(samRemoteError, what + ": " + who + " sent an unexpected message", r);
    if (m.header.op != op || m.header.seq != seq)
      return failAndTell(samInvalidUsage, "ranks called different collectives: " + who + " called " +
                                              describe(m.header.op, m.header.seq) + " while rank 0 called " + what);
    if (op == wire::Op::Broadcast && m.bcastRoot != bcastRoot)
      return failAndTell(samInvalidUsage, what + ": ranks disagree on the root: rank 0 says " +
                                              std::to_string(bcastRoot) + ", " + who + " says " +
                                              std::to_string(m.bcastRoot));
  }
  if (w == Wait::TimedOut) {
    std::vector<int> missing;
    for (int r = 1; r < nranks_; ++r)
      if (!slots[r]->done) missing.push_back(r);
    return failAndTell(samTimeout, what + ": no answer within " + std::to_string(opts_.timeoutMs) +
                                       " ms: missing ranks: " + rankList(missing));
  }

  std::vector<std::string> blobs;
  std::string blob;
  if (op == wire::Op::Allgather) {
    blobs.resize(nranks_);
    blobs[0] = mine;
    uint64_t total = 4 + 4ull * nranks_ + mine.size();
    for (int r = 1; r < nranks_; ++r) {
      blobs[r] = std::move(slots[r]->outcome.message.blob);
      total += blobs[r].size();
    }
    if (total > opts_.maxMessageBytes)
      return failAndTell(samInvalidArgument, what + ": the gathered " + std::to_string(total) +
                                                 " bytes exceed SAM_BOOTSTRAP_MAX_MESSAGE=" +
                                                 std::to_string(opts_.maxMessageBytes));
  } else if (op == wire::Op::Broadcast) {
    blob = bcastRoot == 0 ? mine : std::move(slots[bcastRoot]->outcome.message.blob);
    if (blob.size() > opts_.maxMessageBytes)
      return failAndTell(samInvalidArgument, what + ": " + std::to_string(blob.size()) +
                                                 " bytes exceed SAM_BOOTSTRAP_MAX_MESSAGE=" +
                                                 std::to_string(opts_.maxMessageBytes));
  }
  auto bytes = std::make_shared<const std::string>(wire::encodeResult(op, seq, blobs, blob));
  auto pendingWrites = std::make_shared<int>(0);
  auto writeError = std::make_shared<std::string>();
  for (int r = 1; r < nranks_; ++r) startWrite(r, bytes, pendingWrites, writeError);
  w = runUntil([&] { return *pendingWrites == 0 || !writeError->empty(); }, deadline);
  if (w == Wait::Aborted || aborted_) return breakWith(samInvalidUsage, what + ": the communicator was aborted");
  if (!writeError->empty())
    return failAndTell(samRemoteError, what + ": sending the result failed: " + *writeError +
                                           " (the rank went away)");
  if (w == Wait::TimedOut)
    return failAndTell(samTimeout, what + ": sending the result did not finish within " +
                                       std::to_string(opts_.timeoutMs) + " ms");
  if (all) *all = std::move(blobs);
  if (blobOut && op == wire::Op::Broadcast) *blobOut = std::move(blob);
  return samSuccess;
}

samResult_t TcpBootstrap::leafCollective(wire::Op op, uint32_t seq, int bcastRoot, const std::string& mine,
                                         Deadline deadline, std::vector<std::string>* all, std::string* blobOut) {
  const std::string what = describe(op, seq);
  const bool sendsData = op == wire::Op::Allgather || (op == wire::Op::Broadcast && bcastRoot == rank_);
  const std::string empty;
  const std::string& payload = sendsData ? mine : empty;
  if (payload.size() + 4 > opts_.maxMessageBytes)
    return failAndTell(samInvalidArgument, what + ": rank " + std::to_string(rank_) + "'s " +
                                               std::to_string(payload.size()) +
                                               " bytes exceed SAM_BOOTSTRAP_MAX_MESSAGE=" +
                                               std::to_string(opts_.maxMessageBytes));
  auto bytes = std::make_shared<const std::string>(wire::encodeContribute(rank_, op, seq, bcastRoot, payload));
  auto pendingWrites = std::make_shared<int>(0);
  auto writeError = std::make_shared<std::string>();
  startWrite(0, bytes, pendingWrites, writeError);
  auto slot = startRead(0);
  Wait w = runUntil([&] { return slot->done; }, deadline);
  if (w == Wait::Aborted || aborted_) return breakWith(samInvalidUsage, what + ": the communicator was aborted");
  if (!slot->done)
    return breakWith(samTimeout, what + ": rank " + std::to_string(rank_) + " got no answer from the root within " +
                                     std::to_string(opts_.timeoutMs) + " ms: missing ranks: 0");
  const ReadOutcome& o = slot->outcome;
  if (o.kind == ReadOutcome::Closed)
    return breakWith(samRemoteError,
                     what + ": the root (rank 0) closed the connection (it exited, crashed or aborted)");
  if (o.kind == ReadOutcome::Invalid)
    return breakWith(samRemoteError, what + ": invalid message from the root: " + o.detail);
  const wire::Message& m = o.message;
  if (m.header.type == wire::MsgType::Error)
    return breakWith(static_cast<samResult_t>(m.errorCode), "rank 0 reports: " + m.errorText);
  if (m.header.type != wire::MsgType::Result || m.header.op != op || m.header.seq != seq)
    return breakWith(samRemoteError, what + ": the root answered out of order");
  if (all) *all = std::move(slot->outcome.message.blobs);
  if (blobOut && op == wire::Op::Broadcast) *blobOut = std::move(slot->outcome.message.blob);
  return samSuccess;
}

}  // namespace sam
