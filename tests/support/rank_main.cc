#include "support/rank_main.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <thread>

namespace sam {
namespace test {
namespace {
int gRank = -1;
}  // namespace

int currentRank() { return gRank; }

std::string RankContext::get(const std::string& key, const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

long RankContext::getInt(const std::string& key, long fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : strtol(it->second.c_str(), nullptr, 10);
}

bool writeUniqueIdFile(const std::string& path, const samUniqueId& id) {
  std::string tmp = path + ".tmp." + std::to_string(getpid());
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return false;
  bool ok = write(fd, &id, sizeof(id)) == static_cast<ssize_t>(sizeof(id)) && fsync(fd) == 0;
  close(fd);
  // rename is atomic: readers see no file or the whole id, never a part.
  return ok && rename(tmp.c_str(), path.c_str()) == 0;
}

bool readUniqueIdFile(const std::string& path, int timeoutMs, samUniqueId* id) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeoutMs);
  for (;;) {
    int fd = open(path.c_str(), O_RDONLY);
    if (fd >= 0) {
      ssize_t n = read(fd, id, sizeof(*id));
      close(fd);
      if (n == static_cast<ssize_t>(sizeof(*id))) return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

bool RankContext::shareUniqueId(samUniqueId* id, int uidWaitMs) const {
  if (rank == 0) {
    samResult_t r = samGetUniqueId(id);
    if (r != samSuccess) {
      fprintf(stderr, "[rank 0] samGetUniqueId: %s: %s\n", samGetErrorString(r), samGetLastError());
      return false;
    }
    return writeUniqueIdFile(uidFile, *id);
  }
  return readUniqueIdFile(uidFile, uidWaitMs, id);
}

samResult_t RankContext::initComm(samComm_t* comm, const samConfig_t* config, int uidWaitMs) const {
  samUniqueId id;
  if (!shareUniqueId(&id, uidWaitMs)) {
    fprintf(stderr, "[rank %d] no unique id in %s\n", rank, uidFile.c_str());
    return samSystemError;
  }
  int claimed = static_cast<int>(getInt("nranks-override", nranks));
  return samCommInitRank(comm, claimed, id, rank, config);
}

int rankMain(int argc, char** argv, const std::map<std::string, Scenario>& scenarios) {
  RankContext ctx;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || i + 1 >= argc) {
      fprintf(stderr, "usage: %s --rank R --nranks N --uid-file PATH --scenario NAME [--key value ...]\n", argv[0]);
      return 2;
    }
    std::string key = a.substr(2), val = argv[++i];
    if (key == "rank") ctx.rank = atoi(val.c_str());
    else if (key == "nranks") ctx.nranks = atoi(val.c_str());
    else if (key == "uid-file") ctx.uidFile = val;
    else if (key == "scenario") ctx.scenario = val;
    else ctx.options[key] = val;
  }
  gRank = ctx.rank;
  if (ctx.rank < 0 || ctx.nranks < 1 || ctx.rank >= ctx.nranks || ctx.uidFile.empty()) {
    fprintf(stderr, "bad --rank/--nranks/--uid-file\n");
    return 2;
  }
  auto it = scenarios.find(ctx.scenario);
  if (it == scenarios.end()) {
    fprintf(stderr, "unknown scenario '%s'\n", ctx.scenario.c_str());
    return 2;
  }
  int rc = it->second(ctx);
  fflush(stdout);
  fflush(stderr);
  return rc;
}

}  // namespace test
}  // namespace sam
