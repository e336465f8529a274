// The host backend's per-communicator state (comm->backend): one transport
// object per kind and, per peer, the one that serves it; plus the sequence
// number of the communicator's block exchanges.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "comm/comm.h"
#include "transport/transport.h"

namespace sam {

class HostBackend : public CommBackend {
 public:
  // Collective over every rank of comm (every rank makes its first exchange
  // at the same point, e.g. its first samPlanCreate).
  static samResult_t create(samComm* comm, std::unique_ptr<HostBackend>* out);

  std::vector<std::unique_ptr<Transport>> transports;  // self, shm, ucx (those in use)
  std::vector<Transport*> byPeer;                      // [nranks]
  uint64_t nextSeq = 1;
  // After a failed exchange the channels are out of step: every later
  // exchange fails at once with this text.
  std::string brokenBy;
  // Staging of the row exchanges for transports that take packed blocks
  // (UCX), reused from call to call; only one exchange runs at a time.
  std::vector<uint8_t> sendStage, recvStage;
};

// comm->backend as a HostBackend, created on first use (collective).
samResult_t hostBackend(samComm* comm, HostBackend** out);

}  // namespace sam
