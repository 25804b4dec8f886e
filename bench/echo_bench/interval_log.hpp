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

  /// Worker thread: the load starts at `start_ns` and, when timed, is scheduled to end at
  /// `end_ns` (CLOCK_MONOTONIC; 0: a run of a count, with no end known in advance).
  void begin(std::int64_t start_ns, std::int64_t end_ns) noexcept;
  /// Worker thread: the interval being filled.
  [[nodiscard]] interval_figures& current() noexcept { return current_; }
  /// Worker thread: publishes every interval that has ended by `now_ns`.
  void roll(std::int64_t now_ns);
  /// Worker thread, once the worker is done: publishes what is left, the last interval
  /// with everything echoed after its start (the drain after the deadline included).
  void finish();

  /// Runner thread: true and the oldest closed interval merged into `into`, or false.
  bool take(interval_figures& into);
  /// Runner thread: closed intervals not taken yet.
  [[nodiscard]] std::size_t ready();

 private:
  void publish();

  std::int64_t interval_ns_;
  std::int64_t next_end_ns_ = 0;
  std::int64_t last_end_ns_ = 0;  ///< end of the run's last interval; 0: none known
  bool begun_ = false;
  interval_figures current_;
  std::mutex mutex_;
  std::deque<interval_figures> closed_;  ///< guarded by mutex_
};

}  // namespace echo::bench
