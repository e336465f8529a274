// The root's listening socket. samGetUniqueId starts one in the background
// (its own thread and io_context) so that ranks may connect before rank 0
// calls samCommInitRank; rank 0's init then takes it over (by the id's secret)
// and collects the ranks that said hello. Until then it accepts, checks each
// hello (secret, rank, nranks) within a bounded time, and refuses and logs
// everything else: strangers, garbage, oversized or truncated messages.
#pragma once

#include <boost/asio.hpp>
#include <condition_variable>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/tcp_io.h"
#include "bootstrap/unique_id.h"
#include "core/deadline.h"
#include "sam.h"

namespace sam {

class RootListener {
 public:
  // A rank that proved it knows the secret.
  struct Arrival {
    int rank = -1;
    int nranks = 0;    // what that rank was told
    int fd = -1;       // its connection (owned by the caller after collect)
    int family = 4;
    std::string peer;  // "addr:port", for messages
  };

  // Binds `bindAt` (port 0: any free port) and starts accepting; throws sam::Error.
  // helloTimeoutMs bounds how long a connection may take to say hello.
  static std::shared_ptr<RootListener> start(const RootAddress& bindAt, const wire::Secret& secret,
                                             int helloTimeoutMs);
  ~RootListener();
  RootListener(const RootListener&) = delete;
  RootListener& operator=(const RootListener&) = delete;

  // The address and port it listens on.
  RootAddress address() const { return address_; }
  const wire::Secret& secret() const { return secret_; }

  // Waits until ranks 1..nranks-1 have said hello, or `deadline`, or graceMs
  // after the first rank that disagrees on nranks. Then stops listening
  // and hands over every connection that arrived (index = rank; fd -1 where
  // none), also on failure so the caller can tell them why. Returns success,
  // samTimeout (text names the missing ranks) or samInvalidArgument (text
  // names the ranks that disagree on nranks). Call at most once.
  samResult_t collect(int nranks, Deadline deadline, int graceMs, std::vector<Arrival>* arrivals, std::string* text);

 private:
  struct Conn;
  RootListener(const wire::Secret& secret, int helloTimeoutMs);
  void acceptNext();
  void onHello(const std::shared_ptr<Conn>& conn, const ReadOutcome& r);
  void refuse(const std::shared_ptr<Conn>& conn, const std::string& why);
  void stop();

  boost::asio::io_context io_;
  Tcp::acceptor acceptor_;
  wire::Secret secret_;
  int helloTimeoutMs_;
  RootAddress address_;
  std::thread thread_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::map<int, std::shared_ptr<Conn>> arrived_;  // by rank; guarded by mu_
  bool collected_ = false;
};

// The listeners of this process whose ids were handed out but not yet taken
// by a rank 0 (keyed by secret). The registry stops them at process exit.
void registerRootListener(const std::shared_ptr<RootListener>& listener);
std::shared_ptr<RootListener> takeRootListener(const wire::Secret& secret);

}  // namespace sam
