// Multi-process tests: one real process per rank, as NCCL EP's tests do.
//
// Two halves, both in the sam_test_support library:
//
//  1. The per-rank binary (rank_main.h): started as
//       BINARY --rank R --nranks N --uid-file PATH --scenario NAME [--key value ...]
//     it runs one named scenario and exits 0 (pass), 77 (skip) or anything
//     else (fail). RankContext::initComm() does the unique-id exchange: rank 0
//     calls samGetUniqueId and writes the id to PATH atomically (tmp + rename),
//     the others wait for the file (bounded) and all call samCommInitRank.
//
//       #include "support/rank_main.h"
//       static int myScenario(sam::test::RankContext& ctx) {
//         samComm_t comm;
//         RANK_CHECK_OK(ctx.initComm(&comm));
//         ... RANK_CHECK(cond, "what went wrong: %d", x); ...
//         return 0;
//       }
//       int main(int argc, char** argv) {
//         return sam::test::rankMain(argc, argv, {{"my_scenario", myScenario}});
//       }
//
//  2. The driver (this header), called from a GoogleTest case: it forks and
//     execs N ranks, each with its own output file and environment, waits for
//     all of them up to a deadline, kills (SIGKILL, whole process group) what
//     is left, and returns every rank's exit status and output.
//
//       sam::test::RunOptions opt;
//       opt.args = {"--scenario", "my_scenario"};
//       opt.env = {{"SAM_SOCKET_IFNAME", "lo"}};
//       opt.perRank = [](int rank, sam::test::RankSpec& s) {
//         s.env.push_back({"SAM_HOST_ID", rank < 2 ? "nodeA" : "nodeB"});
//       };
//       sam::test::RunResult res = sam::test::runRanks(MY_RANK_BINARY, 4, opt);
//       EXPECT_TRUE(res.allPassed()) << res.summary();
//
//     The binary path comes from CMake: target_compile_definitions(test PRIVATE
//     MY_RANK_BINARY="$<TARGET_FILE:my_rank_binary>") and add_dependencies.
//     Include tests/support/sam_test_support.cmake from a tests/<layer>/
//     CMakeLists.txt to get the library (target sam_test_support).
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace sam {
namespace test {

using EnvVars = std::vector<std::pair<std::string, std::string>>;

// What one rank gets on top of RunOptions::args/env.
struct RankSpec {
  std::vector<std::string> args;  // appended after the common args
  EnvVars env;                    // applied after the common env
  bool start = true;              // false: never start this rank (a rank that never arrives)
};

struct RunOptions {
  std::vector<std::string> args;          // given to every rank
  EnvVars env;                            // set for every rank (on top of this process's environment)
  std::function<void(int rank, RankSpec& spec)> perRank;  // optional per-rank changes
  int timeoutMs = 30000;                  // after this every rank still running is killed
  std::string workDir;                    // uid file and logs; default: a fresh temp dir
};

struct RankOutcome {
  int rank = -1;
  bool started = false;
  bool exited = false;        // exited normally (exitCode valid)
  int exitCode = -1;
  int signal = 0;             // terminated by this signal (0 if none)
  bool killedAtDeadline = false;
  double seconds = 0;         // from start to exit
  std::string output;         // stdout and stderr together
  bool passed() const { return started && exited && exitCode == 0; }
  bool skipped() const { return started && exited && exitCode == 77; }
};

struct RunResult {
  std::vector<RankOutcome> ranks;
  double seconds = 0;         // wall time of the whole run
  std::string workDir;
  // Every started rank exited with 0 (ranks with start = false are ignored).
  bool allPassed() const;
  bool anySkipped() const;
  // One line per rank plus the tail of each failing rank's output.
  std::string summary() const;
};

RunResult runRanks(const std::string& binary, int nranks, const RunOptions& options);

// A TCP port that was free a moment ago on 127.0.0.1 (for launcher-style env tests).
int freeTcpPort();

}  // namespace test
}  // namespace sam
