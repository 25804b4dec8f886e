#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace echo {

/// Server counters, readable from any thread (a metrics exporter will read them as they are).
/// Relaxed atomics: each is exact on its own; no cross-counter snapshot is promised.
struct stats {
  std::atomic<std::uint64_t> accepted{0};        ///< connections accepted
  std::atomic<std::uint64_t> active{0};          ///< sessions alive now
  std::atomic<std::uint64_t> closed{0};          ///< sessions ended
  std::atomic<std::uint64_t> accept_errors{0};   ///< failed accepts of any kind
  std::atomic<std::uint64_t> accept_pauses{0};   ///< times accepting backed off (fd/memory exhaustion)
  std::atomic<std::uint64_t> session_errors{0};  ///< sessions ended by an unexpected error
  std::atomic<std::uint64_t> forced_closes{0};   ///< sessions closed at the shutdown deadline
  std::atomic<std::uint64_t> rejected{0};        ///< connections closed at once: over max_connections
  std::atomic<std::uint64_t> shed{0};            ///< connections closed at once: out of descriptors
  std::atomic<std::uint64_t> idle_timeouts{0};   ///< sessions closed by the idle timeout
  std::atomic<std::uint64_t> write_timeouts{0};  ///< sessions closed by the write timeout

  static void add(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
  }
  static std::uint64_t get(const std::atomic<std::uint64_t>& counter) noexcept {
    return counter.load(std::memory_order_relaxed);
  }
};

/// One listener's counters, readable from any thread like `stats`. The server keeps them for
/// as long as any session it admitted is alive. Bytes and ends are counted here only, not
/// server-wide as well: one atomic add per read or write (server::bytes() sums them).
struct listener_stats {
  std::atomic<std::uint64_t> accepted{0};       ///< connections admitted as sessions
  std::atomic<std::uint64_t> open{0};           ///< of those, alive now
  std::atomic<std::uint64_t> rejected{0};       ///< closed at once: over max_connections
  std::atomic<std::uint64_t> shed{0};           ///< closed at once: out of descriptors
  std::atomic<std::uint64_t> accept_errors{0};  ///< failed accepts of any kind
  std::atomic<std::uint64_t> accept_pauses{0};  ///< times accepting backed off
  std::atomic<std::uint64_t> bytes_received{0};
  std::atomic<std::uint64_t> bytes_sent{0};
  /// Sessions ended, by why they ended (indexed like the session's end reason, 0 unused);
  /// each session adds to one of these once, as it is destroyed.
  std::array<std::atomic<std::uint64_t>, 11> closed_by{};
  /// PROXY protocol headers refused, by why (indexed by the parser's reason, 0 unused).
  std::array<std::atomic<std::uint64_t>, 16> proxy_errors{};
};

/// Bytes each way over all of a server's listeners, read counter by counter (not one snapshot).
struct byte_totals {
  std::uint64_t received = 0;
  std::uint64_t sent = 0;
};

}  // namespace echo
