#include "detail/session_context.hpp"

#include <limits>
#include <stdexcept>

namespace echo::detail {
namespace {

// Whole ticks covering the timeout, plus one for the partial tick we start in, so a
// session is never closed early (at most one tick late).
std::uint32_t to_ticks(std::chrono::milliseconds timeout) noexcept {
  if (timeout.count() <= 0) return 0;
  const auto t = session_context::tick.count();
  return static_cast<std::uint32_t>((timeout.count() + t - 1) / t + 1);
}

}  // namespace

session_context::session_context(bool thread_safe, const config& cfg)
    : registry(thread_safe, effective_max_connections(cfg)),
      buffer_size(cfg.buffer_size),
      idle_ticks(to_ticks(cfg.idle_timeout)),
      write_ticks(to_ticks(cfg.write_timeout)) {}

std::uint16_t session_context::add_listener() {
  if (listeners.size() >= std::numeric_limits<std::uint16_t>::max())
    throw std::length_error("too many listeners");
  listeners.emplace_back();
  return static_cast<std::uint16_t>(listeners.size() - 1);
}

}  // namespace echo::detail
