// Real processes for multi-rank tests without the communicator: fork() one
// child per rank, give each a Bootstrap over a shared anonymous mapping made
// before the fork, collect exit codes with a deadline (children that hang are
// killed, so a bug shows as a failure, never as a stuck suite).
#pragma once

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "core/deadline.h"
#include "core/error.h"

namespace samtest {

constexpr int kMaxForkRanks = 16;
constexpr size_t kMaxBlob = 64 * 1024;

struct ForkShared {
  uint64_t gen[kMaxForkRanks];
  uint32_t len[2][kMaxForkRanks];
  char data[2][kMaxForkRanks][kMaxBlob];
};

// Allgather over shared memory: rank r publishes generation g in buffer g % 2;
// a rank can only reach g + 2 after every rank finished reading g.
class ForkBootstrap : public sam::Bootstrap {
 public:
  ForkBootstrap(ForkShared* s, int rank, int nranks, int timeoutMs)
      : s_(s), rank_(rank), nranks_(nranks), timeoutMs_(timeoutMs) {}
  int rank() const override { return rank_; }
  int size() const override { return nranks_; }
  samResult_t allgather(const std::string& mine, std::vector<std::string>* all) override {
    if (aborted_) return sam::fail(samInvalidUsage, "fork bootstrap aborted");
    if (mine.size() > kMaxBlob) return sam::fail(samInvalidArgument, "fork bootstrap: blob too large");
    const uint64_t g = ++gen_;
    const int b = static_cast<int>(g % 2);
    memcpy(s_->data[b][rank_], mine.data(), mine.size());
    s_->len[b][rank_] = static_cast<uint32_t>(mine.size());
    __atomic_store_n(&s_->gen[rank_], g, __ATOMIC_RELEASE);
    sam::Deadline d = sam::Deadline::in(timeoutMs_);
    for (int r = 0; r < nranks_; ++r) {
      while (__atomic_load_n(&s_->gen[r], __ATOMIC_ACQUIRE) < g) {
        if (d.expired()) return sam::failf(samTimeout, "fork bootstrap: rank %d did not arrive", r);
        std::this_thread::sleep_for(std::chrono::microseconds(50));
      }
    }
    all->assign(nranks_, std::string());
    for (int r = 0; r < nranks_; ++r) (*all)[r].assign(s_->data[b][r], s_->len[b][r]);
    return samSuccess;
  }
  samResult_t broadcast(int root, std::string* blob) override {
    std::vector<std::string> all;
    samResult_t r = allgather(rank_ == root ? *blob : std::string(), &all);
    if (r == samSuccess) *blob = all[root];
    return r;
  }
  samResult_t barrier() override {
    std::vector<std::string> all;
    return allgather("", &all);
  }
  void abort() override { aborted_ = true; }

 private:
  ForkShared* s_;
  int rank_, nranks_, timeoutMs_;
  uint64_t gen_ = 0;
  std::atomic<bool> aborted_{false};
};

// Exit codes of the children; 124 for a child killed at the deadline.
struct ForkResult {
  std::vector<int> exitCodes;
  bool allOk() const {
    for (int c : exitCodes)
      if (c != 0) return false;
    return true;
  }
  std::string describe() const {
    std::string s;
    for (size_t r = 0; r < exitCodes.size(); ++r) s += "rank " + std::to_string(r) + ": " + std::to_string(exitCodes[r]) + "; ";
    return s;
  }
};

// Runs body(rank, bootstrap) in nranks children; its return value is the exit
// code. A rank listed in `absent` is never started (a peer that never shows up).
inline ForkResult runRanks(int nranks, const std::function<int(int, ForkBootstrap&)>& body, int bootTimeoutMs = 10000,
                           int killAfterMs = 60000, std::vector<int> absent = {}) {
  void* mem = mmap(nullptr, sizeof(ForkShared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mem == MAP_FAILED) return {std::vector<int>(nranks, 200)};
  auto* shared = static_cast<ForkShared*>(mem);
  std::vector<pid_t> pids(nranks, -1);
  fflush(stdout);
  fflush(stderr);
  for (int r = 0; r < nranks; ++r) {
    bool skip = false;
    for (int a : absent) skip |= a == r;
    if (skip) continue;
    pid_t pid = fork();
    if (pid == 0) {
      int code;
      {
        ForkBootstrap bs(shared, r, nranks, bootTimeoutMs);
        code = body(r, bs);
      }
      fflush(stdout);
      fflush(stderr);
      _exit(code);
    }
    pids[r] = pid;
  }
  ForkResult res;
  res.exitCodes.assign(nranks, -1);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(killAfterMs);
  int left = 0;
  for (pid_t p : pids) left += p > 0;
  while (left > 0) {
    for (int r = 0; r < nranks; ++r) {
      if (pids[r] <= 0 || res.exitCodes[r] != -1) continue;
      int status = 0;
      if (waitpid(pids[r], &status, WNOHANG) == pids[r]) {
        res.exitCodes[r] = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        --left;
      }
    }
    if (left > 0 && std::chrono::steady_clock::now() > deadline) {
      for (int r = 0; r < nranks; ++r)
        if (pids[r] > 0 && res.exitCodes[r] == -1) {
          kill(pids[r], SIGKILL);
          waitpid(pids[r], nullptr, 0);
          res.exitCodes[r] = 124;
        }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  munmap(mem, sizeof(ForkShared));
  return res;
}

// In a child: print why and return a failure code.
#define CHILD_CHECK(cond, ...)                                          \
  do {                                                                  \
    if (!(cond)) {                                                      \
      fprintf(stderr, "[rank check failed %s:%d] %s: ", __FILE__, __LINE__, #cond); \
      fprintf(stderr, __VA_ARGS__);                                     \
      fprintf(stderr, "\n");                                            \
      return 1;                                                         \
    }                                                                   \
  } while (0)

}  // namespace samtest
