#include "detail/session_context.hpp"

#include <algorithm>
#include <limits>
#include <random>
#include <stdexcept>

#include "detail/catalogue.hpp"
#include "detail/pipe_pool.hpp"

namespace echo::detail {
namespace {

// Whole ticks covering the timeout, plus one for the partial tick we start in, so a
// session is never closed early (at most one tick late).
std::uint32_t to_ticks(std::chrono::milliseconds timeout) noexcept {
  if (timeout.count() <= 0) return 0;
  const auto t = session_context::tick.count();
  return static_cast<std::uint32_t>((timeout.count() + t - 1) / t + 1);
}

std::uint64_t seed_of(const config& cfg) {
  if (cfg.seed) return *cfg.seed;
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

session_context::session_context(bool thread_safe, const config& cfg)
    : registry(thread_safe, effective_max_connections(cfg)),
      // Default-constructed in place: atomics cannot move, so this vector never grows.
      listeners(std::max<std::size_t>(listener_count(cfg), 1)),
      history(thread_safe, cfg.admin ? cfg.connection_history : 0),
      buffer_size(cfg.buffer_size),
      idle_ticks(to_ticks(cfg.idle_timeout)),
      write_ticks(to_ticks(cfg.write_timeout)),
      write_first(write_ticks != 0 && (idle_ticks == 0 || write_ticks < idle_ticks)),
      unsent_ticks(write_first ? write_ticks : idle_ticks),
      faults(seed_of(cfg), cfg.allow_corruption, listener_count(cfg)),
      splice(cfg.splice),
      descriptor_room(descriptor_budget()) {}

#if ECHO_SPLICE_PATH
bool session_context::session_fits_beside_pipes() const noexcept {
  if (splice == splice_mode::off) return true;
  const auto fits = [this] { return registry.size() + 1 + pipe_pool::live() <= descriptor_room; };
  if (fits()) return true;
  pipe_pool::shed();
  return fits();
}
#endif

std::size_t session_context::listener_count(const config& cfg) noexcept {
  return cfg.listeners.size() + (cfg.catalogue ? catalogue.size() : 0);
}

std::uint16_t session_context::add_listener() {
  if (listeners_added >= listeners.size() || listeners_added == std::numeric_limits<std::uint16_t>::max())
    throw std::length_error("more listeners than configured");
  return listeners_added++;
}

}  // namespace echo::detail
