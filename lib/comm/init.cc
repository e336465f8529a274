#include "comm/init.h"

#include <memory>

#include "bootstrap/tcp_bootstrap.h"
#include "comm/cluster.h"
#include "comm/config.h"
#include "core/error.h"
#include "core/log.h"

namespace sam {
namespace {

samResult_t withContext(samResult_t r, const char* fn) {
  if (r != samSuccess) setLastError(std::string(fn) + ": " + lastError());
  return r;
}

}  // namespace

samResult_t commInit(int nranks, const UniqueIdContents& id, int rank, const samConfig_t* config, const char* fn,
                     samComm_t* out) {
  const std::string f(fn);
  if (nranks < 1 || nranks > wire::kMaxRanks)
    return fail(samInvalidArgument, f + ": nranks is " + std::to_string(nranks) + ", must be 1 .. " +
                                         std::to_string(wire::kMaxRanks));
  if (rank < 0 || rank >= nranks)
    return fail(samInvalidArgument, f + ": rank is " + std::to_string(rank) + ", must be 0 .. nranks-1 = " +
                                         std::to_string(nranks - 1));
  CommConfig cfg = resolveConfig(config, fn);
  logSetRank(rank);
  SAM_INFO(LOG_INIT, "%s: rank %d of %d, root %s, backend %s, timeout %d ms", fn, rank, nranks,
           id.root.toString().c_str(), cfg.backend == samBackendCuda ? "cuda" : "host", cfg.timeoutMs);

  auto comm = std::make_unique<samComm>();
  comm->rank = rank;
  comm->nranks = nranks;
  comm->config = cfg;
  SAM_CHECK(withContext(bootstrapConnect(id, rank, nranks, bootstrapOptions(cfg.timeoutMs), &comm->bootstrap), fn));

  // Every rank contributes its identity; all ranks then check and build the
  // view from the same bytes, so they agree (or fail alike).
  std::vector<std::string> blobs;
  SAM_CHECK(withContext(comm->bootstrap->allgather(encodeRankInfo(localRankInfo(rank, nranks, cfg)), &blobs), fn));
  std::vector<RankInfo> infos(blobs.size());
  for (size_t r = 0; r < blobs.size(); ++r) {
    std::string why;
    if (!decodeRankInfo(blobs[r], &infos[r], &why))
      return fail(samRemoteError, f + ": rank " + std::to_string(r) + " sent an unreadable rank info: " + why);
  }
  std::string disagreement = checkAgreement(infos);
  if (!disagreement.empty()) return fail(samInvalidArgument, f + ": " + disagreement);

  comm->cluster = buildClusterView(infos);
  if (cfg.backend == samBackendCuda && comm->config.cudaDevice < 0) comm->config.cudaDevice = comm->cluster.localRank[rank];
  comm->traffic.resize(nranks);
  SAM_INFO(LOG_INIT, "%s: done: node %d of %d, local rank %d of %zu", fn, comm->cluster.rankNode[rank],
           comm->cluster.nodeCount(), comm->cluster.localRank[rank],
           comm->cluster.nodeRanks[comm->cluster.rankNode[rank]].size());
  *out = comm.release();
  return samSuccess;
}

}  // namespace sam

extern "C" {

samResult_t samGetUniqueId(samUniqueId* id) {
  return sam::apiCall("samGetUniqueId", [&] {
    SAM_CHECK_PTR(id, "samGetUniqueId");
    samUniqueId made;
    SAM_CHECK(sam::bootstrapCreateRoot(&made));
    *id = made;
    return samSuccess;
  });
}

samResult_t samCommInitRank(samComm_t* comm, int nranks, samUniqueId id, int rank, const samConfig_t* config) {
  return sam::apiCall("samCommInitRank", [&] {
    SAM_CHECK_PTR(comm, "samCommInitRank");
    sam::UniqueIdContents contents;
    std::string why;
    if (!sam::decodeUniqueId(id, &contents, &why))
      return sam::fail(samInvalidArgument, "samCommInitRank: id is not a valid samUniqueId: " + why);
    return sam::commInit(nranks, contents, rank, config, "samCommInitRank", comm);
  });
}

}  // extern "C"
