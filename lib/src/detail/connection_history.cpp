#include "detail/connection_history.hpp"

#include <utility>

namespace echo::detail {

void connection_history::add(connection_record&& record) {
  if (capacity_ == 0) return;
  std::unique_lock lock(mutex_, std::defer_lock);
  if (thread_safe_) lock.lock();
  ++total_;
  if (ring_.size() < capacity_) {
    ring_.push_back(std::move(record));
    return;
  }
  ring_[next_] = std::move(record);
  next_ = next_ + 1 == capacity_ ? 0 : next_ + 1;
}

std::vector<connection_record> connection_history::latest(std::uint64_t& total) const {
  std::unique_lock lock(mutex_, std::defer_lock);
  if (thread_safe_) lock.lock();
  total = total_;
  std::vector<connection_record> out;
  out.reserve(ring_.size());
  // Until the ring is full next_ stays 0 and the newest record is the last one.
  const std::size_t n = ring_.size();
  if (n == 0) return out;
  const std::size_t newest = ring_.size() < capacity_ ? n - 1 : (next_ + n - 1) % n;
  for (std::size_t i = 0; i < n; ++i) out.push_back(ring_[(newest + n - i) % n]);
  return out;
}

}  // namespace echo::detail
