// Runs the real sam-perf binary (it spawns its own rank processes) on small,
// awkward sizes with --check 1 and reads its table: every #wrong column must
// be 0 and the exit status 0. A corrupted run must be caught, so the checker
// itself is tested too.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

struct PerfRun {
  int exitCode = -1;
  std::string output;
};

PerfRun runPerf(const std::string& args) {
  // A bounded wall time: a hang is a failure, not a stuck suite.
  std::string cmd = "timeout 240 " SAM_BINARY_DIR "/perf/sam-perf " + args + " 2>&1";
  PerfRun r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int status = pclose(p);
  r.exitCode = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

std::vector<std::string> fields(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> f;
  std::string w;
  while (in >> w) f.push_back(w);
  return f;
}

// Data rows (not '#'): tokens, bytes, type, then per column group time,
// algbw, busbw, #wrong. Returns every #wrong value; fails on a malformed row.
std::vector<long long> wrongColumns(const std::string& output, int groups, int* rows, int extraColumns = 0) {
  std::vector<long long> wrong;
  std::istringstream in(output);
  std::string line;
  *rows = 0;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.rfind("sam-perf", 0) == 0) continue;
    std::vector<std::string> f = fields(line);
    if (f.empty()) continue;
    EXPECT_EQ(f.size(), static_cast<size_t>(3 + 4 * groups + extraColumns)) << "row: " << line;
    if (f.size() != static_cast<size_t>(3 + 4 * groups + extraColumns)) continue;
    ++*rows;
    for (int g = 0; g < groups; ++g) {
      const std::string& w = f[3 + 4 * g + 3];
      EXPECT_NE(w, "N/A") << "a column was not checked: " << line;
      wrong.push_back(std::atoll(w.c_str()));
    }
  }
  return wrong;
}

// memcpyColumns: the two --memcpy columns (time, algbw) after the groups.
void expectClean(const std::string& args, int groups, int expectRows, int memcpyColumns = 0) {
  PerfRun r = runPerf(args);
  SCOPED_TRACE("sam-perf " + args + "\n" + r.output);
  EXPECT_EQ(r.exitCode, 0);
  int rows = 0;
  std::vector<long long> wrong = wrongColumns(r.output, groups, &rows, memcpyColumns);
  EXPECT_EQ(rows, expectRows);
  for (long long w : wrong) EXPECT_EQ(w, 0);
  EXPECT_NE(r.output.find("# Out of bounds values : 0 OK"), std::string::npos);
  EXPECT_NE(r.output.find("# Avg bus bandwidth"), std::string::npos);
  if (r.output.find("dispatch (sam)") != std::string::npos)
    EXPECT_NE(r.output.find("SAM calls disagree OK"), std::string::npos);
}

// route (sam) + plan, dispatch, combine, roundtrip for sam and the baseline.
constexpr int kAllGroupsWithBaseline = 9;

TEST(SamPerf, OneRankEveryOpAndBaseline) {
  // Tokens 0, 1, 37.
  expectClean("--ranks 1 -b 0 -e 37 -f 37 -n 2 -w 1 -c 1 --hidden 24 --experts 8 --topk 3 --baseline",
              kAllGroupsWithBaseline, 3);
}

TEST(SamPerf, FourRanksTwoNodesBf16) {
  if (!SAM_HAVE_UCX) GTEST_SKIP() << "several nodes need the UCX transport, not built here";
  expectClean("--ranks 4 --nodes 2 -b 1 -e 100 -f 10 -n 2 -w 1 -c 1 -d bfloat16 --hidden 40 --experts 16 "
              "--topk 2 --baseline",
              kAllGroupsWithBaseline, 3);
}

TEST(SamPerf, ThreeRanksGshardHalfSeveralK) {
  // Three k values: three tables of two rows each.
  expectClean("--ranks 3 -b 5 -e 50 -f 10 -n 2 -w 1 -c 1 -d half --hidden 33 --experts 12 --topk 1,2,5 "
              "--preset gshard --baseline",
              kAllGroupsWithBaseline, 6);
}

TEST(SamPerf, EightRanksFourNodesSwitchWithEmptyRanks) {
  if (!SAM_HAVE_UCX) GTEST_SKIP() << "several nodes need the UCX transport, not built here";
  // 3 tokens on each of 8 ranks: most ranks receive nothing from most peers.
  expectClean("--ranks 8 --nodes 4 -b 3 -e 3 -n 1 -w 0 -c 1 --hidden 12 --experts 16 --preset switch --baseline "
              "--memcpy --op plan,dispatch,combine,roundtrip",
              8, 1, /*memcpyColumns=*/2);
}

TEST(SamPerf, TwoRanksDeepseekV3Float) {
  expectClean("--ranks 2 -b 64 -e 64 -n 1 -w 0 -c 1 --hidden 16 --experts 64 --preset deepseek-v3 --op dispatch,combine",
              2, 1);
}

