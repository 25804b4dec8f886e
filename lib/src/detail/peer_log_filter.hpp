#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>

#include <boost/asio/ip/address.hpp>

namespace echo::detail {

/// Remembers the last few peer addresses it let through, so a client that fails the same
/// way a thousand times is logged once per `window`, not a thousand times. Bounded: past
/// `slots` distinct addresses the oldest is forgotten (and may be logged again); the log
/// limit at the call site still caps the total.
class peer_log_filter {
 public:
  static constexpr std::size_t slots = 64;
  static constexpr std::chrono::seconds window{60};

  /// True if `peer` was not let through within the window; it is remembered as of `now`.
  bool first(const boost::asio::ip::address& peer, std::chrono::steady_clock::time_point now);

 private:
  struct entry {
    boost::asio::ip::address peer;
    std::chrono::steady_clock::time_point at;
  };

  // Handshake failures are rare next to echo traffic and each cost a handshake already:
  // a mutex is cheaper than being clever here.
  std::mutex mutex_;
  std::array<entry, slots> entries_{};
  std::size_t next_ = 0;
};

}  // namespace echo::detail
