#include "transport/exchange.h"

#include <algorithm>

#include "comm/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "transport/exchange_label.h"
#include "transport/host_backend.h"

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

samResult_t runExchange(samComm* comm, HostBackend& b, const ExchangeSpec& spec, uint64_t seq, TrafficTable& counted) {
  const Deadline deadline = Deadline::in(comm->config.timeoutMs);
  // Post the transports that make progress on their own first (UCX), the
  // shared-memory ring last; then drive shm, whose waits poll the peers.
  std::vector<Transport*> order;
  for (auto it = b.transports.rbegin(); it != b.transports.rend(); ++it) order.push_back(it->get());
  std::vector<std::vector<int>> peers(order.size());
  for (size_t i = 0; i < order.size(); ++i)
    for (int p = 0; p < comm->nranks; ++p)
      if (b.byPeer[p] == order[i]) peers[i].push_back(p);
  for (size_t i = 0; i < order.size(); ++i)
    if (!peers[i].empty()) SAM_CHECK(order[i]->post(spec, peers[i], seq, counted));
  std::vector<size_t> waitOrder;
  for (size_t i = 0; i < order.size(); ++i) waitOrder.push_back(i);
  std::stable_sort(waitOrder.begin(), waitOrder.end(), [&](size_t a, size_t c) {
    return (order[a]->kind() == samTransportShm) > (order[c]->kind() == samTransportShm);
  });
  for (size_t i : waitOrder)
    if (!peers[i].empty()) SAM_CHECK(order[i]->wait(deadline));
  return samSuccess;
}

}  // namespace

samResult_t exchange(samComm* comm, const ExchangeSpec& spec, TrafficTable* extra) {
  if (comm->aborted.load()) return fail(samInvalidUsage, "exchange: the communicator was aborted");
  HostBackend* b = nullptr;
  SAM_CHECK(hostBackend(comm, &b));
  if (!b->brokenBy.empty())
    return fail(samInvalidUsage, "exchange: the communicator's data path failed earlier (" + b->brokenBy +
                                     "); destroy it and make a new one");
  const uint64_t seq = b->nextSeq++;
  TrafficTable counted(comm->nranks);
  samResult_t r = runExchange(comm, *b, spec, seq, counted);
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

}  // namespace sam
