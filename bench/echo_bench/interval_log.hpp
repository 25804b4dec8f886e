#pragma once

#include "histogram.hpp"

#include <cstdint>
#include <deque>
#include <mutex>

namespace echo::bench {

/// What one worker saw during one --interval.
struct interval_figures {
  std::uint64_t msgs = 0;
  std::uint64_t bytes = 0;
  std::uint64_t errors = 0;
  histogram latency;  ///< open loop: corrected

  interval_figures& operator+=(const interval_figures& o) noexcept {
    msgs += o.msgs;
    bytes += o.bytes;
    errors += o.errors;
    latency.merge(o.latency);
    return *this;
  }
};

/// One worker's intervals, handed to the runner thread as they close. The worker fills
/// current() without locking and publishes a whole interval under the lock once per
/// interval, so the per-message path never touches the mutex; the runner takes closed
/// intervals in order, so at most a few are ever queued.
class interval_log {
 public:
  explicit interval_log(double interval_s) noexcept;

  /// Worker thread: the load starts at `start_ns` (CLOCK_MONOTONIC).
  void begin(std::int64_t start_ns) noexcept;
  /// Worker thread: the interval being filled.
  [[nodiscard]] interval_figures& current() noexcept { return current_; }
  /// Worker thread: publishes every interval that has ended by `now_ns`.
  void roll(std::int64_t now_ns);

  /// Runner thread: true and the oldest closed interval merged into `into`, or false.
  bool take(interval_figures& into);
  /// Runner thread: closed intervals not taken yet.
  [[nodiscard]] std::size_t ready();

 private:
  std::int64_t interval_ns_;
  std::int64_t next_end_ns_ = 0;
  bool begun_ = false;
  interval_figures current_;
  std::mutex mutex_;
  std::deque<interval_figures> closed_;  ///< guarded by mutex_
};

}  // namespace echo::bench
