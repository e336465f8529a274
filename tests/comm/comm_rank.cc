// The per-rank program of the communicator's multi-process tests: one process
// per rank, a scenario per test (tests/support/multiproc.h explains the
// harness). test_comm_multiproc.cc drives it.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bootstrap/unique_id.h"
#include "bootstrap/wire.h"
#include "comm/comm.h"
#include "support/rank_main.h"

using sam::test::RankContext;
using Clock = std::chrono::steady_clock;

namespace {

double secondsSince(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

samConfig_t configFrom(const RankContext& ctx) {
  samConfig_t cfg = SAM_CONFIG_INITIALIZER;
  if (ctx.has("timeout-ms")) cfg.timeoutMs = static_cast<int>(ctx.getInt("timeout-ms", 0));
  return cfg;
}

// Deterministic bytes for (seed, round, rank): every rank can rebuild what any
// other rank sent, and a fresh seed per run gives fresh data.
std::string makeBlob(uint64_t seed, int round, int rank, size_t size) {
  std::mt19937_64 gen(seed * 1000003u + static_cast<uint64_t>(round) * 7919u + static_cast<uint64_t>(rank));
  std::string s(size, '\0');
  for (char& c : s) c = static_cast<char>(gen());
  return s;
}

// Sizes vary by rank within a round (0 bytes and ~1 MB included).
size_t blobSize(int round, int rank) {
  static const long base[] = {0, 1, 7, 4096 + 13, (1 << 20) + 3, 100};
  long s = base[round % 6] + (round % 6 == 0 ? 0 : ((rank * 7 + round) % 5) - 2);
  if (round % 6 == 5 && rank % 2 == 1) s = 0;  // some ranks empty, others not
  return static_cast<size_t>(s < 0 ? 0 : s);
}

std::vector<std::string> split(const std::string& s) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= s.size()) {
    size_t c = s.find(',', start);
    if (c == std::string::npos) c = s.size();
    out.push_back(s.substr(start, c - start));
    start = c + 1;
  }
  return out;
}

// Node count, node, local rank/size and links against what --hosts implies
// (the host id of each rank, as the driver set SAM_HOST_ID; absent = one node).
void checkTopology(const RankContext& ctx, samComm_t comm) {
  const int n = ctx.nranks;
  std::vector<std::string> hosts = ctx.has("hosts") ? split(ctx.get("hosts")) : std::vector<std::string>(n, "one");
  RANK_CHECK(static_cast<int>(hosts.size()) == n, "--hosts has %zu entries", hosts.size());
  std::vector<int> expNode(n), expLocal(n);
  std::vector<std::string> seen;
  std::vector<int> perNode;
  for (int r = 0; r < n; ++r) {
    int node = -1;
    for (size_t i = 0; i < seen.size(); ++i)
      if (seen[i] == hosts[r]) node = static_cast<int>(i);
    if (node < 0) {
      node = static_cast<int>(seen.size());
      seen.push_back(hosts[r]);
      perNode.push_back(0);
    }
    expNode[r] = node;
    expLocal[r] = perNode[node]++;
  }
  int v = -1;
  RANK_CHECK_OK(samCommRank(comm, &v));
  RANK_CHECK(v == ctx.rank, "rank %d", v);
  RANK_CHECK_OK(samCommSize(comm, &v));
  RANK_CHECK(v == n, "size %d", v);
  RANK_CHECK_OK(samCommNodeCount(comm, &v));
  RANK_CHECK(v == static_cast<int>(seen.size()), "node count %d, expected %zu", v, seen.size());
  RANK_CHECK_OK(samCommNode(comm, &v));
  RANK_CHECK(v == expNode[ctx.rank], "node %d, expected %d", v, expNode[ctx.rank]);
  RANK_CHECK_OK(samCommLocalRank(comm, &v));
  RANK_CHECK(v == expLocal[ctx.rank], "local rank %d, expected %d", v, expLocal[ctx.rank]);
  RANK_CHECK_OK(samCommLocalSize(comm, &v));
  RANK_CHECK(v == perNode[expNode[ctx.rank]], "local size %d, expected %d", v, perNode[expNode[ctx.rank]]);
  std::vector<int> nodes(n + 1, -7);  // poisoned, one guard entry
  RANK_CHECK_OK(samCommRankNodes(comm, nodes.data()));
  for (int r = 0; r < n; ++r) RANK_CHECK(nodes[r] == expNode[r], "rank %d on node %d, expected %d", r, nodes[r], expNode[r]);
  RANK_CHECK(nodes[n] == -7, "samCommRankNodes wrote past the end");
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b) {
      samLinkClass_t link;
      RANK_CHECK_OK(samCommLinkClass(comm, a, b, &link));
      samLinkClass_t want = a == b ? samLinkSelf : expNode[a] == expNode[b] ? samLinkNode : samLinkNet;
      RANK_CHECK(link == want, "link %d-%d is class %d, expected %d", a, b, static_cast<int>(link), static_cast<int>(want));
    }
  samLinkClass_t link;
  RANK_CHECK(samCommLinkClass(comm, 0, n, &link) == samInvalidArgument, "rankB out of range accepted");
  RANK_CHECK(strstr(samGetLastError(), "rankB") != nullptr, "error does not name rankB: %s", samGetLastError());
}

