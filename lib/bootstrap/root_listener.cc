#include "bootstrap/root_listener.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>

#include "core/error.h"
#include "core/log.h"

namespace sam {

namespace asio = boost::asio;

struct RootListener::Conn {
  explicit Conn(asio::io_context& io) : socket(io), timer(io) {}
  Tcp::socket socket;
  asio::steady_timer timer;
  std::string peer;
  int rank = -1;
  int nranks = 0;
};

RootListener::RootListener(const wire::Secret& secret, int helloTimeoutMs)
    : acceptor_(io_), secret_(secret), helloTimeoutMs_(helloTimeoutMs) {}

std::shared_ptr<RootListener> RootListener::start(const RootAddress& bindAt, const wire::Secret& secret,
                                                  int helloTimeoutMs) {
  std::shared_ptr<RootListener> l(new RootListener(secret, helloTimeoutMs));
  Tcp::endpoint ep = toEndpoint(bindAt);
  boost::system::error_code ec;
  l->acceptor_.open(ep.protocol(), ec);
  if (!ec) l->acceptor_.set_option(Tcp::acceptor::reuse_address(true), ec);
  if (!ec) l->acceptor_.bind(ep, ec);
  if (!ec) l->acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throwError(samSystemError, "cannot listen on " + bindAt.toString() + ": " + ec.message());
  l->address_ = fromEndpoint(l->acceptor_.local_endpoint());
  l->acceptNext();
  l->thread_ = std::thread([raw = l.get()] { raw->io_.run(); });
  SAM_INFO(LOG_BOOT, "bootstrap root listening on %s", l->address_.toString().c_str());
  return l;
}

RootListener::~RootListener() { stop(); }

void RootListener::stop() {
  io_.stop();
  if (thread_.joinable()) thread_.join();
}

void RootListener::acceptNext() {
  auto conn = std::make_shared<Conn>(io_);
  acceptor_.async_accept(conn->socket, [this, conn](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      boost::system::error_code e2;
      auto remote = conn->socket.remote_endpoint(e2);
      conn->peer = e2 ? "?" : fromEndpoint(remote).toString();
      conn->socket.set_option(Tcp::no_delay(true), e2);
      // A connection gets a bounded time to prove itself; then it is dropped.
      conn->timer.expires_after(std::chrono::milliseconds(helloTimeoutMs_));
      conn->timer.async_wait([this, conn](const boost::system::error_code& te) {
        if (!te) refuse(conn, "no hello within " + std::to_string(helloTimeoutMs_) + " ms");
      });
      wire::Limits limits{wire::kMaxHelloPayload, 0};
      asyncReadMessage(conn->socket, limits, [this, conn](const ReadOutcome& r) { onHello(conn, r); });
    } else {
      SAM_WARN(LOG_BOOT, "bootstrap root: accept failed: %s", ec.message().c_str());
    }
    acceptNext();
  });
}

void RootListener::refuse(const std::shared_ptr<Conn>& conn, const std::string& why) {
  if (!conn->socket.is_open()) return;
  SAM_WARN(LOG_BOOT, "bootstrap root: refused connection from %s: %s", conn->peer.c_str(), why.c_str());
  boost::system::error_code ec;
  conn->timer.cancel();
  conn->socket.close(ec);
}

void RootListener::onHello(const std::shared_ptr<Conn>& conn, const ReadOutcome& r) {
  if (r.kind == ReadOutcome::Closed) return refuse(conn, "closed before saying hello (" + r.detail + ")");
  if (r.kind == ReadOutcome::Invalid) return refuse(conn, "invalid message: " + r.detail);
  const wire::Message& m = r.message;
  if (m.header.type != wire::MsgType::Hello) return refuse(conn, "first message is not a hello");
  if (!wire::secretsEqual(m.secret, secret_)) return refuse(conn, "wrong secret (not from this job's unique id)");
  conn->timer.cancel();
  conn->rank = m.header.rank;
  conn->nranks = m.nranks;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (collected_) return refuse(conn, "rank " + std::to_string(conn->rank) + " arrived after the rendezvous ended");
    if (arrived_.count(conn->rank))
      return refuse(conn, "rank " + std::to_string(conn->rank) + " is already connected (duplicate rank)");
    arrived_[conn->rank] = conn;
  }
  SAM_INFO(LOG_BOOT, "bootstrap root: rank %d of %d arrived from %s", conn->rank, conn->nranks, conn->peer.c_str());
  cv_.notify_all();
}

