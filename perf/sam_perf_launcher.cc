#include "sam_perf_launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace samperf {

namespace {

// A port the kernel just considered free on loopback; rank 0 listens on it.
int pickFreePort() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

std::string randomSecret() {
  std::random_device rd;
  std::string hex;
  const char* digits = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) hex += digits[rd() & 15u];
  return hex;
}

int exitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

int fakeNodeOf(int rank, int nranks, int nodes) {
  return static_cast<int>(static_cast<long long>(rank) * nodes / nranks);
}

int launchLocalRanks(char** argv, const LaunchSpec& spec) {
  int port = pickFreePort();
  if (port < 0) {
    std::fprintf(stderr, "sam-perf: cannot find a free TCP port on 127.0.0.1: %s\n", std::strerror(errno));
    return 1;
  }
  const std::string root = "127.0.0.1:" + std::to_string(port);
  const std::string secret = randomSecret();
  // Each run gets its own host names, so concurrent runs never share a fake node.
  const std::string hostPrefix = "samperf-" + std::to_string(::getpid()) + "-node";
  std::fflush(stdout);
  std::fflush(stderr);
  std::vector<pid_t> pids;
  for (int r = 0; r < spec.nranks; ++r) {
    pid_t pid = ::fork();
    if (pid < 0) {
      std::fprintf(stderr, "sam-perf: fork failed: %s\n", std::strerror(errno));
      for (pid_t p : pids) ::kill(p, SIGKILL);
      for (pid_t p : pids) ::waitpid(p, nullptr, 0);
      return 1;
    }
    if (pid == 0) {
      ::setenv("SAM_RANK", std::to_string(r).c_str(), 1);
      ::setenv("SAM_NRANKS", std::to_string(spec.nranks).c_str(), 1);
      ::setenv("SAM_ROOT_ADDR", root.c_str(), 1);
      ::setenv("SAM_SECRET", secret.c_str(), 1);
      ::setenv("SAM_PERF_LAUNCHER", "1", 1);
      ::unsetenv("SAM_LOCAL_RANK");
      if (spec.nodes > 1)
        ::setenv("SAM_HOST_ID", (hostPrefix + std::to_string(fakeNodeOf(r, spec.nranks, spec.nodes))).c_str(), 1);
      if (spec.timeoutMs > 0) ::setenv("SAM_TIMEOUT_MS", std::to_string(spec.timeoutMs).c_str(), 1);
      ::execv("/proc/self/exe", argv);
      std::fprintf(stderr, "sam-perf: exec failed: %s\n", std::strerror(errno));
      ::_exit(127);
    }
    pids.push_back(pid);
  }

  // Reap the ranks. After the first failure the others get the peers' timeout
  // (they should fail on their own) plus a margin, then are killed.
  const int graceMs = (spec.timeoutMs > 0 ? spec.timeoutMs : 30000) + 5000;
  int firstFailure = 0;
  size_t running = pids.size();
  auto killAt = std::chrono::steady_clock::time_point::max();
  while (running > 0) {
    bool reaped = false;
    for (pid_t& p : pids) {
      if (p <= 0) continue;
      int status = 0;
      pid_t got = ::waitpid(p, &status, WNOHANG);
      if (got == 0) continue;
      int code = got == p ? exitCodeOf(status) : 1;
      if (code != 0 && firstFailure == 0) {
        firstFailure = code;
        killAt = std::chrono::steady_clock::now() + std::chrono::milliseconds(graceMs);
      }
      p = 0;
      --running;
      reaped = true;
    }
    if (running > 0 && std::chrono::steady_clock::now() >= killAt) {
      std::fprintf(stderr, "sam-perf: a rank failed; killing the %zu ranks still running\n", running);
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      killAt = std::chrono::steady_clock::time_point::max();
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return firstFailure;
}

}  // namespace samperf
