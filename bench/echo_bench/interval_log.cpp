#include "interval_log.hpp"

namespace echo::bench {

interval_log::interval_log(double interval_s) noexcept
    : interval_ns_(static_cast<std::int64_t>(interval_s * 1e9)) {}

void interval_log::begin(std::int64_t start_ns, std::int64_t end_ns) noexcept {
  next_end_ns_ = start_ns + interval_ns_;
  last_end_ns_ = 0;
  if (end_ns > start_ns) {
    const std::int64_t n = (end_ns - start_ns + interval_ns_ - 1) / interval_ns_;
    last_end_ns_ = start_ns + n * interval_ns_;
  }
  begun_ = true;
}

void interval_log::publish() {
  {
    const std::lock_guard lock(mutex_);
    closed_.push_back(current_);
  }
  current_ = interval_figures{};
  next_end_ns_ += interval_ns_;
}

void interval_log::roll(std::int64_t now_ns) {
  if (!begun_) return;
  // A worker that was descheduled for longer than an interval publishes the empty
  // ones too: the runner prints every interval, even one where nothing happened.
  // The last interval stays open until finish(): the echoes that arrive after the deadline
  // (up to the runner's next tick, then the drain) are counted in the run's total, so they
  // belong to an interval too, or the intervals would not add up to it.
  while (now_ns >= next_end_ns_ && (last_end_ns_ == 0 || next_end_ns_ < last_end_ns_)) publish();
}

void interval_log::finish() {
  if (!begun_) return;
  // Every worker publishes the same number of intervals in a timed run (the runner merges
  // the k-th of each), even one that finished early.
  while (last_end_ns_ != 0 && next_end_ns_ < last_end_ns_) publish();
  if (last_end_ns_ != 0 || current_.msgs > 0 || current_.bytes > 0 || current_.errors > 0) publish();
  begun_ = false;
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
