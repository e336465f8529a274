// What each rank contributes at init, and the cluster view every rank builds
// from the same allgathered contributions (so all ranks hold the same view).
#pragma once

#include <string>
#include <vector>

#include "comm/comm.h"

namespace sam {

struct RankInfo {
  int rank = -1;
  int nranks = 0;
  int backend = samBackendHost;  // must match across ranks
  int timeoutMs = 0;             // must match across ranks
  int cudaDevice = -1;           // as configured (-1 = not chosen); may differ
  std::string hostId;            // SAM_HOST_ID, else hostname + boot id
  std::string gpuBusId;          // "" on the host backend
  // Local summary, for logs and messages.
  std::string hostName;
  int pid = 0;
  int cpus = 0;
};

std::string encodeRankInfo(const RankInfo& info);
bool decodeRankInfo(const std::string& bytes, RankInfo* info, std::string* why);

// This process's host identity: SAM_HOST_ID if set, else "hostname/boot_id".
std::string localHostId();
RankInfo localRankInfo(int rank, int nranks, const CommConfig& config);

// "" when every rank agrees on nranks, backend and timeoutMs (and each info
// is for its own rank); else a message naming the field and the ranks.
std::string checkAgreement(const std::vector<RankInfo>& infos);

// Nodes numbered by their lowest rank; local ranks in rank order within a
// node; links: SELF for a rank with itself, NET between nodes, NODE between
// two ranks of one node (see docs/COMM.md).
ClusterView buildClusterView(const std::vector<RankInfo>& infos);

}  // namespace sam
