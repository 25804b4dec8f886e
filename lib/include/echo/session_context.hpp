#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>

#include "echo/config.hpp"
#include "echo/session_registry.hpp"
#include "echo/stats.hpp"

namespace echo {

/// State shared by a server and all its sessions, owned jointly (shared_ptr) so that it
/// outlives whichever of them goes last.
///
/// Time for timeouts is a coarse tick advanced by the server's sweep every `tick`: a session
/// records deadlines as tick numbers with one relaxed store per operation, so the hot path
/// never reads a clock or re-arms a timer.
struct session_context {
  session_context(bool thread_safe, const config& cfg);

  static constexpr std::chrono::milliseconds tick{250};
  /// Ticks of quiet after which a reading session gives its buffer back (see tcp_session).
  static constexpr std::uint32_t park_ticks = 2;

  /// Deadline `ticks` from now, or 0 (none) when ticks is 0.
  std::uint32_t deadline_in(std::uint32_t ticks) const noexcept {
    return ticks == 0 ? 0 : now_tick.load(std::memory_order_relaxed) + ticks;
  }
  std::uint32_t now() const noexcept { return now_tick.load(std::memory_order_relaxed); }

  session_registry registry;
  stats counters;
  const std::size_t buffer_size;
  const std::size_t max_connections;
  const std::uint32_t idle_ticks;   ///< 0: no idle timeout
  const std::uint32_t write_ticks;  ///< 0: no write timeout
  std::atomic<std::uint32_t> now_tick{1};
};

}  // namespace echo