int scenarioCollectives(RankContext& ctx) {
  samConfig_t cfg = configFrom(ctx);
  samComm_t comm = nullptr;
  RANK_CHECK_OK(ctx.initComm(&comm, &cfg));
  checkTopology(ctx, comm);
  const uint64_t seed = static_cast<uint64_t>(ctx.getInt("seed", 1));
  sam::Bootstrap& boot = *comm->bootstrap;
  for (int round = 0; round < 6; ++round) {
    std::vector<std::string> all = {"poison"};
    RANK_CHECK_OK(boot.allgather(makeBlob(seed, round, ctx.rank, blobSize(round, ctx.rank)), &all));
    RANK_CHECK(static_cast<int>(all.size()) == ctx.nranks, "allgather gave %zu blobs", all.size());
    for (int r = 0; r < ctx.nranks; ++r)
      RANK_CHECK(all[r] == makeBlob(seed, round, r, blobSize(round, r)), "allgather round %d: blob of rank %d differs (%zu bytes)",
                 round, r, all[r].size());
  }
  for (int root = 0; root < ctx.nranks; ++root) {
    int round = 100 + root;
    std::string blob = ctx.rank == root ? makeBlob(seed, round, root, blobSize(root, root)) : std::string("poison");
    RANK_CHECK_OK(boot.broadcast(root, &blob));
    RANK_CHECK(blob == makeBlob(seed, round, root, blobSize(root, root)), "broadcast from %d differs", root);
  }
  for (int i = 0; i < 3; ++i) RANK_CHECK_OK(samCommBarrier(comm));
  std::string dummy;
  RANK_CHECK(boot.broadcast(ctx.nranks, &dummy) == samInvalidArgument, "broadcast root out of range accepted");
  // No data path ran: every counter is zero; bad arguments are named.
  samTrafficCounter_t c;
  for (int p = 0; p < ctx.nranks; ++p)
    for (int t = 0; t < samNumTransports; ++t) {
      memset(&c, 0xff, sizeof(c));
      RANK_CHECK_OK(samCommGetTraffic(comm, p, static_cast<samTransport_t>(t), &c));
      RANK_CHECK(c.bytesSent == 0 && c.bytesReceived == 0 && c.messagesSent == 0 && c.messagesReceived == 0,
                 "traffic not zero");
    }
  RANK_CHECK(samCommGetTraffic(comm, ctx.nranks, samTransportShm, &c) == samInvalidArgument, "peer out of range");
  RANK_CHECK(strstr(samGetLastError(), "peer") != nullptr, "%s", samGetLastError());
  RANK_CHECK_OK(samCommResetTraffic(comm));
  samResult_t async = samInternalError;
  RANK_CHECK_OK(samCommGetAsyncError(comm, &async));
  RANK_CHECK(async == samSuccess, "async error %d", async);
  RANK_CHECK_OK(samCommDestroy(comm));
  printf("[rank %d] collectives passed\n", ctx.rank);
  return 0;
}

