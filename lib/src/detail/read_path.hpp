#pragma once
// Internal header of echo::core: not installed, not part of the public API.
//
// TCP sessions read through one of two operations with the same interface (start, buffer,
// release, adopt_accepted; completion calls owner->on_read_complete(ec, n, owner)):
// - pooled_read_op: queued on Asio's epoll reactor below its public API, written against
//   Boost 1.81's reactor; chosen by CMake (ECHO_POOLED_READ) where that is what we build with.
// - portable_read_op: Asio's public API only (async_wait, then recv), for any other Boost
//   or reactor, and forced by -DECHO_PORTABLE_READ=ON.
// Either way a waiting session holds no buffer.

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

#if ECHO_POOLED_READ
#include "detail/pooled_read_op.hpp"
namespace echo::detail {
template <class Owner>
using read_op = pooled_read_op<Owner>;
}
#else
#include "detail/portable_read_op.hpp"
namespace echo::detail {
template <class Owner>
using read_op = portable_read_op<Owner>;
}
#endif
