#pragma once

#include <cstddef>

#include "echo/session_registry.hpp"
#include "echo/stats.hpp"

namespace echo {

/// State shared by a server and all its sessions, owned jointly (shared_ptr) so that it
/// outlives whichever of them goes last.
struct session_context {
  session_context(bool thread_safe, std::size_t buffer_bytes) noexcept
      : registry(thread_safe), buffer_size(buffer_bytes) {}

  session_registry registry;
  stats counters;
  std::size_t buffer_size;
};

}  // namespace echo