namespace {

std::string rankList(const std::vector<int>& ranks) {
  std::string s;
  for (int r : ranks) s += (s.empty() ? "" : ",") + std::to_string(r);
  return s;
}

std::string ranksNamed(const std::vector<int>& ranks) { return (ranks.size() == 1 ? "rank " : "ranks ") + rankList(ranks); }

}  // namespace

samResult_t RootListener::collect(int nranks, Deadline deadline, int graceMs, std::vector<Arrival>* arrivals,
                                  std::string* text) {
  // After a disagreement on nranks, wait briefly for the others so that they
  // too learn why, but never for ranks that may not exist.
  const auto grace = std::chrono::milliseconds(graceMs);
  std::chrono::steady_clock::time_point mismatchSeen{};
  bool mismatch = false, complete = false;
  {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      complete = true;
      for (int r = 1; r < nranks; ++r) complete = complete && arrived_.count(r) > 0;
      for (auto& kv : arrived_) {
        if (kv.second->nranks != nranks && !mismatch) {
          mismatch = true;
          mismatchSeen = std::chrono::steady_clock::now();
        }
      }
      auto now = std::chrono::steady_clock::now();
      if (complete || deadline.expired() || (mismatch && now >= mismatchSeen + grace)) break;
      auto wakeAt = std::min(deadline.at(), now + std::chrono::milliseconds(100));
      if (mismatch && mismatchSeen + grace < wakeAt) wakeAt = mismatchSeen + grace;
      cv_.wait_until(lock, wakeAt);
    }
    collected_ = true;
  }
  // Stop the io thread before touching the sockets it owned.
  stop();
  boost::system::error_code ec;
  acceptor_.close(ec);

  arrivals->assign(static_cast<size_t>(std::max(nranks, 1)), Arrival{});
  std::map<int, std::vector<int>> byNranks;  // for the mismatch message
  byNranks[nranks].push_back(0);
  for (auto& kv : arrived_) {
    Conn& c = *kv.second;
    byNranks[c.nranks].push_back(c.rank);
    Arrival a;
    a.rank = c.rank;
    a.nranks = c.nranks;
    a.family = c.socket.local_endpoint(ec).address().is_v6() ? 6 : 4;
    a.peer = c.peer;
    c.timer.cancel(ec);
    a.fd = c.socket.release(ec);
    if (ec) a.fd = -1;
    if (c.rank >= static_cast<int>(arrivals->size())) arrivals->resize(c.rank + 1);
    (*arrivals)[c.rank] = a;
  }
  arrived_.clear();

  if (mismatch) {
    std::string s = "ranks disagree on nranks:";
    for (auto& kv : byNranks) s += " nranks=" + std::to_string(kv.first) + " on " + ranksNamed(kv.second) + ";";
    s.pop_back();
    *text = s;
    return samInvalidArgument;
  }
  if (!complete) {
    std::vector<int> missing;
    for (int r = 1; r < nranks; ++r)
      if ((*arrivals)[r].fd < 0) missing.push_back(r);
    *text = "timed out waiting at " + address_.toString() + ": missing ranks: " + rankList(missing) +
            " (never connected with this job's unique id)";
    return samTimeout;
  }
  return samSuccess;
}

namespace {

struct Registry {
  std::mutex mu;
  std::vector<std::shared_ptr<RootListener>> listeners;
  // Joins the listener threads before the rest of the process is torn down.
  ~Registry() {
    std::lock_guard<std::mutex> lock(mu);
    listeners.clear();
  }
};

Registry& registry() {
  static Registry r;
  return r;
}

}  // namespace

void registerRootListener(const std::shared_ptr<RootListener>& listener) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  r.listeners.push_back(listener);
}

std::shared_ptr<RootListener> takeRootListener(const wire::Secret& secret) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mu);
  for (auto it = r.listeners.begin(); it != r.listeners.end(); ++it) {
    if (wire::secretsEqual((*it)->secret(), secret)) {
      auto l = *it;
      r.listeners.erase(it);
      return l;
    }
  }
  return nullptr;
}

}  // namespace sam
