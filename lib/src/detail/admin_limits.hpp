#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <chrono>
#include <cstddef>

namespace echo::detail {

/// The bounds every admin connection lives within.
struct admin_limits {
  /// Admin connections at once; more are accepted and closed at once.
  std::size_t max_connections = 8;
  /// From the start of reading a request to the end of writing its response, including the
  /// wait for a keep-alive connection's next request. Past it the connection just closes.
  std::chrono::milliseconds request_timeout{std::chrono::seconds(10)};
  /// Request line plus header fields; more gets 431 and the connection closes.
  std::size_t header_limit = 8 * 1024;
  /// The body of a request that takes one (PUT /faults); more gets 413 and the connection
  /// closes. Every other request with a body gets 413 before its body is read.
  std::size_t body_limit = 64 * 1024;
  /// Requests served on one connection before it closes (Connection: close on the last).
  unsigned max_requests = 100;
};

}  // namespace echo::detail
