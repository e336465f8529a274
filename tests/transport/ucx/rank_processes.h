// Runs one forked process per rank and collects how each ended. A rank's body
// returns "" on success or a message saying what was wrong; exceptions are
// caught and reported the same way. GoogleTest assertions belong in the
// parent only: the children report through the message.
#pragma once

#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

namespace sam::test {

struct RankOutcome {
  bool exited = false;   // exited normally (else killed by a signal)
  int exitCode = -1;     // when exited
  int signal = 0;        // when killed
  bool hung = false;     // still running at the deadline (then killed)
  std::string message;   // what the body reported
};

// A fresh directory for a FileBootstrap, removed with its files on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

std::vector<RankOutcome> runRanks(int nranks, int timeoutMs, const std::function<std::string(int rank)>& body);

// One line per rank, for assertion messages.
std::string describe(const std::vector<RankOutcome>& outcomes);

// Inside a rank's body: throws with `what` when `cond` is false.
inline void require(bool cond, const std::string& what) {
  if (!cond) throw std::runtime_error(what);
}

}  // namespace sam::test
