// The Bootstrap over TCP: a star through rank 0. Every collective is "gather
// to the root, then the root answers everyone": leaves send their part, the
// root waits for all parts (reading every connection at once, so a dead rank
// is seen as soon as its socket closes), then sends each leaf the result.
// When the root finds a failure (a closed socket, a silent rank, a rank in a
// different collective) it tells every other leaf with an Error message, so
// all ranks fail with the same code and text.
//
// Deadlines: a leaf waits at most timeoutMs for the root. The root stops
// waiting for leaves a margin earlier (timeoutMs/5, at most 2 s), so that its
// verdict naming the missing ranks reaches the leaves before they give up.
//
// Threading: calls run on the caller's thread (io_context::run_one_until);
// abort() may come from any thread: it shuts the sockets down (peers see the
// connection close) and wakes the blocked call.
#pragma once

#include <atomic>
#include <boost/asio.hpp>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "bootstrap/tcp_io.h"
#include "bootstrap/unique_id.h"

namespace sam {

struct BootstrapOptions {
  int timeoutMs = 30000;
  uint32_t maxMessageBytes = 64u << 20;  // payload bound of one message
};
// Options from the env knobs (SAM_BOOTSTRAP_MAX_MESSAGE) and a timeout.
BootstrapOptions bootstrapOptions(int timeoutMs);

// Starts the root listener for a new unique id (samGetUniqueId).
samResult_t bootstrapCreateRoot(samUniqueId* id);

// The rendezvous: rank 0 takes over the listener of `id` (or binds the id's
// port on every address when this process has none, as samCommInitFromEnv
// does); the other ranks connect, retrying until the deadline.
samResult_t bootstrapConnect(const UniqueIdContents& id, int rank, int nranks, const BootstrapOptions& opts,
                             std::unique_ptr<Bootstrap>* out);

class TcpBootstrap final : public Bootstrap {
 public:
  // fds[r]: the connection to rank r (root: r >= 1; leaf: fds[0]); -1 = none.
  TcpBootstrap(int rank, int nranks, const std::vector<int>& fds, const std::vector<int>& families,
               const BootstrapOptions& opts);
  ~TcpBootstrap() override;

  int rank() const override { return rank_; }
  int size() const override { return nranks_; }
  samResult_t allgather(const std::string& mine, std::vector<std::string>* all) override;
  samResult_t broadcast(int root, std::string* blob) override;
  samResult_t barrier() override;
  void abort() override;

  // Rendezvous steps (used by bootstrapConnect).
  samResult_t rootSendWelcome(const wire::Secret& secret);
  samResult_t leafHandshake(const wire::Secret& secret, Deadline deadline);
  // Tells every connected leaf about a failure (best effort, bounded), then
  // marks this bootstrap broken and returns fail(code, text).
  samResult_t failAndTell(samResult_t code, const std::string& text, int exceptRank = -1);

 private:
  struct ReadSlot;
  enum class Wait { Done, TimedOut, Aborted };

  samResult_t collective(wire::Op op, int bcastRoot, const std::string& mine, std::vector<std::string>* all,
                         std::string* blobOut);
  samResult_t rootCollective(wire::Op op, uint32_t seq, int bcastRoot, const std::string& mine, Deadline deadline,
                             std::vector<std::string>* all, std::string* blobOut);
  samResult_t leafCollective(wire::Op op, uint32_t seq, int bcastRoot, const std::string& mine, Deadline deadline,
                             std::vector<std::string>* all, std::string* blobOut);
  std::shared_ptr<ReadSlot> startRead(int peer);
  void startWrite(int peer, std::shared_ptr<const std::string> bytes, std::shared_ptr<int> pendingWrites,
                  std::shared_ptr<std::string> writeError);
  Wait runUntil(const std::function<bool()>& done, Deadline deadline);
  samResult_t brokenOrAborted(const char* what);
  samResult_t breakWith(samResult_t code, const std::string& text);
  Deadline rootDeadline() const;
  std::string describe(wire::Op op, uint32_t seq) const;

  boost::asio::io_context io_;
  std::vector<std::unique_ptr<Tcp::socket>> sockets_;  // by rank; null where none
  std::mutex fdMu_;                                     // fds_ vs abort() from another thread
  std::vector<int> fds_;
  int rank_;
  int nranks_;
  BootstrapOptions opts_;
  uint32_t seq_ = 0;
  std::atomic<bool> aborted_{false};
  samResult_t broken_ = samSuccess;
  std::string brokenText_;
  int pending_ = 0;  // outstanding async operations
};

}  // namespace sam
