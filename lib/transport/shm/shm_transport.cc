#include "transport/shm/shm_transport.h"

#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <thread>

#include "core/error.h"
#include "core/log.h"
#include "core/params.h"
#include "transport/row_exchange.h"
#include "transport/shm/shm_window.h"

namespace sam {
namespace {

uint64_t loadAcquire(const ShmCounter& c) { return __atomic_load_n(&c.value, __ATOMIC_ACQUIRE); }
void storeRelease(ShmCounter& c, uint64_t v) { __atomic_store_n(&c.value, v, __ATOMIC_RELEASE); }

// A process that is gone or a zombie (killed, not yet reaped) is dead.
bool processDead(int64_t pid) {
  if (kill(static_cast<pid_t>(pid), 0) != 0) return errno == ESRCH;
  char path[64];
  snprintf(path, sizeof(path), "/proc/%" PRId64 "/stat", pid);
  FILE* f = fopen(path, "r");
  if (f == nullptr) return false;
  char buf[512];
  size_t n = fread(buf, 1, sizeof(buf) - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char* close = strrchr(buf, ')');  // the command name may hold spaces
  return close != nullptr && close[1] == ' ' && (close[2] == 'Z' || close[2] == 'X');
}

class ShmTransport : public Transport, public RowTransport {
 public:
  ShmTransport(int rank, std::vector<int> localRankOf, const std::atomic<bool>* aborted)
      : rank_(rank), localRankOf_(std::move(localRankOf)), aborted_(aborted) {
    const size_t n = localRankOf_.size();
    windows_.resize(n);
    sendNext_.assign(n, 0);
    recvNext_.assign(n, 0);
    watchPid_.assign(n, 0);
  }
  samTransport_t kind() const override { return samTransportShm; }

  samResult_t post(const ExchangeSpec& spec, const std::vector<int>& peers, uint64_t seq,
                   TrafficTable& traffic) override {
    SAM_CHECK(begin(peers, seq));
    for (int p : peers) {
      if (spec.sendBytes[p] > 0) {
        sends_.push_back(Flow::contiguous(p, spec.send + spec.sendOffsets[p], spec.sendBytes[p]));
        traffic.countSend(p, samTransportShm, spec.sendBytes[p]);
      }
      if (spec.recvBytes[p] > 0) {
        recvs_.push_back(Flow::contiguous(p, spec.recv + spec.recvOffsets[p], spec.recvBytes[p]));
        traffic.countRecv(p, samTransportShm, spec.recvBytes[p]);
      }
    }
    return samSuccess;
  }

  samResult_t postRows(const RowExchangeSpec& spec, const std::vector<int>& peers, uint64_t seq,
                       TrafficTable& traffic) override {
    SAM_CHECK(begin(peers, seq));
    rowSpec_ = spec;
    for (int p : peers) {
      const int64_t out = spec.sendOffset[p + 1] - spec.sendOffset[p];
      const int64_t in = spec.recvOffset[p + 1] - spec.recvOffset[p];
      if (out > 0) {
        sends_.push_back(Flow::rows(p, &rowSpec_, spec.sendOffset[p], out * spec.rowBytes));
        traffic.countSend(p, samTransportShm, out * spec.rowBytes);
      }
      if (in > 0) {
        recvs_.push_back(Flow::rows(p, &rowSpec_, spec.recvOffset[p], in * spec.rowBytes));
        traffic.countRecv(p, samTransportShm, in * spec.rowBytes);
      }
    }
    return samSuccess;
  }

  samResult_t wait(const Deadline& deadline) override {
    auto lastCheck = Deadline::Clock::now();
    int idle = 0;
    for (;;) {
      bool progress = false, pending = false;
      for (Flow& f : sends_) {
        if (f.left == 0) continue;
        SAM_CHECK(pushChunks(f, &progress));
        pending |= f.left > 0;
      }
      for (Flow& f : recvs_) {
        if (f.left == 0) continue;
        SAM_CHECK(pullChunks(f, &progress));
        pending |= f.left > 0;
      }
      if (!pending) return samSuccess;
      if (progress) {
        idle = 0;
        continue;
      }
      // Waiting on peers: check the abort flag, the deadline and, now and
      // then, whether a peer we wait for has died.
      if (aborted_ != nullptr && aborted_->load(std::memory_order_relaxed))
        return fail(samInvalidUsage, "shm: the communicator was aborted during an exchange");
      auto now = Deadline::Clock::now();
      if (deadline.expired()) return fail(samTimeout, "shm: timed out waiting for " + stuckPeers());
      if (now - lastCheck > std::chrono::milliseconds(50)) {
        lastCheck = now;
        SAM_CHECK(checkPeersAlive());
      }
      // Back off: with more ranks than cores, spinning steals the peer's time.
      if (++idle < 64) {
        sched_yield();
      } else {
        std::this_thread::sleep_for(std::chrono::microseconds(20));
      }
    }
  }

  samResult_t setup(Bootstrap& bs, const std::vector<int>& nodeOfRank, const ShmOptions& opt);

 private:
  // One direction of the exchange with one peer: either a contiguous block,
  // or a run of rows (gathered by index on send, scattered to every
  // destination row on receive) seen as one byte stream.
  struct Flow {
    int peer = -1;
    size_t left = 0;
    uint8_t* data = nullptr;              // contiguous block (const for sends)
    const RowExchangeSpec* rs = nullptr;  // rows mode
    int64_t vec = 0;                      // current vector
    size_t off = 0;                       // bytes of it already moved
    static Flow contiguous(int p, const uint8_t* d, size_t n) {
      Flow f;
      f.peer = p;
      f.data = const_cast<uint8_t*>(d);
      f.left = n;
      return f;
    }
    static Flow rows(int p, const RowExchangeSpec* rs, int64_t firstVector, size_t n) {
      Flow f;
      f.peer = p;
      f.rs = rs;
      f.vec = firstVector;
      f.left = n;
      return f;
    }
    // Copies the next n bytes of the stream into dst.
    void gather(uint8_t* dst, size_t n) {
      left -= n;
      if (rs == nullptr) {
        memcpy(dst, data, n);
        data += n;
        return;
      }
      while (n > 0) {
        const size_t m = std::min(n, rs->rowBytes - off);
        memcpy(dst, rs->sendVector(vec) + off, m);
        advance(m);
        dst += m;
        n -= m;
      }
    }
    // Places the next n bytes of the stream from src.
    void scatter(const uint8_t* src, size_t n) {
      left -= n;
      if (rs == nullptr) {
        memcpy(data, src, n);
        data += n;
        return;
      }
      while (n > 0) {
        const size_t m = std::min(n, rs->rowBytes - off);
        rs->forEachDest(vec, [&](uint8_t* row) { memcpy(row + off, src, m); });
        advance(m);
        src += m;
        n -= m;
      }
    }
    void advance(size_t m) {
      off += m;
      if (off == rs->rowBytes) off = 0, ++vec;
    }
  };

  samResult_t begin(const std::vector<int>& peers, uint64_t seq) {
    sends_.clear();
    recvs_.clear();
    seq_ = seq;
    for (int p : peers)
      if (windows_[p] == nullptr || p == rank_)
        return failf(samInternalError, "shm: rank %d is not a shared-memory peer of rank %d", p, rank_);
    return samSuccess;
  }

  samResult_t pushChunks(Flow& f, bool* progress) {
    ShmWindow& w = *windows_[f.peer];
    const uint32_t c = localRankOf_[rank_];
    ShmChannelCtl* ctl = w.channel(c);
    const uint64_t cap = w.geometry().chunkBytes, slots = w.geometry().slots;
    uint64_t& next = sendNext_[f.peer];
    while (f.left > 0 && next - loadAcquire(ctl->tail) < slots) {
      const size_t n = f.left < cap ? f.left : cap;
      ShmSlotHeader* s = w.slot(c, next);
      f.gather(w.slotData(c, next), n);
      s->seq = seq_;
      s->chunk = next;
      s->bytes = n;
      storeRelease(ctl->head, ++next);
      *progress = true;
    }
    return samSuccess;
  }

  samResult_t pullChunks(Flow& f, bool* progress) {
    ShmWindow& w = *windows_[rank_];
    const uint32_t c = localRankOf_[f.peer];
    ShmChannelCtl* ctl = w.channel(c);
    const uint64_t cap = w.geometry().chunkBytes;
    uint64_t& next = recvNext_[f.peer];
    while (f.left > 0 && next < loadAcquire(ctl->head)) {
      const size_t n = f.left < cap ? f.left : cap;
      const ShmSlotHeader* s = w.slot(c, next);
      if (s->seq != seq_ || s->chunk != next || s->bytes != n)
        return failf(samInternalError,
                     "shm: exchange out of step with rank %d: chunk %llu of exchange %llu (%llu bytes), expected chunk "
                     "%llu of exchange %llu (%zu bytes)", f.peer, static_cast<unsigned long long>(s->chunk),
                     static_cast<unsigned long long>(s->seq), static_cast<unsigned long long>(s->bytes),
                     static_cast<unsigned long long>(next), static_cast<unsigned long long>(seq_), n);
      f.scatter(w.slotData(c, next), n);
      storeRelease(ctl->tail, ++next);
      *progress = true;
    }
    return samSuccess;
  }

  std::string stuckPeers() const {
    std::string s;
    for (const Flow& f : sends_)
      if (f.left > 0) s += (s.empty() ? "" : ", ") + std::string("rank ") + std::to_string(f.peer) + " to take " +
                           std::to_string(f.left) + " bytes";
    for (const Flow& f : recvs_)
      if (f.left > 0) s += (s.empty() ? "" : ", ") + std::string("rank ") + std::to_string(f.peer) + " to send " +
                           std::to_string(f.left) + " bytes";
    return s + " (exchange " + std::to_string(seq_) + ")";
  }

  samResult_t checkPeersAlive() const {
    for (const std::vector<Flow>* flows : {&sends_, &recvs_})
      for (const Flow& f : *flows)
        if (f.left > 0 && watchPid_[f.peer] > 0 && processDead(watchPid_[f.peer]))
          return failf(samRemoteError, "shm: rank %d (pid %lld) died during exchange %llu", f.peer,
                       static_cast<long long>(watchPid_[f.peer]), static_cast<unsigned long long>(seq_));
    return samSuccess;
  }

  int rank_;
  std::vector<int> localRankOf_;  // [nranks] channel index of each rank on its node
  const std::atomic<bool>* aborted_;
  std::vector<std::unique_ptr<ShmWindow>> windows_;  // [nranks] mapped windows (own and same-node peers)
  std::vector<uint64_t> sendNext_, recvNext_;        // [nranks] running chunk numbers per channel
  std::vector<int64_t> watchPid_;                    // [nranks] pid to watch, 0 = cannot see it
  std::vector<Flow> sends_, recvs_;
  RowExchangeSpec rowSpec_;  // the rows of the exchange in flight (rows mode)
  uint64_t seq_ = 0;
};

samResult_t ShmTransport::setup(Bootstrap& bs, const std::vector<int>& nodeOfRank, const ShmOptions& opt) {
  const int R = bs.size();
  std::vector<int> local;  // ranks of this node
  for (int r = 0; r < R; ++r)
    if (nodeOfRank[r] == nodeOfRank[rank_]) local.push_back(r);
  ShmGeometry g;
  g.channels = static_cast<uint32_t>(local.size());
  g.slots = opt.slots;
  g.chunkBytes = opt.chunkBytes;

  // One random tag per communicator, from rank 0, makes the names unique on
  // the machine even across jobs and users.
  std::string tag;
  if (rank_ == 0) {
    std::random_device rd;
    char buf[40];
    snprintf(buf, sizeof(buf), "%08x%08x-%d", rd(), rd(), static_cast<int>(getpid()));
    tag = buf;
  }
  SAM_CHECK(bs.broadcast(0, &tag));

  std::string mine;  // our window's path, or an error mark
  samResult_t created = samSuccess;
  if (local.size() > 1) {
    mine = opt.dir + "/sam-" + tag + "-r" + std::to_string(rank_);
    windows_[rank_] = std::make_unique<ShmWindow>();
    created = windows_[rank_]->create(mine, g);
    if (created != samSuccess) mine = "!";
  }
  std::vector<std::string> paths;
  SAM_CHECK(bs.allgather(mine, &paths));

  samResult_t mapped = created;
  std::string badPeers;
  for (int r : local) {
    if (paths[r] == "!") badPeers += (badPeers.empty() ? "" : ", ") + std::to_string(r);
    if (r == rank_ || mapped != samSuccess || paths[r] == "!") continue;
    windows_[r] = std::make_unique<ShmWindow>();
    mapped = windows_[r]->open(paths[r], g);
    if (mapped == samSuccess) {
      int64_t pid = windows_[r]->header()->ownerPid;
      // A peer in another pid namespace is not visible: leave it to the timeout.
      watchPid_[r] = kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM ? pid : 0;
    }
  }
  // Everyone mapped (or failed): now the names can go.
  std::vector<std::string> verdicts;
  samResult_t gathered = bs.allgather(mapped == samSuccess && badPeers.empty() ? "ok" : "fail", &verdicts);
  if (windows_[rank_]) windows_[rank_]->unlink();
  SAM_CHECK(gathered);
  if (mapped != samSuccess) return mapped;
  if (!badPeers.empty()) return fail(samRemoteError, "shm: rank(s) " + badPeers + " could not create their window");
  for (int r : local)
    if (verdicts[r] != "ok") return failf(samRemoteError, "shm: rank %d could not map the windows of its node", r);
  return samSuccess;
}

}  // namespace

samResult_t createShmTransport(Bootstrap& bootstrap, const std::vector<int>& nodeOfRank,
                               const std::atomic<bool>* aborted, const ShmOptions& options,
                               std::unique_ptr<Transport>* out) {
  const int R = bootstrap.size(), rank = bootstrap.rank();
  if (static_cast<int>(nodeOfRank.size()) != R)
    return failf(samInternalError, "shm: nodeOfRank has %zu entries for %d ranks", nodeOfRank.size(), R);
  ShmOptions opt = options;
  if (opt.chunkBytes == 0) opt.chunkBytes = static_cast<uint64_t>(paramInt("SAM_SHM_CHUNK_BYTES"));
  if (opt.slots == 0) opt.slots = static_cast<uint32_t>(paramInt("SAM_SHM_CHUNKS"));
  if (opt.dir.empty()) opt.dir = paramString("SAM_SHM_DIR");
  if (opt.chunkBytes < 64 || opt.slots < 1)
    return failf(samInvalidArgument, "shm: SAM_SHM_CHUNK_BYTES is %llu (must be >= 64) and SAM_SHM_CHUNKS is %u "
                 "(must be >= 1)", static_cast<unsigned long long>(opt.chunkBytes), opt.slots);
  std::vector<int> localRankOf(R, 0);
  std::vector<int> perNode;  // running count per node id
  for (int r = 0; r < R; ++r) {
    int node = nodeOfRank[r];
    if (node < 0) return failf(samInternalError, "shm: rank %d has node %d", r, node);
    if (static_cast<int>(perNode.size()) <= node) perNode.resize(node + 1, 0);
    localRankOf[r] = perNode[node]++;
  }
  auto t = std::make_unique<ShmTransport>(rank, std::move(localRankOf), aborted);
  SAM_CHECK(t->setup(bootstrap, nodeOfRank, opt));
  *out = std::move(t);
  return samSuccess;
}

}  // namespace sam
