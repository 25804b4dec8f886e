#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

namespace echo::detail {

/// What a session's close event and its connection record report beyond its id: kept only
/// while debug logging is on or connection records are (the listener creates it at accept),
/// so that sessions pay one null pointer otherwise.
///
/// Written only on the session's executor. GET /connections reads open sessions' traces from
/// the admin listener's thread: the counters are relaxed atomics that only their owner
/// writes (a plain load and store, no read-modify-write on the hot path), and the PROXY
/// source is published once through `proxy_known`.
struct session_trace {
  std::string peer;  ///< "203.0.113.9:51234", or "?" when the kernel no longer knew
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  std::chrono::system_clock::time_point started = std::chrono::system_clock::now();
  /// When the session closed; unset until then (and for one destroyed without closing).
  std::chrono::steady_clock::time_point closed{};
  std::atomic<std::uint64_t> bytes_in{0};   ///< read from the peer, including what was discarded at the end
  std::atomic<std::uint64_t> bytes_out{0};  ///< echoed back, as of the close
  std::string proxy_source;                 ///< the client a PROXY header named, once proxy_known
  std::atomic<bool> proxy_known{false};

  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n) noexcept {
    counter.store(counter.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
  }
  /// Who the connection is from: the PROXY source when there was one, else the socket's peer.
  const std::string& client() const noexcept {
    return proxy_known.load(std::memory_order_acquire) ? proxy_source : peer;
  }
};

}  // namespace echo::detail
