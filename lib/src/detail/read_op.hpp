#pragma once
// Internal header of echo::core: not installed, not part of the public API.
//
// Stream sessions read through one of two operations with the same interface (start,
// buffer, release, adopt_accepted; completion calls owner->on_read_complete(ec, n, owner)):
// - pooled_read_op: queued on Asio's epoll reactor below its public API, written against
//   Boost 1.81's reactor; chosen by CMake (ECHO_POOLED_READ) where that is what we build with.
// - portable_read_op: Asio's public API only (async_wait, then recv), for any other Boost
//   or reactor, and forced by -DECHO_PORTABLE_READ=ON.
// Either way a waiting session holds no buffer.

#include "detail/read_path.hpp"

#if ECHO_POOLED_READ
#include "detail/pooled_read_op.hpp"
namespace echo::detail {
template <class Owner, class Receiver = socket_receiver>
using read_op = pooled_read_op<Owner, Receiver>;
}
#else
#include "detail/portable_read_op.hpp"
namespace echo::detail {
template <class Owner, class Receiver = socket_receiver>
using read_op = portable_read_op<Owner, Receiver>;
}
#endif
