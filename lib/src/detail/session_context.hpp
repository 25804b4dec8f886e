#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "detail/connection_history.hpp"
#include "detail/fault_engine.hpp"
#include "detail/read_path.hpp"
#include "detail/session_registry.hpp"
#include "echo/config.hpp"
#include "echo/stats.hpp"
#include "echo/step_plan.hpp"

namespace echo::detail {

/// State shared by a server and all its sessions, owned jointly (shared_ptr) so that it
/// outlives whichever of them goes last.
///
/// Time for timeouts is a coarse tick advanced by the server's sweep every `tick`: a session
/// records deadlines as tick numbers with one relaxed store per operation, so the hot path
/// never reads a clock or re-arms a timer.
struct session_context {
  session_context(bool thread_safe, const config& cfg);

  /// Listeners a server built from `cfg` has: the configured ones and the catalogue's.
  static std::size_t listener_count(const config& cfg) noexcept;

  static constexpr std::chrono::milliseconds tick{250};

  /// Deadline `ticks` from now, or 0 (none) when ticks is 0.
  std::uint32_t deadline_in(std::uint32_t ticks) const noexcept {
    return ticks == 0 ? 0 : now_tick.load(std::memory_order_relaxed) + ticks;
  }
  std::uint32_t now() const noexcept { return now_tick.load(std::memory_order_relaxed); }
  /// The next unused entry in `listeners`; returns its index. Only while the server is
  /// being built; throws std::length_error past the configured number of listeners.
  std::uint16_t add_listener();
  std::uint32_t read_size() const noexcept { return static_cast<std::uint32_t>(buffer_size); }

  session_registry registry;
  stats counters;
  /// Each listener's counters, indexed by the number a listener gets from add_listener().
  /// Sized once, from the configured listeners, so the references listeners hold stay valid
  /// and a session reaches its own in one indexed load. Entries past `listeners_added` are
  /// unused and stay zero.
  std::vector<listener_stats> listeners;
  std::uint16_t listeners_added = 0;
  /// The listeners' names, indexed like `listeners`; set by the server once they are bound,
  /// before any session starts, and read-only from then on.
  std::vector<std::string> listener_names;
  /// The latest closed connections (kept only when an admin listener can serve them).
  connection_history history;
  const std::size_t buffer_size;
  const std::uint32_t idle_ticks;   ///< 0: no idle timeout
  const std::uint32_t write_ticks;  ///< 0: no write timeout
  /// While an echo is unsent both limits apply (a stalled write is no progress either);
  /// which comes first depends only on the configuration, so it is decided once here.
  const bool write_first;            ///< the write timeout is set and shorter than the idle one
  const std::uint32_t unsent_ticks;  ///< the shorter of the two (0: neither is set)
  std::atomic<std::uint32_t> now_tick{1};
  /// Per-connection step plans (fault injection); empty: no session has a plan.
  plan_factory plans;
  /// The fault engine: sessions opened while it has connection faults get a fault plan.
  fault_engine faults;
  /// What stream sessions read through (see read_op.hpp), set by the server.
  read_path_context reads;
  /// Whether plain stream sessions may echo through a pipe (see stream_session).
  const splice_mode splice;
  /// Descriptors sessions and splice pipes share (the soft limit minus the reserve).
  const std::size_t descriptor_room;

  /// Splice pipes that may exist now: what the open sessions leave of the descriptor room,
  /// one descriptor a pipe, less the two more that making one holds for a moment.
  std::size_t pipe_room() const noexcept {
    const auto active = static_cast<std::size_t>(counters.active.load(std::memory_order_relaxed));
    return active + making_pipe < descriptor_room ? descriptor_room - active - making_pipe : 0;
  }
  static constexpr std::size_t making_pipe = 2;
#if ECHO_SPLICE_PATH
  /// Whether one more session fits in the descriptor room beside the sessions and the splice
  /// pipes that exist. Pipes are made only from the room sessions leave (pipe_room), but
  /// sessions admitted later would otherwise eat into the reserve kept for everything else;
  /// when they do not fit, idle cached pipes are closed first (pipe_pool::shed). Several
  /// listener threads may each pass at once: the overshoot is at most one session a thread.
  bool session_fits_beside_pipes() const noexcept;
#endif
};

}  // namespace echo::detail
