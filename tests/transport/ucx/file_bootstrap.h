// A test-only Bootstrap: ranks in forked processes meet through files in a
// shared directory. Round n of a collective writes <dir>/<n>.<rank> (atomic
// rename) and polls for the other ranks' files until the deadline. Enough to
// test a transport without the real TCP bootstrap.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "bootstrap/bootstrap.h"

namespace sam::test {

class FileBootstrap final : public Bootstrap {
 public:
  FileBootstrap(std::string dir, int rank, int size, int timeoutMs)
      : dir_(std::move(dir)), rank_(rank), size_(size), timeoutMs_(timeoutMs) {}
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  samResult_t allgather(const std::string& mine, std::vector<std::string>* all) override;
  samResult_t broadcast(int root, std::string* blob) override;
  samResult_t barrier() override;
  void abort() override { aborted_ = true; }

 private:
  std::string path(int round, int rank) const;
  const std::string dir_;
  const int rank_;
  const int size_;
  const int timeoutMs_;
  int round_ = 0;
  std::atomic<bool> aborted_{false};
};

}  // namespace sam::test
