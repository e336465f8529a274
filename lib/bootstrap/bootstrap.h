// Out-of-band exchange among the ranks of one communicator (TCP, Boost.Asio).
// The other layers use it to share topology views, shared-memory names, CUDA
// IPC handles, NCCL unique ids and UCX worker addresses.
#pragma once

#include <string>
#include <vector>

#include "core/deadline.h"
#include "sam.h"

namespace sam {

class Bootstrap {
 public:
  virtual ~Bootstrap() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;

  // Collectives over byte blobs (std::string as a byte container; blobs of
  // different ranks may differ in size). Every rank must call them in the same
  // order. Each returns within the communicator's timeout: samTimeout (the last
  // error names the ranks that did not answer), samRemoteError (a peer closed
  // or failed), samInvalidUsage (after abort()).
  virtual samResult_t allgather(const std::string& mine, std::vector<std::string>* all) = 0;
  virtual samResult_t broadcast(int root, std::string* blob) = 0;
  virtual samResult_t barrier() = 0;

  // Makes every blocked and later call fail at once; never blocks.
  virtual void abort() = 0;
};

}  // namespace sam
