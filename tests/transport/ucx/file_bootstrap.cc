#include "file_bootstrap.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/deadline.h"
#include "core/error.h"

namespace sam::test {

std::string FileBootstrap::path(int round, int rank) const {
  return dir_ + "/" + std::to_string(round) + "." + std::to_string(rank);
}

samResult_t FileBootstrap::allgather(const std::string& mine, std::vector<std::string>* all) {
  if (aborted_) return fail(samInvalidUsage, "FileBootstrap: aborted");
  const int round = round_++;
  const std::string tmp = path(round, rank_) + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary);
    out.write(mine.data(), static_cast<std::streamsize>(mine.size()));
    if (!out) return fail(samSystemError, "FileBootstrap: cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path(round, rank_).c_str()) != 0)
    return fail(samSystemError, "FileBootstrap: cannot rename " + tmp);

  std::vector<std::string> got(static_cast<size_t>(size_));
  std::vector<bool> have(static_cast<size_t>(size_), false);
  const Deadline deadline = Deadline::in(timeoutMs_);
  for (;;) {
    bool complete = true;
    for (int r = 0; r < size_; ++r) {
      if (have[r]) continue;
      std::ifstream in(path(round, r), std::ios::binary);
      if (!in) {
        complete = false;
        continue;
      }
      std::ostringstream s;
      s << in.rdbuf();
      got[r] = s.str();
      have[r] = true;
    }
    if (complete) break;
    if (aborted_) return fail(samInvalidUsage, "FileBootstrap: aborted");
    if (deadline.expired()) {
      std::string missing;
      for (int r = 0; r < size_; ++r)
        if (!have[r]) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
      return fail(samTimeout, "FileBootstrap: round " + std::to_string(round) + ": no answer from rank(s) " + missing);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  *all = std::move(got);
  return samSuccess;
}

samResult_t FileBootstrap::broadcast(int root, std::string* blob) {
  std::vector<std::string> all;
  SAM_CHECK(allgather(rank_ == root ? *blob : std::string(), &all));
  *blob = all[root];
  return samSuccess;
}

samResult_t FileBootstrap::barrier() {
  std::vector<std::string> all;
  return allgather(std::string(), &all);
}

}  // namespace sam::test
