#include "plan/plan_create.h"

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "core/error.h"
#include "core/log.h"
#include "plan/dtype_convert.h"
#include "plan/host_executor.h"
#include "transport/exchange.h"
#include "transport/exchange_label.h"

namespace sam {
namespace {

constexpr const char* kFn = "samPlanCreate";
constexpr int64_t kCountMagic = 0x53414d50434e54;  // "SAMPCNT"

// What every rank tells every rank before anything else: its status, the
// fields that must agree, and how many vectors and rows it sends to each rank.
struct CountHeader {
  int64_t magic;
  int64_t status;  // samSuccess, or this rank's own argument error
  int64_t hidden;
  int64_t dtype;
  int64_t topk;
  int64_t numExperts;
  int64_t maxRecvRows;
  int64_t numTokens;
};

size_t countBlockBytes(int nranks) { return sizeof(CountHeader) + 2 * sizeof(int64_t) * nranks; }

// Local checks; on failure returns the code (last error set) and the plan
// still takes part in the count exchange.
samResult_t checkRequest(const samComm* comm, const PlanRequest& req) {
  SAM_CHECK_ARG(req.route != nullptr, kFn, "route is NULL");
  SAM_CHECK_ARG(req.config != nullptr, kFn, "config is NULL");
  const samRouteConfig_t& rc = *req.route;
  const samPlanConfig_t& pc = *req.config;
  if (pc.magic != SAM_PLAN_CONFIG_MAGIC || pc.size < sizeof(samPlanConfig_t))
    return fail(samInvalidArgument, "samPlanCreate: config was not set up with SAM_PLAN_CONFIG_INITIALIZER "
                                    "(bad size or magic)");
  if (rc.magic != SAM_ROUTE_CONFIG_MAGIC)
    return fail(samInvalidArgument, "samPlanCreate: route config has a bad magic (use samRouteConfigPreset)");
  if (rc.numRanks != comm->nranks)
    return failf(samInvalidArgument, "samPlanCreate: route->numRanks is %d but the communicator has %d ranks",
                 rc.numRanks, comm->nranks);
  if (rc.numExperts <= 0 || rc.numExperts % rc.numRanks != 0)
    return failf(samInvalidArgument, "samPlanCreate: route->numExperts is %d, must be a positive multiple of %d ranks",
                 rc.numExperts, rc.numRanks);
  if (rc.topk <= 0) return failf(samInvalidArgument, "samPlanCreate: route->topk is %d, must be >= 1", rc.topk);
  if (pc.hidden <= 0) return failf(samInvalidArgument, "samPlanCreate: config->hidden is %d, must be >= 1", pc.hidden);
  if (!isDataPathType(pc.dtype))
    return failf(samInvalidArgument, "samPlanCreate: config->dtype is %d, must be samFloat32, samFloat16 or samBfloat16",
                 static_cast<int>(pc.dtype));
  if (pc.maxRecvRows < 0)
    return failf(samInvalidArgument, "samPlanCreate: config->maxRecvRows is %lld, must be >= 0 (0 = dropless)",
                 static_cast<long long>(pc.maxRecvRows));
  if (req.numTokens < 0 || req.numTokens > std::numeric_limits<int32_t>::max())
    return failf(samInvalidArgument, "samPlanCreate: numTokens is %lld, must be in [0, 2^31)",
                 static_cast<long long>(req.numTokens));
  if (req.numTokens > 0) {
    SAM_CHECK_ARG(req.expertIdx != nullptr, kFn, "expertIdx is NULL with numTokens > 0");
    SAM_CHECK_ARG(req.weights != nullptr, kFn, "weights is NULL with numTokens > 0");
  }
  ExpertPlacement p{rc.numExperts, rc.numRanks, rc.topk};
  RouteEntryError bad = findBadExpert(p, req.numTokens, req.expertIdx);
  if (bad.bad)
    return failf(samInvalidArgument, "samPlanCreate: expertIdx[%lld][%d] is %d, must be -1 (dropped) or in [0, %d)",
                 static_cast<long long>(bad.token), bad.slot, bad.value, rc.numExperts);
  return samSuccess;
}

// The same verdict on every rank, from the gathered count blocks.
samResult_t checkAgreement(const samComm* comm, const std::vector<CountHeader>& h, samResult_t mine,
                           const std::vector<int64_t>& rowsTo) {
  const int R = comm->nranks;
  std::string failed;
  for (int r = 0; r < R; ++r) {
    if (h[r].magic != kCountMagic)
      return failf(samInternalError, "samPlanCreate: garbled count block from rank %d", r);
    if (h[r].status != samSuccess && r != comm->rank) failed += (failed.empty() ? "" : ", ") + std::to_string(r);
  }
  if (mine != samSuccess) return mine;  // our own error text stays the last error
  if (!failed.empty())
    return fail(samRemoteError, "samPlanCreate: rank(s) " + failed + " rejected their arguments (see their logs)");
  struct Field {
    const char* name;
    int64_t CountHeader::*member;
  } fields[] = {{"config->hidden", &CountHeader::hidden},   {"config->dtype", &CountHeader::dtype},
                {"route->topk", &CountHeader::topk},         {"route->numExperts", &CountHeader::numExperts},
                {"config->maxRecvRows", &CountHeader::maxRecvRows}};
  for (const Field& f : fields)
    for (int r = 1; r < R; ++r)
      if (h[r].*f.member != h[0].*f.member)
        return failf(samInvalidArgument, "samPlanCreate: %s differs between ranks: %lld on rank 0, %lld on rank %d",
                     f.name, static_cast<long long>(h[0].*f.member), static_cast<long long>(h[r].*f.member), r);
  const int64_t budget = h[0].maxRecvRows;
  if (budget > 0)
    for (int r = 0; r < R; ++r)
      if (rowsTo[r] > budget)
        return failf(samInvalidArgument,
                     "samPlanCreate: capacity mode: rank %d would receive %lld expert rows but maxRecvRows is %lld "
                     "(raise maxRecvRows, or drop tokens in routing with a capacity factor)",
                     r, static_cast<long long>(rowsTo[r]), static_cast<long long>(budget));
  return samSuccess;
}

samResult_t exchangeEqualBlocks(samComm* comm, const std::vector<uint8_t>& mine, std::vector<uint8_t>* all,
                                TrafficTable* traffic) {
  const int R = comm->nranks;
  const size_t n = mine.size();
  std::vector<uint8_t> sendAll(n * R);
  for (int r = 0; r < R; ++r) memcpy(sendAll.data() + r * n, mine.data(), n);
  all->assign(n * R, 0);
  std::vector<size_t> offsets(R), bytes(R, n);
  for (int r = 0; r < R; ++r) offsets[r] = r * n;
  ExchangeSpec spec{sendAll.data(), offsets.data(), bytes.data(), all->data(), offsets.data(), bytes.data()};
  return exchange(comm, spec, traffic);
}

// Metadata of one vector on the wire: k local expert ids then k weights.
size_t metaBytes(int k) { return static_cast<size_t>(k) * (sizeof(int32_t) + sizeof(float)); }

samResult_t exchangeMetadata(samComm* comm, const ExpertPlacement& p, const SendLayout& send,
                             const std::vector<int64_t>& recvCount, TrafficTable* traffic, RecvLayout* recv) {
  const int R = p.numRanks, k = p.topk;
  const size_t mb = metaBytes(k);
  std::vector<uint8_t> out(send.total() * mb);
  for (int64_t i = 0; i < send.total(); ++i) {
    memcpy(out.data() + i * mb, &send.localExpert[i * k], k * sizeof(int32_t));
    memcpy(out.data() + i * mb + k * sizeof(int32_t), &send.weight[i * k], k * sizeof(float));
  }
  std::vector<size_t> sOff(R), sBytes(R), rOff(R), rBytes(R);
  int64_t recvTotal = 0;
  for (int r = 0; r < R; ++r) {
    sOff[r] = send.offset[r] * mb;
    sBytes[r] = send.count[r] * mb;
    rOff[r] = recvTotal * mb;
    rBytes[r] = recvCount[r] * mb;
    recvTotal += recvCount[r];
  }
  std::vector<uint8_t> in(recvTotal * mb);
  ExchangeSpec spec{out.data(), sOff.data(), sBytes.data(), in.data(), rOff.data(), rBytes.data()};
  SAM_CHECK(exchange(comm, spec, traffic));
  std::vector<int32_t> localExpert(recvTotal * k);
  std::vector<float> weight(recvTotal * k);
  for (int64_t i = 0; i < recvTotal; ++i) {
    memcpy(&localExpert[i * k], in.data() + i * mb, k * sizeof(int32_t));
    memcpy(&weight[i * k], in.data() + i * mb + k * sizeof(int32_t), k * sizeof(float));
  }
  for (int32_t e : localExpert)
    if (e < -1 || e >= p.localExperts())
      return failf(samInternalError, "samPlanCreate: received local expert id %d out of [-1, %d)", e, p.localExperts());
  *recv = buildRecvLayout(p, recvCount, std::move(localExpert), std::move(weight));
  return samSuccess;
}

}  // namespace

samResult_t createPlan(samComm* comm, const PlanRequest& req, std::unique_ptr<samHandle>* out) {
  const int R = comm->nranks;
  samResult_t mine = checkRequest(comm, req);

  auto h = std::make_unique<samHandle>();
  h->comm = comm;
  h->traffic.resize(R);
  PlanLayout& L = h->layout;
  L.rank = comm->rank;
  if (mine == samSuccess) {
    L.placement = {req.route->numExperts, req.route->numRanks, req.route->topk};
    L.numTokens = req.numTokens;
    L.send = buildSendLayout(L.placement, req.numTokens, req.expertIdx, req.weights);
    h->hidden = req.config->hidden;
    h->dtype = req.config->dtype;
    h->maxRecvRows = req.config->maxRecvRows;
  }

  ExchangeLabel label("plan");
  // Phase 1: counts (every rank's whole row of the count matrix, to all).
  std::vector<uint8_t> block(countBlockBytes(R), 0);
  CountHeader me{kCountMagic, mine, h->hidden, h->dtype, L.placement.topk, L.placement.numExperts, h->maxRecvRows,
                 L.numTokens};
  memcpy(block.data(), &me, sizeof(me));
  if (mine == samSuccess) {
    memcpy(block.data() + sizeof(me), L.send.count.data(), R * sizeof(int64_t));
    memcpy(block.data() + sizeof(me) + R * sizeof(int64_t), L.send.rows.data(), R * sizeof(int64_t));
  }
  std::vector<uint8_t> all;
  samResult_t r = exchangeEqualBlocks(comm, block, &all, &h->traffic);
  if (r != samSuccess) return mine != samSuccess ? mine : r;
  std::vector<CountHeader> headers(R);
  std::vector<int64_t> recvCount(R), rowsTo(R, 0);
  const size_t bb = block.size();
  for (int src = 0; src < R; ++src) {
    const uint8_t* b = all.data() + src * bb;
    memcpy(&headers[src], b, sizeof(CountHeader));
    const int64_t* counts = reinterpret_cast<const int64_t*>(b + sizeof(CountHeader));
    const int64_t* rows = counts + R;
    recvCount[src] = counts[comm->rank];
    for (int dst = 0; dst < R; ++dst) rowsTo[dst] += rows[dst];
  }
  SAM_CHECK(checkAgreement(comm, headers, mine, rowsTo));

  // Phase 2: per-vector metadata, then the expansion.
  SAM_CHECK(exchangeMetadata(comm, L.placement, L.send, recvCount, &h->traffic, &L.recv));
  if (L.recv.rows() != rowsTo[comm->rank])
    return failf(samInternalError, "samPlanCreate: expanded %lld rows but the counts announced %lld",
                 static_cast<long long>(L.recv.rows()), static_cast<long long>(rowsTo[comm->rank]));

  const int64_t padded = h->maxRecvRows > 0 ? h->maxRecvRows : L.recv.rows();
  h->executor = std::make_unique<HostExecutor>(comm, h->layout, RowFormat{h->dtype, h->hidden}, padded, &h->traffic);
  SAM_INFO(LOG_PLAN, "plan: %lld tokens, send %lld vectors, recv %lld vectors, %lld expert rows (%d local experts)%s",
           static_cast<long long>(L.numTokens), static_cast<long long>(L.send.total()),
           static_cast<long long>(L.recv.total()), static_cast<long long>(L.recv.rows()), L.placement.localExperts(),
           h->maxRecvRows > 0 ? " capacity mode" : "");
  *out = std::move(h);
  return samSuccess;
}

}  // namespace sam
