#include "detail/peer_log_filter.hpp"

namespace echo::detail {

bool peer_log_filter::first(const boost::asio::ip::address& peer, std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  for (auto& e : entries_) {
    if (e.at.time_since_epoch().count() != 0 && e.peer == peer) {
      if (now - e.at < window) return false;
      e.at = now;
      return true;
    }
  }
  entries_[next_] = entry{peer, now};
  next_ = (next_ + 1) % slots;
  return true;
}

}  // namespace echo::detail
