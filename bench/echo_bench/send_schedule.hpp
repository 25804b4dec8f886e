#pragma once

#include "options.hpp"

#include <cstdint>

namespace echo::bench {

/// One connection's (or UDP socket's) open-loop schedule: the intended send time of each
/// of its messages in turn, a pure function of the run's start, the rate, the arrival
/// kind and the connection's id. Uniform: connection i's messages are connections / rate
/// apart, starting i / rate after the load does, so the run's sends interleave evenly;
/// computed from the message number, so rounding never drifts the rate. Poisson:
/// exponential gaps of the same mean, seeded per connection by --seed.
class send_schedule {
 public:
  send_schedule() = default;
  send_schedule(const options& opts, std::int64_t start_ns, std::uint64_t id) noexcept;

  /// CLOCK_MONOTONIC ns at which the current message is due.
  [[nodiscard]] std::int64_t due_ns() const noexcept { return due_ns_; }
  /// Moves on to the next message.
  void advance() noexcept;

 private:
  bool poisson_ = false;
  double gap_ns_ = 0;
  double first_ns_ = 0;  ///< uniform: start + phase
  std::uint64_t index_ = 0;
  std::uint64_t rng_ = 0;
  std::int64_t due_ns_ = 0;
};

}  // namespace echo::bench
