#include "transport/exchange.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "comm/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "transport/exchange_label.h"
#include "transport/host_backend.h"
#include "transport/row_exchange.h"

namespace sam {

thread_local const char* ExchangeLabel::current_ = nullptr;

namespace {

const char* transportName(samTransport_t t) {
  switch (t) {
    case samTransportSelf: return "self";
    case samTransportShm: return "shm";
    case samTransportUcx: return "ucx";
    case samTransportCudaIpc: return "cuda-ipc";
    case samTransportNccl: return "nccl";
    default: return "?";
  }
}

// to += from, cell by cell (messages included).
void addTraffic(TrafficTable& to, const TrafficTable& from) {
  for (int p = 0; p < from.nranks(); ++p) {
    for (int t = 0; t < samNumTransports; ++t) {
      const auto kind = static_cast<samTransport_t>(t);
      samTrafficCounter_t c = from.get(p, kind);
      for (uint64_t m = 0; m < c.messagesSent; ++m) to.countSend(p, kind, m == 0 ? c.bytesSent : 0);
      for (uint64_t m = 0; m < c.messagesReceived; ++m) to.countRecv(p, kind, m == 0 ? c.bytesReceived : 0);
    }
  }
}

void logTraffic(const samComm* comm, uint64_t seq, const TrafficTable& t) {
  if (!logEnabled(LOG_LEVEL_INFO, LOG_NET)) return;
  for (int p = 0; p < t.nranks(); ++p)
    for (int k = 0; k < samNumTransports; ++k) {
      samTrafficCounter_t c = t.get(p, static_cast<samTransport_t>(k));
      if (c.messagesSent + c.messagesReceived == 0) continue;
      SAM_INFO(LOG_NET, "%s (exchange %llu): peer %d via %s: sent %llu bytes in %llu messages, received %llu bytes in "
               "%llu messages", ExchangeLabel::current(), static_cast<unsigned long long>(seq), p, transportName(static_cast<samTransport_t>(k)),
               static_cast<unsigned long long>(c.bytesSent), static_cast<unsigned long long>(c.messagesSent),
               static_cast<unsigned long long>(c.bytesReceived), static_cast<unsigned long long>(c.messagesReceived));
    }
}

// The transports in the order they are posted (UCX first: it progresses on
// its own; the shared-memory ring last) and, for each, the peers it serves.
struct Route {
  std::vector<Transport*> order;
  std::vector<std::vector<int>> peers;
  Route(const samComm* comm, const HostBackend& b) {
    for (auto it = b.transports.rbegin(); it != b.transports.rend(); ++it) order.push_back(it->get());
    peers.resize(order.size());
    for (size_t i = 0; i < order.size(); ++i)
      for (int p = 0; p < comm->nranks; ++p)
        if (b.byPeer[p] == order[i]) peers[i].push_back(p);
  }
  // Drives shm first (its wait polls the peers), then the others.
  samResult_t waitAll(const Deadline& deadline) {
    for (int pass = 0; pass < 2; ++pass)
      for (size_t i = 0; i < order.size(); ++i)
        if (!peers[i].empty() && (order[i]->kind() == samTransportShm) == (pass == 0)) {
          const samResult_t r = order[i]->wait(deadline);
          if (r != samSuccess) {
            takeBack(i);
            return r;
          }
        }
    return samSuccess;
  }
  // After transport `failed` failed: the others may still have operations in
  // flight that point into buffers about to be freed (staging blocks, the
  // caller's arrays). A wait that is already past its deadline makes each of
  // them give those back (UCX lets healthy peers finish for a grace period,
  // then cancels). Their own errors are secondary: the first one is kept.
  void takeBack(size_t failed) {
    const std::string first = lastError();
    for (size_t i = 0; i < order.size(); ++i)
      if (i != failed && !peers[i].empty()) (void)order[i]->wait(Deadline::in(1));
    setLastError(first);
  }
};

samResult_t runExchange(samComm* comm, HostBackend& b, const ExchangeSpec& spec, uint64_t seq, TrafficTable& counted) {
  Route route(comm, b);
  for (size_t i = 0; i < route.order.size(); ++i)
    if (!route.peers[i].empty()) SAM_CHECK(route.order[i]->post(spec, route.peers[i], seq, counted));
  return route.waitAll(Deadline::in(comm->config.timeoutMs));
}

// Transports that cannot gather/scatter rows get packed blocks: staging
// buffers for their peers only, kept in the backend and grown on demand (an
// allocation per call cost its page faults and zero-fill every time).
samResult_t runRowExchange(samComm* comm, HostBackend& b, const RowExchangeSpec& rs, uint64_t seq,
                           TrafficTable& counted) {
  Route route(comm, b);
  const int R = comm->nranks;
  const size_t rb = rs.rowBytes;
  std::vector<size_t> sOff(R, 0), sBytes(R, 0), rOff(R, 0), rBytes(R, 0);
  std::vector<int> packedPeers;
  size_t sendTotal = 0, recvTotal = 0;
  for (size_t i = 0; i < route.order.size(); ++i) {
    if (dynamic_cast<RowTransport*>(route.order[i]) != nullptr) continue;
    for (int p : route.peers[i]) {
      packedPeers.push_back(p);
      sOff[p] = sendTotal;
      sBytes[p] = (rs.sendOffset[p + 1] - rs.sendOffset[p]) * rb;
      sendTotal += sBytes[p];
      rOff[p] = recvTotal;
      rBytes[p] = (rs.recvOffset[p + 1] - rs.recvOffset[p]) * rb;
      recvTotal += rBytes[p];
    }
  }
  std::vector<uint8_t>& sendStage = b.sendStage;
  std::vector<uint8_t>& recvStage = b.recvStage;
  if (sendStage.size() < sendTotal) sendStage.resize(sendTotal);
  if (recvStage.size() < recvTotal) recvStage.resize(recvTotal);
  for (int p : packedPeers)
    for (int64_t v = rs.sendOffset[p]; v < rs.sendOffset[p + 1]; ++v)
      rs.gatherVector(v, sendStage.data() + sOff[p] + (v - rs.sendOffset[p]) * rb);
  const ExchangeSpec packed{sendStage.data(), sOff.data(), sBytes.data(), recvStage.data(), rOff.data(), rBytes.data()};
  for (size_t i = 0; i < route.order.size(); ++i) {
    if (route.peers[i].empty()) continue;
    if (auto* rt = dynamic_cast<RowTransport*>(route.order[i]))
      SAM_CHECK(rt->postRows(rs, route.peers[i], seq, counted));
    else
      SAM_CHECK(route.order[i]->post(packed, route.peers[i], seq, counted));
  }
  SAM_CHECK(route.waitAll(Deadline::in(comm->config.timeoutMs)));
  for (int p : packedPeers)
    for (int64_t v = rs.recvOffset[p]; v < rs.recvOffset[p + 1]; ++v)
      rs.deliverVector(v, recvStage.data() + rOff[p] + (v - rs.recvOffset[p]) * rb);
  if (rs.streamDest) finishCopiesOut();
  return samSuccess;
}

// Everything around one exchange: the backend, the sequence number, the
// counters, and the rule that a failed exchange breaks the communicator.
template <typename Run>
samResult_t exchangeWith(samComm* comm, TrafficTable* extra, Run&& run) {
  if (comm->aborted.load()) return fail(samInvalidUsage, "exchange: the communicator was aborted");
  HostBackend* b = nullptr;
  SAM_CHECK(hostBackend(comm, &b));
  if (!b->brokenBy.empty())
    return fail(samInvalidUsage, "exchange: the communicator's data path failed earlier (" + b->brokenBy +
                                     "); destroy it and make a new one");
  const uint64_t seq = b->nextSeq++;
  TrafficTable counted(comm->nranks);
  samResult_t r = run(*b, seq, counted);
  addTraffic(comm->traffic, counted);
  if (extra != nullptr) addTraffic(*extra, counted);
  if (r != samSuccess) {
    b->brokenBy = lastError();
    int expected = samSuccess;
    comm->asyncError.compare_exchange_strong(expected, r);
    return r;
  }
  logTraffic(comm, seq, counted);
  return samSuccess;
}

}  // namespace

samResult_t exchange(samComm* comm, const ExchangeSpec& spec, TrafficTable* extra) {
  return exchangeWith(comm, extra, [&](HostBackend& b, uint64_t seq, TrafficTable& counted) {
    return runExchange(comm, b, spec, seq, counted);
  });
}

void abandonExchange(samComm* comm, const std::vector<size_t>& sendBytes, const std::string& why) {
  if (comm->nranks == 1 || comm->aborted.load()) return;
  HostBackend* b = nullptr;
  if (hostBackend(comm, &b) != samSuccess || !b->brokenBy.empty()) return;  // peers cannot be reached in step
  const uint64_t seq = b->nextSeq++;
  Route route(comm, *b);
  const std::string saved = lastError();  // the caller's argument error stays the one reported
  for (size_t i = 0; i < route.order.size(); ++i) {
    if (route.peers[i].empty()) continue;
    if (route.order[i]->abandon(route.peers[i], sendBytes, seq, why, Deadline::in(comm->config.timeoutMs)) !=
        samSuccess)
      SAM_WARN(LOG_NET, "could not tell every peer that exchange %llu was abandoned: %s",
               static_cast<unsigned long long>(seq), lastError());
  }
  setLastError(saved);
  b->brokenBy = "this rank abandoned exchange " + std::to_string(seq) + ": " + why;
}

samResult_t exchangeRows(samComm* comm, const RowExchangeSpec& spec, TrafficTable* extra) {
  return exchangeWith(comm, extra, [&](HostBackend& b, uint64_t seq, TrafficTable& counted) {
    return runRowExchange(comm, b, spec, seq, counted);
  });
}

}  // namespace sam