TEST(SamPerf, JsonHasEveryResultChecked) {
  std::string path = std::string(SAM_BINARY_DIR) + "/test_sam_perf_" + std::to_string(getpid()) + ".json";
  PerfRun r = runPerf("--ranks 2 -b 16 -e 16 -n 1 -w 0 -c 1 --hidden 8 --experts 4 --baseline -J " + path);
  SCOPED_TRACE(r.output);
  ASSERT_EQ(r.exitCode, 0);
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  std::string json = s.str();
  std::remove(path.c_str());
  EXPECT_NE(json.find("\"tool\": \"sam-perf\""), std::string::npos);
  EXPECT_NE(json.find("\"op\": \"dispatch\", \"impl\": \"base\""), std::string::npos);
  EXPECT_NE(json.find("\"wrong\": 0"), std::string::npos);
  EXPECT_EQ(json.find("\"wrong\": -1"), std::string::npos);
  EXPECT_EQ(json.find("\"wrong\": 1"), std::string::npos);
}

TEST(SamPerf, CorruptedOutputIsCounted) {
  // --self-test-corrupt flips one element of every checked output after the
  // call: the checker must count it, and the run must fail.
  PerfRun r = runPerf("--ranks 2 -b 32 -e 32 -n 1 -w 0 -c 1 --hidden 8 --experts 4 --baseline --self-test-corrupt");
  SCOPED_TRACE(r.output);
  EXPECT_EQ(r.exitCode, 1);
  int rows = 0;
  std::vector<long long> wrong = wrongColumns(r.output, kAllGroupsWithBaseline, &rows);
  ASSERT_EQ(rows, 1);
  // route and plan are not corrupted; each data-path column must show the damage.
  ASSERT_EQ(wrong.size(), static_cast<size_t>(kAllGroupsWithBaseline));
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(wrong[i], 0) << "column group " << i;
  for (size_t i = 3; i < wrong.size(); ++i) EXPECT_GT(wrong[i], 0) << "column group " << i;
  EXPECT_NE(r.output.find("FAILED"), std::string::npos);
}

// A port that was free a moment ago, for a torchrun-style rendezvous.
int freePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  close(fd);
  return port;
}

TEST(SamPerf, UnderTorchrunVariablesEachProcessIsOneRank) {
  // What torchrun sets; --ranks must be ignored (it would spawn otherwise).
  std::string perf = SAM_BINARY_DIR "/perf/sam-perf";
  std::string args = " --ranks 5 -b 33 -e 33 -n 1 -w 0 -c 1 --hidden 16 --experts 8 --baseline";
  PerfRun r;
  int status = 0;
  // The rendezvous listens on MASTER_PORT + 1 (torchrun's store owns
  // MASTER_PORT), so MASTER_PORT is a free port minus one. Another test can
  // still take that port between our probe and the bind: try again then.
  for (int attempt = 0; attempt < 3; ++attempt) {
    const int port = freePort();
    ASSERT_GT(port, 1);
    std::string cmd;
    for (int rank = 0; rank < 2; ++rank)
      cmd += "RANK=" + std::to_string(rank) + " LOCAL_RANK=" + std::to_string(rank) +
             " WORLD_SIZE=2 MASTER_ADDR=127.0.0.1 MASTER_PORT=" + std::to_string(port - 1) + " SAM_TIMEOUT_MS=20000" +
             " timeout 120 " + perf + args + (rank == 0 ? " > /dev/stdout & " : " > /dev/null; s1=$?; ");
    cmd += "wait $!; s0=$?; exit $((s0 | s1))";
    FILE* p = popen(("bash -c '" + cmd + "' 2>&1").c_str(), "r");
    ASSERT_NE(p, nullptr);
    r.output.clear();
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
    status = pclose(p);
    if (r.output.find("Address already in use") == std::string::npos) break;
  }
  SCOPED_TRACE(r.output);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_NE(r.output.find("nRanks 2 nNodes 1 launcher: torchrun"), std::string::npos);
  int rows = 0;
  for (long long w : wrongColumns(r.output, kAllGroupsWithBaseline, &rows)) EXPECT_EQ(w, 0);
  EXPECT_EQ(rows, 1);
}

TEST(SamPerf, BadFlagsAreOneLineErrors) {
  PerfRun r = runPerf("-d int8");
  EXPECT_EQ(r.exitCode, 2);
  EXPECT_NE(r.output.find("-d: bad value 'int8'"), std::string::npos) << r.output;
  r = runPerf("--preset nope");
  EXPECT_EQ(r.exitCode, 2);
  r = runPerf("-b 8K -e 1K");
  EXPECT_EQ(r.exitCode, 2);
  r = runPerf("--ranks 2 --nodes 3");
  EXPECT_EQ(r.exitCode, 2);
}

TEST(SamPerf, TopkThatDoesNotFitFailsCleanly) {
  // sam: k experts must fit on one rank (E/R = 2 here).
  PerfRun r = runPerf("--ranks 2 -b 4 -e 4 --experts 4 --topk 3 -n 1 -w 0");
  EXPECT_NE(r.exitCode, 0);
  EXPECT_NE(r.output.find("topk"), std::string::npos) << r.output;
}

}  // namespace
