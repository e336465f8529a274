// The communicator's C entry points after init: teardown, abort, queries,
// barrier, traffic counters.
#include "comm/comm.h"
#include "core/error.h"
#include "core/log.h"

namespace {

samResult_t checkComm(samComm_t comm, const char* fn) {
  if (comm == nullptr) return sam::fail(samInvalidArgument, std::string(fn) + ": comm is NULL");
  return samSuccess;
}

samResult_t checkRank(samComm_t comm, int rank, const char* fn, const char* what) {
  if (rank < 0 || rank >= comm->nranks)
    return sam::fail(samInvalidArgument, std::string(fn) + ": " + what + " is " + std::to_string(rank) +
                                             ", must be 0 .. " + std::to_string(comm->nranks - 1));
  return samSuccess;
}

// Queries: comm and out pointer checked, value written only on success.
template <typename T, typename F>
samResult_t query(const char* fn, samComm_t comm, T* out, F get) {
  return sam::apiCall(fn, [&] {
    SAM_CHECK(checkComm(comm, fn));
    if (out == nullptr) return sam::fail(samInvalidArgument, std::string(fn) + ": output pointer is NULL");
    *out = get();
    return samSuccess;
  });
}

}  // namespace

extern "C" {

samResult_t samCommDestroy(samComm_t comm) {
  return sam::apiCall("samCommDestroy", [&] {
    delete comm;  // backend first, bootstrap (sockets) last: reverse declaration order
    return samSuccess;
  });
}

samResult_t samCommAbort(samComm_t comm) {
  return sam::apiCall("samCommAbort", [&] {
    if (comm == nullptr) return samSuccess;
    comm->aborted = true;
    if (comm->bootstrap) comm->bootstrap->abort();
    SAM_INFO(LOG_INIT, "samCommAbort: communicator aborted");
    return samSuccess;
  });
}

samResult_t samCommGetAsyncError(samComm_t comm, samResult_t* asyncError) {
  return query("samCommGetAsyncError", comm, asyncError,
               [&] { return static_cast<samResult_t>(comm->asyncError.load()); });
}

samResult_t samCommRank(samComm_t comm, int* rank) {
  return query("samCommRank", comm, rank, [&] { return comm->rank; });
}

samResult_t samCommSize(samComm_t comm, int* size) {
  return query("samCommSize", comm, size, [&] { return comm->nranks; });
}

samResult_t samCommNodeCount(samComm_t comm, int* nodes) {
  return query("samCommNodeCount", comm, nodes, [&] { return comm->cluster.nodeCount(); });
}

samResult_t samCommNode(samComm_t comm, int* node) {
  return query("samCommNode", comm, node, [&] { return comm->cluster.rankNode[comm->rank]; });
}

samResult_t samCommLocalRank(samComm_t comm, int* localRank) {
  return query("samCommLocalRank", comm, localRank, [&] { return comm->cluster.localRank[comm->rank]; });
}

samResult_t samCommLocalSize(samComm_t comm, int* localSize) {
  return query("samCommLocalSize", comm, localSize, [&] {
    return static_cast<int>(comm->cluster.nodeRanks[comm->cluster.rankNode[comm->rank]].size());
  });
}

samResult_t samCommRankNodes(samComm_t comm, int* nodes) {
  return sam::apiCall("samCommRankNodes", [&] {
    SAM_CHECK(checkComm(comm, "samCommRankNodes"));
    SAM_CHECK_PTR(nodes, "samCommRankNodes");
    for (int r = 0; r < comm->nranks; ++r) nodes[r] = comm->cluster.rankNode[r];
    return samSuccess;
  });
}

samResult_t samCommLinkClass(samComm_t comm, int rankA, int rankB, samLinkClass_t* link) {
  return sam::apiCall("samCommLinkClass", [&] {
    SAM_CHECK(checkComm(comm, "samCommLinkClass"));
    SAM_CHECK(checkRank(comm, rankA, "samCommLinkClass", "rankA"));
    SAM_CHECK(checkRank(comm, rankB, "samCommLinkClass", "rankB"));
    SAM_CHECK_PTR(link, "samCommLinkClass");
    *link = comm->cluster.link(rankA, rankB);
    return samSuccess;
  });
}

samResult_t samCommBarrier(samComm_t comm) {
  return sam::apiCall("samCommBarrier", [&] {
    SAM_CHECK(checkComm(comm, "samCommBarrier"));
    if (comm->aborted) return sam::fail(samInvalidUsage, "samCommBarrier: the communicator was aborted");
    samResult_t r = comm->bootstrap->barrier();
    if (r != samSuccess) sam::setLastError(std::string("samCommBarrier: ") + sam::lastError());
    if (comm->aborted) return r;  // woken by abort: not a failure of the job
    return sam::noteAsyncError(comm, r);
  });
}

samResult_t samCommGetTraffic(samComm_t comm, int peer, samTransport_t transport, samTrafficCounter_t* counter) {
  return sam::apiCall("samCommGetTraffic", [&] {
    SAM_CHECK(checkComm(comm, "samCommGetTraffic"));
    SAM_CHECK(checkRank(comm, peer, "samCommGetTraffic", "peer"));
    if (static_cast<int>(transport) < 0 || transport >= samNumTransports)
      return sam::fail(samInvalidArgument, "samCommGetTraffic: transport is " + std::to_string(transport) +
                                               ", must be 0 .. " + std::to_string(samNumTransports - 1));
    SAM_CHECK_PTR(counter, "samCommGetTraffic");
    *counter = comm->traffic.get(peer, transport);
    return samSuccess;
  });
}

samResult_t samCommResetTraffic(samComm_t comm) {
  return sam::apiCall("samCommResetTraffic", [&] {
    SAM_CHECK(checkComm(comm, "samCommResetTraffic"));
    comm->traffic.reset();
    return samSuccess;
  });
}

}  // extern "C"
