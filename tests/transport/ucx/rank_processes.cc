#include "rank_processes.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>

namespace sam::test {

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string pattern = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/sam-ucx-test-XXXXXX";
  if (mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + std::string(strerror(errno)));
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {

// Writes all of `s` to `fd` (the parent reads it after the child exited).
void writeAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = write(fd, s.data() + done, s.size() - done);
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

std::string readAll(int fd) {
  std::string s;
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n <= 0) break;
    s.append(buf, static_cast<size_t>(n));
  }
  return s;
}

}  // namespace

std::vector<RankOutcome> runRanks(int nranks, int timeoutMs, const std::function<std::string(int rank)>& body) {
  std::vector<pid_t> pids(nranks, -1);
  std::vector<int> pipes(nranks, -1);
  for (int r = 0; r < nranks; ++r) {
    int fds[2];
    if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
      close(fds[0]);
      std::string message;
      try {
        message = body(r);
      } catch (const std::exception& e) {
        message = std::string("exception: ") + e.what();
      } catch (...) {
        message = "unknown exception";
      }
      writeAll(fds[1], message);
      close(fds[1]);
      _exit(message.empty() ? 0 : 1);  // no atexit handlers, no GoogleTest teardown
    }
    close(fds[1]);
    pids[r] = pid;
    pipes[r] = fds[0];
  }

  std::vector<RankOutcome> out(nranks);
  std::vector<bool> reaped(nranks, false);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  int left = nranks;
  while (left > 0) {
    for (int r = 0; r < nranks; ++r) {
      if (reaped[r]) continue;
      int status = 0;
      if (waitpid(pids[r], &status, WNOHANG) != pids[r]) continue;
      reaped[r] = true;
      --left;
      out[r].exited = WIFEXITED(status);
      out[r].exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
      out[r].signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
    }
    if (left == 0) break;
    if (std::chrono::steady_clock::now() >= deadline) {
      for (int r = 0; r < nranks; ++r) {
        if (reaped[r]) continue;
        out[r].hung = true;
        kill(pids[r], SIGKILL);
        int status = 0;
        waitpid(pids[r], &status, 0);
        out[r].signal = SIGKILL;
      }
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int r = 0; r < nranks; ++r) {
    out[r].message = readAll(pipes[r]);
    close(pipes[r]);
  }
  return out;
}

std::string describe(const std::vector<RankOutcome>& outcomes) {
  std::string s;
  for (size_t r = 0; r < outcomes.size(); ++r) {
    const RankOutcome& o = outcomes[r];
    s += "rank " + std::to_string(r) + ": ";
    if (o.hung) s += "HUNG (killed at the deadline)";
    else if (o.exited) s += "exit " + std::to_string(o.exitCode);
    else s += "signal " + std::to_string(o.signal);
    if (!o.message.empty()) s += ": " + o.message;
    s += "\n";
  }
  return s;
}

}  // namespace sam::test
