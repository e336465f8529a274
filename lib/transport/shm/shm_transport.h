// The shared-memory transport of the host backend: block exchanges between
// ranks of one node through each receiver's window (shm_window.h).
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "bootstrap/bootstrap.h"
#include "sam.h"
#include "transport/transport.h"

namespace sam {

struct ShmOptions {
  uint64_t chunkBytes = 0;  // 0 = SAM_SHM_CHUNK_BYTES
  uint32_t slots = 0;       // 0 = SAM_SHM_CHUNKS
  std::string dir;          // "" = SAM_SHM_DIR
};

// Collective over every rank of `bootstrap`. nodeOfRank[r] says which ranks
// share this rank's node (only those are mapped). `aborted` (may be NULL) is
// polled by every wait. Windows are unlinked before this returns, so nothing
// is left in the shared-memory directory even if a rank dies later.
samResult_t createShmTransport(Bootstrap& bootstrap, const std::vector<int>& nodeOfRank,
                               const std::atomic<bool>* aborted, const ShmOptions& options,
                               std::unique_ptr<Transport>* out);

}  // namespace sam