// Expects `r` to be `want` with `needle` in the last error, within 2.5x the timeout.
void expectFailure(samResult_t r, samResult_t want, const char* needle, Clock::time_point t0, int timeoutMs) {
  std::string err = samGetLastError();
  double s = secondsSince(t0);
  printf("[rank %d] got %s after %.2f s: %s\n", sam::test::currentRank(), samGetErrorString(r), s, err.c_str());
  RANK_CHECK(r == want, "expected %s, got %s: %s", samGetErrorString(want), samGetErrorString(r), err.c_str());
  RANK_CHECK(err.find(needle) != std::string::npos, "error text lacks '%s': %s", needle, err.c_str());
  // Generous: proves "no hang", not speed.
  RANK_CHECK(s < 2.5 * timeoutMs / 1000.0 + 1.0, "failure took %.2f s for a %d ms timeout", s, timeoutMs);
}

// The driver never starts rank --missing; every started rank must time out naming it.
int scenarioNeverArrives(RankContext& ctx) {
  samConfig_t cfg = configFrom(ctx);
  samComm_t comm = nullptr;
  auto t0 = Clock::now();
  samResult_t r = ctx.initComm(&comm, &cfg);
  std::string needle = "missing ranks: " + ctx.get("missing");
  expectFailure(r, samTimeout, needle.c_str(), t0, cfg.timeoutMs);
  RANK_CHECK(comm == nullptr, "comm written on failure");
  return 0;
}

// Rank --victim is killed (SIGKILL) after a good barrier; the others' next
// barrier must fail with a remote error (or a timeout) within the timeout.
int scenarioDiesAfterInit(RankContext& ctx) {
  samConfig_t cfg = configFrom(ctx);
  samComm_t comm = nullptr;
  RANK_CHECK_OK(ctx.initComm(&comm, &cfg));
  RANK_CHECK_OK(samCommBarrier(comm));
  int victim = static_cast<int>(ctx.getInt("victim", 1));
  if (ctx.rank == victim) raise(SIGKILL);
  auto t0 = Clock::now();
  samResult_t r = samCommBarrier(comm);
  std::string err = samGetLastError();
  printf("[rank %d] barrier after rank %d died: %s after %.2f s: %s\n", ctx.rank, victim, samGetErrorString(r),
         secondsSince(t0), err.c_str());
  RANK_CHECK(r == samRemoteError, "expected a remote error, got %s: %s", samGetErrorString(r), err.c_str());
  std::string who = victim == 0 ? "root (rank 0)" : "rank " + std::to_string(victim);
  RANK_CHECK(err.find(who) != std::string::npos, "error does not name %s: %s", who.c_str(), err.c_str());
  RANK_CHECK(secondsSince(t0) < 2.5 * cfg.timeoutMs / 1000.0 + 1.0, "took too long");
  samResult_t async = samSuccess;
  RANK_CHECK_OK(samCommGetAsyncError(comm, &async));
  RANK_CHECK(async == samRemoteError, "async error is %s", samGetErrorString(async));
  // Broken for good: the next call fails at once with the same code.
  RANK_CHECK(samCommBarrier(comm) == samRemoteError, "second barrier did not fail");
  RANK_CHECK(strstr(samGetLastError(), "earlier failure") != nullptr, "%s", samGetLastError());
  RANK_CHECK_OK(samCommDestroy(comm));
  return 0;
}

// Rank --victim stops answering (sleeps past the others' timeout); the others
// must time out naming it.
int scenarioHangsAfterInit(RankContext& ctx) {
  samConfig_t cfg = configFrom(ctx);
  samComm_t comm = nullptr;
  RANK_CHECK_OK(ctx.initComm(&comm, &cfg));
  RANK_CHECK_OK(samCommBarrier(comm));
  int victim = static_cast<int>(ctx.getInt("victim", 1));
  if (ctx.rank == victim) {
    std::this_thread::sleep_for(std::chrono::milliseconds(cfg.timeoutMs * 2));
    samCommDestroy(comm);
    return 0;
  }
  auto t0 = Clock::now();
  samResult_t r = samCommBarrier(comm);
  std::string needle = "missing ranks: " + std::to_string(victim);
  expectFailure(r, samTimeout, needle.c_str(), t0, cfg.timeoutMs);
  samResult_t async = samSuccess;
  RANK_CHECK_OK(samCommGetAsyncError(comm, &async));
  RANK_CHECK(async == samTimeout, "async error is %s", samGetErrorString(async));
  RANK_CHECK_OK(samCommDestroy(comm));
  return 0;
}

