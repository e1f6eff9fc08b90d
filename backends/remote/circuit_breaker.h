// A circuit breaker for one remote endpoint: after N consecutive failures it opens and calls fail
// fast (the router sends them elsewhere) until a cooldown passes; then one trial call goes
// through (half-open) and its outcome closes or reopens the breaker.
#pragma once

#include <chrono>
#include <mutex>
#include <string>

#include "core/route/router.h"

namespace tandem::remote {

class CircuitBreaker {
 public:
  using Clock = std::chrono::steady_clock;

  CircuitBreaker(int failures_to_open, std::chrono::milliseconds cooldown)
      : failures_to_open_(failures_to_open < 1 ? 1 : failures_to_open), cooldown_(cooldown) {}

  // Whether a call may go out now. While open: no, until the cooldown ends; then yes for exactly
  // one trial call at a time.
  bool allow() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (failures_ < failures_to_open_) return true;
    if (Clock::now() < open_until_ || trial_in_flight_) return false;
    trial_in_flight_ = true;
    return true;
  }

  void record_success() {
    std::lock_guard<std::mutex> lock(mutex_);
    failures_ = 0;
    trial_in_flight_ = false;
  }

  void record_failure(const std::string& why) {
    std::lock_guard<std::mutex> lock(mutex_);
    last_error_ = why;
    trial_in_flight_ = false;
    if (++failures_ >= failures_to_open_) open_until_ = Clock::now() + cooldown_;
  }

  // A call that ended without a verdict on the server (the caller's mistake): frees the trial.
  void record_neutral() {
    std::lock_guard<std::mutex> lock(mutex_);
    trial_in_flight_ = false;
  }

  route::RemoteHealth health() const {
    std::lock_guard<std::mutex> lock(mutex_);
    route::RemoteHealth h;
    h.configured = true;
    if (failures_ < failures_to_open_) return h;
    const auto now = Clock::now();
    if (now >= open_until_ && !trial_in_flight_) return h;  // half-open: a trial may go
    h.available = false;
    const long long left =
        now < open_until_ ? std::chrono::duration_cast<std::chrono::milliseconds>(open_until_ - now).count() : 0;
    h.reason = "circuit breaker open after " + std::to_string(failures_) + " consecutive failures (next try in " +
               std::to_string(left) + " ms); last: " + last_error_;
    return h;
  }

 private:
  const int failures_to_open_;
  const std::chrono::milliseconds cooldown_;
  mutable std::mutex mutex_;
  int failures_ = 0;
  bool trial_in_flight_ = false;
  Clock::time_point open_until_{};
  std::string last_error_;
};

}  // namespace tandem::remote
