#include "support/multiproc.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace sam {
namespace test {
namespace {

using Clock = std::chrono::steady_clock;

std::string makeTempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/sam-ranks-XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + std::string(strerror(errno)));
  return buf.data();
}

std::string readFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The environment for one rank: ours, with the overrides applied in order.
std::vector<std::string> buildEnv(const EnvVars& common, const EnvVars& own) {
  std::map<std::string, std::string> env;
  std::vector<std::string> order;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string k = kv.substr(0, eq);
    if (!env.count(k)) order.push_back(k);
    env[k] = kv.substr(eq + 1);
  }
  for (const EnvVars* vars : {&common, &own})
    for (const auto& kv : *vars) {
      if (!env.count(kv.first)) order.push_back(kv.first);
      env[kv.first] = kv.second;
    }
  std::vector<std::string> out;
  for (const std::string& k : order) out.push_back(k + "=" + env[k]);
  return out;
}

std::vector<char*> cstrings(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (std::string& s : v) out.push_back(&s[0]);
  out.push_back(nullptr);
  return out;
}

}  // namespace

RunResult runRanks(const std::string& binary, int nranks, const RunOptions& options) {
  RunResult res;
  res.workDir = options.workDir.empty() ? makeTempDir() : options.workDir;
  const std::string uidFile = res.workDir + "/uid";
  unlink(uidFile.c_str());
  res.ranks.resize(nranks);
  std::vector<pid_t> pids(nranks, -1);
  std::vector<Clock::time_point> started(nranks);
  const auto t0 = Clock::now();

  for (int r = 0; r < nranks; ++r) {
    RankOutcome& o = res.ranks[r];
    o.rank = r;
    RankSpec spec;
    if (options.perRank) options.perRank(r, spec);
    if (!spec.start) continue;
    // Everything the child needs is built before fork: after fork only
    // async-signal-safe calls (dup2, setpgid, execve).
    std::vector<std::string> argv = {binary, "--rank", std::to_string(r), "--nranks", std::to_string(nranks),
                                     "--uid-file", uidFile};
    argv.insert(argv.end(), options.args.begin(), options.args.end());
    argv.insert(argv.end(), spec.args.begin(), spec.args.end());
    std::vector<std::string> envp = buildEnv(options.env, spec.env);
    std::vector<char*> cargv = cstrings(argv), cenvp = cstrings(envp);
    std::string logPath = res.workDir + "/rank" + std::to_string(r) + ".log";
    int logFd = open(logPath.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (logFd < 0) throw std::runtime_error("cannot create " + logPath);
    pid_t pid = fork();
    if (pid < 0) throw std::runtime_error("fork failed: " + std::string(strerror(errno)));
    if (pid == 0) {
      setpgid(0, 0);  // its own group, so the deadline kills its children too
      dup2(logFd, 1);
      dup2(logFd, 2);
      execve(cargv[0], cargv.data(), cenvp.data());
      _exit(127);
    }
    close(logFd);
    setpgid(pid, pid);
    pids[r] = pid;
    started[r] = Clock::now();
    o.started = true;
  }

  const auto deadline = t0 + std::chrono::milliseconds(options.timeoutMs);
  int running = 0;
  for (pid_t p : pids) running += p > 0;
  while (running > 0) {
    bool reaped = false;
    for (int r = 0; r < nranks; ++r) {
      if (pids[r] <= 0) continue;
      int status = 0;
      pid_t got = waitpid(pids[r], &status, WNOHANG);
      if (got != pids[r]) continue;
      RankOutcome& o = res.ranks[r];
      o.seconds = std::chrono::duration<double>(Clock::now() - started[r]).count();
      if (WIFEXITED(status)) {
        o.exited = true;
        o.exitCode = WEXITSTATUS(status);
      } else if (WIFSIGNALED(status)) {
        o.signal = WTERMSIG(status);
      }
      pids[r] = -1;
      --running;
      reaped = true;
    }
    if (running == 0) break;
    if (Clock::now() >= deadline) {
      for (int r = 0; r < nranks; ++r) {
        if (pids[r] <= 0) continue;
        kill(-pids[r], SIGKILL);
        kill(pids[r], SIGKILL);
        int status = 0;
        waitpid(pids[r], &status, 0);
        RankOutcome& o = res.ranks[r];
        o.killedAtDeadline = true;
        o.signal = SIGKILL;
        o.seconds = std::chrono::duration<double>(Clock::now() - started[r]).count();
        pids[r] = -1;
      }
      break;
    }
    if (!reaped) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  for (int r = 0; r < nranks; ++r)
    if (res.ranks[r].started) res.ranks[r].output = readFile(res.workDir + "/rank" + std::to_string(r) + ".log");
  res.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return res;
}

bool RunResult::allPassed() const {
  for (const RankOutcome& o : ranks)
    if (o.started && !o.passed()) return false;
  return true;
}

bool RunResult::anySkipped() const {
  for (const RankOutcome& o : ranks)
    if (o.skipped()) return true;
  return false;
}

std::string RunResult::summary() const {
  std::ostringstream s;
  s << ranks.size() << " ranks in " << seconds << " s (logs in " << workDir << ")\n";
  for (const RankOutcome& o : ranks) {
    s << "  rank " << o.rank << ": ";
    if (!o.started) s << "not started";
    else if (o.killedAtDeadline) s << "KILLED at the deadline";
    else if (o.exited) s << "exit " << o.exitCode;
    else s << "signal " << o.signal;
    s << " (" << o.seconds << " s)\n";
  }
  for (const RankOutcome& o : ranks) {
    if (!o.started || o.passed() || o.skipped()) continue;
    std::string tail = o.output.size() > 3000 ? "..." + o.output.substr(o.output.size() - 3000) : o.output;
    s << "---- rank " << o.rank << " output ----\n" << tail << "\n";
  }
  return s.str();
}

int freeTcpPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a;
  memset(&a, 0, sizeof(a));
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  if (fd < 0 || bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    if (fd >= 0) close(fd);
    throw std::runtime_error("freeTcpPort: " + std::string(strerror(errno)));
  }
  int port = ntohs(a.sin_port);
  close(fd);
  return port;
}

}  // namespace test
}  // namespace sam