// Rank 0 aborts while another of its threads is blocked in a barrier that
// cannot complete (rank 1 does not join); the blocked call must return at
// once, long before the (long) timeout. Rank 1 then sees the root gone.
int scenarioAbort(RankContext& ctx) {
  samConfig_t cfg = configFrom(ctx);
  samComm_t comm = nullptr;
  RANK_CHECK_OK(ctx.initComm(&comm, &cfg));
  RANK_CHECK_OK(samCommAbort(nullptr));
  if (ctx.rank == 0) {
    std::atomic<int> result{-1};
    std::atomic<bool> returned{false};
    std::thread blocked([&] {
      result = samCommBarrier(comm);
      returned = true;
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    RANK_CHECK(!returned, "barrier returned although rank 1 never joined");
    auto t0 = Clock::now();
    RANK_CHECK_OK(samCommAbort(comm));
    blocked.join();
    double s = secondsSince(t0);
    printf("[rank 0] blocked barrier returned %s %.3f s after abort\n", samGetErrorString(static_cast<samResult_t>(result.load())), s);
    RANK_CHECK(result == samInvalidUsage, "blocked barrier returned %d", result.load());
    RANK_CHECK(s < cfg.timeoutMs / 1000.0 / 4, "abort took %.2f s to wake the barrier", s);
    RANK_CHECK(samCommBarrier(comm) == samInvalidUsage, "barrier after abort did not fail");
    RANK_CHECK(strstr(samGetLastError(), "aborted") != nullptr, "%s", samGetLastError());
    int v = -1;
    RANK_CHECK_OK(samCommSize(comm, &v));
    samResult_t async = samInternalError;
    RANK_CHECK_OK(samCommGetAsyncError(comm, &async));
    RANK_CHECK(async == samSuccess, "abort recorded an async error %d", async);
    RANK_CHECK_OK(samCommAbort(comm));  // twice is fine
    RANK_CHECK_OK(samCommDestroy(comm));
    return 0;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(800));  // rank 0 aborts meanwhile
  auto t0 = Clock::now();
  samResult_t r = samCommBarrier(comm);
  expectFailure(r, samRemoteError, "rank 0", t0, 2000);
  RANK_CHECK_OK(samCommDestroy(comm));
  return 0;
}

// Every rank must fail naming the field (--field) that some rank disagrees on.
int scenarioMismatch(RankContext& ctx) {
  samConfig_t cfg = configFrom(ctx);
  if (ctx.has("odd-timeout-ms") && ctx.rank == ctx.getInt("odd", -1))
    cfg.timeoutMs = static_cast<int>(ctx.getInt("odd-timeout-ms", 0));
  samComm_t comm = nullptr;
  auto t0 = Clock::now();
  samResult_t r = ctx.initComm(&comm, &cfg);
  std::string needle = "ranks disagree on " + ctx.get("field");
  expectFailure(r, samInvalidArgument, needle.c_str(), t0, std::max(cfg.timeoutMs, 1));
  RANK_CHECK(comm == nullptr, "comm written on failure");
  return 0;
}

int connectTo(const sam::RootAddress& root) {
  int fd = socket(root.family == 6 ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
  RANK_CHECK(fd >= 0, "socket");
  int rc;
  if (root.family == 6) {
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    memcpy(&a.sin6_addr, root.addr, 16);
    a.sin6_port = htons(root.port);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  } else {
    sockaddr_in a{};
    a.sin_family = AF_INET;
    memcpy(&a.sin_addr, root.addr, 4);
    a.sin_port = htons(root.port);
    rc = connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  }
  RANK_CHECK(rc == 0, "connect to the root: %s", strerror(errno));
  return fd;
}

// True when the peer closes the connection within timeoutMs.
bool closedByPeer(int fd, int timeoutMs) {
  auto deadline = Clock::now() + std::chrono::milliseconds(timeoutMs);
  char buf[256];
  while (Clock::now() < deadline) {
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, 50) > 0) {
      ssize_t n = recv(fd, buf, sizeof(buf), 0);
      if (n <= 0) return true;
    }
  }
  return false;
}

// Before joining, rank 1 attacks the root: garbage, a wrong secret, an
// oversized message, a truncated hello, a silent connection. Each must be
// closed by the root; the rendezvous must then succeed for everyone.
int scenarioIntruders(RankContext& ctx) {
  samConfig_t cfg = configFrom(ctx);
  if (ctx.rank == 1) {
    samUniqueId id;
    RANK_CHECK(ctx.shareUniqueId(&id), "no unique id");
    sam::UniqueIdContents c;
    std::string why;
    RANK_CHECK(sam::decodeUniqueId(id, &c, &why), "%s", why.c_str());
    std::mt19937 gen(static_cast<unsigned>(ctx.getInt("seed", 1)));
    std::string garbage(200, '\0');
    for (char& ch : garbage) ch = static_cast<char>(gen());
    sam::wire::Secret wrong = c.secret;
    wrong[3] ^= 0x40;
    std::string wrongSecret = sam::wire::encodeHello(1, ctx.nranks, wrong);
    std::string oversized = sam::wire::encodeHello(1, ctx.nranks, c.secret);
    oversized[16] = oversized[17] = oversized[18] = static_cast<char>(0xff);  // length ~16M
    std::string truncated = sam::wire::encodeHello(1, ctx.nranks, c.secret).substr(0, 26);
    struct Attack { const char* name; std::string bytes; };
    std::vector<Attack> attacks = {{"garbage", garbage}, {"wrong secret", wrongSecret}, {"oversized", oversized}};
    int silent = connectTo(c.root);  // says nothing while the others run
    int cut = connectTo(c.root);
    RANK_CHECK(send(cut, truncated.data(), truncated.size(), 0) == static_cast<ssize_t>(truncated.size()), "send");
    shutdown(cut, SHUT_WR);  // a hello cut short, then EOF
    for (const Attack& a : attacks) {
      int fd = connectTo(c.root);
      RANK_CHECK(send(fd, a.bytes.data(), a.bytes.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(a.bytes.size()), "send");
      RANK_CHECK(closedByPeer(fd, 5000), "root kept the %s connection open", a.name);
      close(fd);
    }
    RANK_CHECK(closedByPeer(cut, 5000), "root kept the truncated connection open");
    close(cut);
    samComm_t comm = nullptr;
    RANK_CHECK_OK(samCommInitRank(&comm, ctx.nranks, id, ctx.rank, &cfg));
    RANK_CHECK_OK(samCommBarrier(comm));
    close(silent);
    RANK_CHECK_OK(samCommDestroy(comm));
    return 0;
  }
  samComm_t comm = nullptr;
  RANK_CHECK_OK(ctx.initComm(&comm, &cfg));
  RANK_CHECK_OK(samCommBarrier(comm));
  RANK_CHECK_OK(samCommDestroy(comm));
  return 0;
}

// Init from launcher variables the driver set (torchrun, Open MPI, SAM_*).
int scenarioEnv(RankContext& ctx) {
  samConfig_t cfg = configFrom(ctx);
  samComm_t comm = nullptr;
  auto t0 = Clock::now();
  samResult_t r = samCommInitFromEnv(&comm, &cfg);
  if (ctx.has("expect-missing")) {
    std::string needle = "missing ranks: " + ctx.get("expect-missing");
    expectFailure(r, samTimeout, needle.c_str(), t0, cfg.timeoutMs);
    return 0;
  }
  RANK_CHECK(r == samSuccess, "samCommInitFromEnv: %s: %s", samGetErrorString(r), samGetLastError());
  int v = -1;
  RANK_CHECK_OK(samCommRank(comm, &v));
  RANK_CHECK(v == ctx.rank, "rank from env %d, expected %d", v, ctx.rank);
  RANK_CHECK_OK(samCommSize(comm, &v));
  RANK_CHECK(v == ctx.nranks, "size from env %d", v);
  std::vector<std::string> all;
  RANK_CHECK_OK(comm->bootstrap->allgather(std::to_string(ctx.rank * 11), &all));
  for (int i = 0; i < ctx.nranks; ++i) RANK_CHECK(all[i] == std::to_string(i * 11), "allgather[%d]", i);
  RANK_CHECK_OK(samCommBarrier(comm));
  RANK_CHECK_OK(samCommDestroy(comm));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return sam::test::rankMain(argc, argv,
                             {{"collectives", scenarioCollectives},
                              {"never_arrives", scenarioNeverArrives},
                              {"dies_after_init", scenarioDiesAfterInit},
                              {"hangs_after_init", scenarioHangsAfterInit},
                              {"abort", scenarioAbort},
                              {"mismatch", scenarioMismatch},
                              {"intruders", scenarioIntruders},
                              {"env", scenarioEnv}});
}
