// The per-rank side of multi-process tests (see multiproc.h for the whole
// picture): argument parsing, the unique-id file exchange, scenario dispatch
// and checks that print the rank and exit.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>

#include "sam.h"

namespace sam {
namespace test {

struct RankContext {
  int rank = -1;
  int nranks = 0;
  std::string uidFile;
  std::string scenario;
  std::map<std::string, std::string> options;  // every other --key value pair

  bool has(const std::string& key) const { return options.count(key) > 0; }
  std::string get(const std::string& key, const std::string& fallback = "") const;
  long getInt(const std::string& key, long fallback) const;

  // Exchanges the unique id through uidFile (rank 0 creates it with
  // samGetUniqueId and writes it; the others wait up to uidWaitMs for it),
  // then calls samCommInitRank(comm, nranks, id, rank, config).
  // Options honoured: --nranks-override N (init claims N ranks).
  samResult_t initComm(samComm_t* comm, const samConfig_t* config = nullptr, int uidWaitMs = 20000) const;
  // The id exchange alone.
  bool shareUniqueId(samUniqueId* id, int uidWaitMs = 20000) const;
};

using Scenario = std::function<int(RankContext&)>;

// Parses --rank --nranks --uid-file --scenario and --key value pairs, runs the
// scenario, returns its exit code (0 pass, 77 skip, other fail). Unknown
// scenario or bad arguments: 2.
int rankMain(int argc, char** argv, const std::map<std::string, Scenario>& scenarios);

// Atomic write (tmp file + rename) and bounded wait for the unique-id file.
bool writeUniqueIdFile(const std::string& path, const samUniqueId& id);
bool readUniqueIdFile(const std::string& path, int timeoutMs, samUniqueId* id);

// The rank printed by RANK_CHECK (set by rankMain).
int currentRank();

}  // namespace test
}  // namespace sam

// Fails the rank (exit 1) with file:line and a message when cond is false.
#define RANK_CHECK(cond, ...)                                                                   \
  do {                                                                                          \
    if (!(cond)) {                                                                              \
      fprintf(stderr, "[rank %d] CHECK FAILED %s:%d: %s: ", ::sam::test::currentRank(), __FILE__, \
              __LINE__, #cond);                                                                 \
      fprintf(stderr, __VA_ARGS__);                                                             \
      fprintf(stderr, "\n");                                                                    \
      fflush(stderr);                                                                           \
      exit(1);                                                                                  \
    }                                                                                           \
  } while (0)

// Fails the rank when a libsam call does not return samSuccess.
#define RANK_CHECK_OK(expr)                                                                    \
  do {                                                                                         \
    samResult_t rank_check_r_ = (expr);                                                        \
    RANK_CHECK(rank_check_r_ == samSuccess, "%s returned %s: %s", #expr,                       \
               samGetErrorString(rank_check_r_), samGetLastError());                           \
  } while (0)
