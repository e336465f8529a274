// Communicator creation shared by samCommInitRank and samCommInitFromEnv.
#pragma once

#include <functional>
#include <string>

#include "bootstrap/unique_id.h"
#include "comm/comm.h"

namespace sam {

// Rendezvous, exchange of rank infos, agreement check, cluster view.
// On failure returns the code with the last error naming the cause (prefixed by fn).
samResult_t commInit(int nranks, const UniqueIdContents& id, int rank, const samConfig_t* config, const char* fn,
                     samComm_t* out);

// What a launcher's environment says (samCommInitFromEnv). Pure: `get` reads
// a variable (NULL when unset), so tests can feed any environment.
struct LaunchEnv {
  std::string launcher;  // "sam", "torchrun" or "openmpi"
  int rank = -1;
  int nranks = 0;
  int localRank = -1;    // -1 when the launcher does not say
  std::string rootHost;  // where rank 0 listens
  int rootPort = 0;
  wire::Secret secret{};
  bool secretFromEnv = false;  // SAM_SECRET (else derived from the job's variables)
};
LaunchEnv readLaunchEnv(const std::function<const char*(const char*)>& get);  // throws sam::Error

}  // namespace sam
