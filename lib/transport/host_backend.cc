#include "transport/host_backend.h"

#include "core/error.h"
#include "core/log.h"
#include "transport/self/self_transport.h"
#include "transport/shm/shm_transport.h"

#if SAM_HAVE_UCX
#include "transport/ucx/ucx_transport.h"
#endif

namespace sam {

samResult_t HostBackend::create(samComm* comm, std::unique_ptr<HostBackend>* out) {
  if (comm->bootstrap == nullptr) return fail(samInternalError, "host backend: the communicator has no bootstrap");
  const ClusterView& cv = comm->cluster;
  const int R = comm->nranks, me = comm->rank;
  if (static_cast<int>(cv.rankNode.size()) != R)
    return failf(samInternalError, "host backend: cluster view has %zu ranks, communicator %d", cv.rankNode.size(), R);
  auto b = std::make_unique<HostBackend>();
  b->byPeer.assign(R, nullptr);

  b->transports.push_back(createSelfTransport(me));
  b->byPeer[me] = b->transports.back().get();

  std::unique_ptr<Transport> shm;
  SAM_CHECK(createShmTransport(*comm->bootstrap, cv.rankNode, &comm->aborted, ShmOptions{}, &shm));
  for (int r = 0; r < R; ++r)
    if (r != me && cv.sameNode(me, r)) b->byPeer[r] = shm.get();
  b->transports.push_back(std::move(shm));

  if (cv.nodeCount() > 1) {
#if SAM_HAVE_UCX
    std::unique_ptr<Transport> ucx;
    SAM_CHECK(createUcxTransport(*comm->bootstrap, comm->config.timeoutMs, &comm->aborted, &ucx));
    for (int r = 0; r < R; ++r)
      if (!cv.sameNode(me, r)) b->byPeer[r] = ucx.get();
    b->transports.push_back(std::move(ucx));
#else
    return failf(samNotSupported, "host backend: the ranks span %d nodes but this build has no UCX transport "
                 "(install libucx-dev and build with SAM_WITH_UCX)", cv.nodeCount());
#endif
  }
  SAM_INFO(LOG_NET, "host backend: %d ranks on %d nodes, %zu transports", R, cv.nodeCount(), b->transports.size());
  *out = std::move(b);
  return samSuccess;
}

samResult_t hostBackend(samComm* comm, HostBackend** out) {
  if (comm->backend == nullptr) {
    std::unique_ptr<HostBackend> b;
    SAM_CHECK(HostBackend::create(comm, &b));
    comm->backend = std::move(b);
  }
  auto* b = dynamic_cast<HostBackend*>(comm->backend.get());
  if (b == nullptr) return fail(samInternalError, "host backend: the communicator holds another backend");
  *out = b;
  return samSuccess;
}

}  // namespace sam
