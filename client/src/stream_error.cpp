#include "echo/client/stream_error.hpp"

#include <cerrno>

namespace echo::client {

stream_error from_errno(int err) noexcept {
  switch (err) {
    case ECONNRESET:
    case EPIPE: return stream_error::reset;
    case ETIMEDOUT: return stream_error::timeout;
    default: return stream_error::io;
  }
}

const char* to_string(stream_error e) noexcept {
  switch (e) {
    case stream_error::none: return "none";
    case stream_error::connect: return "connect";
    case stream_error::reset: return "reset";
    case stream_error::timeout: return "timeout";
    case stream_error::mismatch: return "mismatch";
    case stream_error::short_echo: return "short_echo";
    case stream_error::extra_bytes: return "extra_bytes";
    case stream_error::io: return "io";
  }
  return "unknown";
}

}  // namespace echo::client
