#pragma once

#include <cstdint>

namespace echo::client {

/// Every way a verifying echo connection can fail, one name each; echo-bench counts
/// them in its report, the tests in their load results.
enum class stream_error : std::uint8_t {
  none,
  connect,      ///< connect refused / unreachable / no local port
  reset,        ///< ECONNRESET / EPIPE
  timeout,      ///< no progress within the caller's limit (or ETIMEDOUT)
  mismatch,     ///< an echoed byte differed from what was sent
  short_echo,   ///< EOF before everything sent was echoed back
  extra_bytes,  ///< more bytes echoed than were sent
  io,           ///< any other socket error
};

/// The kind a failed socket call's errno stands for: reset, timeout or io.
stream_error from_errno(int err) noexcept;

const char* to_string(stream_error e) noexcept;

}  // namespace echo::client
