#include "interval_log.hpp"

namespace echo::bench {

interval_log::interval_log(double interval_s) noexcept
    : interval_ns_(static_cast<std::int64_t>(interval_s * 1e9)) {}

void interval_log::begin(std::int64_t start_ns) noexcept {
  next_end_ns_ = start_ns + interval_ns_;
  begun_ = true;
}

void interval_log::roll(std::int64_t now_ns) {
  if (!begun_) return;
  // A worker that was descheduled for longer than an interval publishes the empty
  // ones too: the runner prints every interval, even one where nothing happened.
  while (now_ns >= next_end_ns_) {
    {
      const std::lock_guard lock(mutex_);
      closed_.push_back(current_);
    }
    current_ = interval_figures{};
    next_end_ns_ += interval_ns_;
  }
}

bool interval_log::take(interval_figures& into) {
  const std::lock_guard lock(mutex_);
  if (closed_.empty()) return false;
  into += closed_.front();
  closed_.pop_front();
  return true;
}

std::size_t interval_log::ready() {
  const std::lock_guard lock(mutex_);
  return closed_.size();
}

}  // namespace echo::bench
