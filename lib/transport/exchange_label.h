// Names the operation an exchange belongs to ("dispatch", "combine", ...) in
// the NET log lines, without widening sam::exchange's signature: the caller
// holds an ExchangeLabel for the duration of its exchanges (per thread).
#pragma once

namespace sam {

class ExchangeLabel {
 public:
  explicit ExchangeLabel(const char* op) : saved_(current_) { current_ = op; }
  ~ExchangeLabel() { current_ = saved_; }
  ExchangeLabel(const ExchangeLabel&) = delete;
  ExchangeLabel& operator=(const ExchangeLabel&) = delete;
  static const char* current() { return current_ != nullptr ? current_ : "exchange"; }

 private:
  const char* saved_;
  static thread_local const char* current_;
};

}  // namespace sam
