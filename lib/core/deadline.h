// A point in time by which a wait for a peer must end (SAM_TIMEOUT_MS).
#pragma once

#include <chrono>
#include <cstdint>

namespace sam {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;
  // timeoutMs <= 0 means "never" (only for tests that want to see a hang).
  static Deadline in(int64_t timeoutMs) {
    Deadline d;
    d.never_ = timeoutMs <= 0;
    d.at_ = Clock::now() + std::chrono::milliseconds(timeoutMs > 0 ? timeoutMs : 0);
    return d;
  }
  bool expired() const { return !never_ && Clock::now() >= at_; }
  // Milliseconds left (0 when expired; a large number when never).
  int64_t remainingMs() const {
    if (never_) return INT64_C(1) << 40;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now()).count();
    return left > 0 ? left : 0;
  }
  Clock::time_point at() const { return at_; }

 private:
  Clock::time_point at_{};
  bool never_ = false;
};

}  // namespace sam
