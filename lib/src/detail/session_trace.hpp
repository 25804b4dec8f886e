#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <chrono>
#include <cstdint>
#include <string>

namespace echo::detail {

/// What a session's close event reports beyond its id: kept only while debug logging is on
/// (the listener creates it at accept), so that sessions pay one null pointer otherwise.
struct session_trace {
  std::string peer;  ///< "203.0.113.9:51234", or "?" when the kernel no longer knew
  std::chrono::steady_clock::time_point opened = std::chrono::steady_clock::now();
  std::uint64_t bytes_in = 0;   ///< read from the peer, including what was discarded at the end
  std::uint64_t bytes_out = 0;  ///< echoed back, as of the close
};

}  // namespace echo::detail
