#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace echo {

/// What `echo-svc check` probes.
struct check_options {
  /// A numeric address or a host name.
  std::string host = "127.0.0.1";
  std::uint16_t port = 7007;
  /// For the whole probe: connect, echo, verify.
  std::chrono::milliseconds timeout{std::chrono::seconds(2)};
  /// Random bytes sent and expected back.
  std::size_t bytes = 64;
};

/// Connects to an echo server, sends random bytes, reads them back and compares, within the
/// timeout. Returns an empty string when the echo was exact, else a one-line reason
/// ("connect to 127.0.0.1:7007: connection refused", "echo differs at byte 3", "timed out
/// after 2s waiting for the echo").
std::string run_health_check(const check_options& opts);

}  // namespace echo
