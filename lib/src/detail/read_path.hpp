#pragma once
// Internal header of echo::core: not installed, not part of the public API.
//
// What the read operations (read_op.hpp) need from the server and the listener: light
// enough for session_context to include.

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

namespace boost::asio::detail {
class epoll_reactor;
}

namespace echo::detail {

/// What the read operations need from the server, kept in the session context.
struct read_path_context {
  /// The epoll reactor of the io_context the sessions run on (pooled path only).
  boost::asio::detail::epoll_reactor* reactor = nullptr;
};

/// Asks the kernel to report the bytes left after each read (TCP_INQ) on every socket
/// `listener` accepts from now on. Without it reads still work, at one more recv per
/// message. False where the kernel lacks it.
inline bool report_queued_bytes([[maybe_unused]] int listener) noexcept {
#ifdef TCP_INQ
  const int on = 1;
  return ::setsockopt(listener, IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
#else
  return false;
#endif
}

}  // namespace echo::detail
