#pragma once
// Internal header of echo::core: not installed, not part of the public API. Included
// through read_op.hpp, and only where CMake found the Boost this was written against.

#include <cstddef>
#include <cstdint>
#include <memory>

// Asio's detail headers are not self-contained: the public ones first.
#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/scheduler_operation.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/error.hpp>
#include <boost/version.hpp>

#include "detail/buffer_pool.hpp"
#include "detail/receive.hpp"

// This class plugs into Asio's epoll reactor below its public API (detail::reactor_op,
// epoll_reactor::start_op): CMake selects it only for the Boost version it was written
// against, and portable_read_op everywhere else.
static_assert(BOOST_VERSION == 108100,
              "pooled_read_op is written against Asio's epoll reactor in Boost 1.81");
#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "pooled_read_op needs Asio's epoll reactor"
#endif

namespace echo::detail {

struct read_path_context;

/// A read that Asio's epoll reactor performs when the socket is readable, like
/// async_read_some, except that the buffer is not tied to the wait: it is taken from the
/// thread's buffer_pool inside the reactor's perform step, just before recv(2), and given
/// straight back when the read would block.
///
/// Why not async_read_some: a pending async_read_some pins its buffer for as long as the
/// peer is silent, so every open connection would hold one (64 KiB each), and busy
/// connections would each read into their own buffer (cold cache lines, and with
/// page-aligned buffers every one of them competes for the same cache sets). Why not
/// async_wait + recv (portable_read_op): async_wait is never speculative, so Asio's reactor
/// re-arms the descriptor with an epoll_ctl for every wait. This op keeps the speculative,
/// no-re-arm path of a read and reads into the few hot buffers of the thread's pool.
///
/// One recv per message. Asio's own read op always lets the reactor try the next read
/// speculatively, so a request/response peer costs a second recv that only says EAGAIN.
/// This op tells the reactor the socket is drained (done_and_exhausted) when TCP_INQ says
/// nothing is left after the read; the descriptor is edge-triggered and was already
/// harvested by epoll_wait, so anything arriving later raises a new event. Two ends can
/// arrive in the same event as the last bytes and raise none: a FIN (TCP_INQ counts it as
/// 1, so the next read is tried and sees EOF) and an RST (not counted, but already
/// processed, so the owner's echo of those bytes fails with ECONNRESET; an RST processed
/// after the read raises an event of its own). An owner that reads without writing back
/// passes `eager` and gets Asio's behaviour.
///
/// One op per session, embedded in it (no allocation per read). While queued it holds the
/// owner alive; completion hands that reference to `owner->on_read_complete(ec, n, owner)`,
/// with the bytes at buffer() until release(). Completion runs on whichever thread ran the
/// reactor; an owner on a strand re-dispatches itself.
template <class Owner, class Receiver = socket_receiver>
class pooled_read_op final : boost::asio::detail::reactor_op {
 public:
  using reactor_type = boost::asio::detail::reactor;

  pooled_read_op() noexcept : reactor_op(boost::system::error_code(), &do_perform, &do_complete) {}
  pooled_read_op(const pooled_read_op&) = delete;
  pooled_read_op& operator=(const pooled_read_op&) = delete;

  /// Queues the read on `socket`, any Asio stream socket on the reactor (TCP, Unix). Must
  /// not be called while a previous start has not completed.
  template <class Socket>
  void start(const read_path_context& ctx, Socket& socket, std::uint32_t buffer_size,
             std::shared_ptr<Owner> owner, bool eager = false) {
    buffer_.reset(buffer_size);
    owner_ = std::move(owner);
    ec_ = boost::system::error_code();
    bytes_transferred_ = 0;
    fd_ = socket.native_handle();
    eager_ = eager;
    // Speculative: if the socket is already readable the read happens here and completes
    // through the scheduler; otherwise it waits in the descriptor's queue, without a buffer
    // and without an epoll_ctl (the descriptor stays registered edge-triggered).
    ctx.reactor->start_op(reactor_type::read_op, fd_, descriptor_data(socket), this, true, true);
  }

  /// For a socket that came straight from accept(). Asio marks every socket it adopts from a
  /// native handle as possibly duplicated, so that closing it also pays an EPOLL_CTL_DEL in
  /// case another descriptor keeps the file (and its epoll registration) alive. A freshly
  /// accepted socket has no duplicate, and close(2) alone removes it from the epoll set.
  template <class Socket>
  static void adopt_accepted(Socket& socket) noexcept {
    implementation(socket).state_ &= static_cast<boost::asio::detail::socket_ops::state_type>(
        ~boost::asio::detail::socket_ops::possible_dup);
  }

  std::byte* buffer() const noexcept { return buffer_.data(); }
  /// Gives the buffer back to this thread's pool.
  void release() noexcept { buffer_.release(); }

 private:
  template <class Socket>
  static auto& implementation(Socket& socket) noexcept {
    // basic_socket keeps its implementation protected; a using-declaration in a derived
    // type makes a member pointer to it nameable without touching the object's type.
    struct access : Socket {
      using Socket::impl_;
    };
    return (socket.*(&access::impl_)).get_implementation();
  }
  template <class Socket>
  static reactor_type::per_descriptor_data& descriptor_data(Socket& socket) noexcept {
    return implementation(socket).reactor_data_;
  }

  static status do_perform(reactor_op* base) noexcept {
    auto* op = static_cast<pooled_read_op*>(base);
    if (op->buffer() == nullptr && wants_buffer<Receiver>(*op->owner_) && !op->buffer_.acquire()) {
      op->ec_ = boost::asio::error::no_memory;
      return done;
    }
    const receive_result r = Receiver::receive(*op->owner_, op->fd_, op->buffer(), op->buffer_.size());
    if (r.n > 0) {
      op->bytes_transferred_ = static_cast<std::size_t>(r.n);
      return op->eager_ || r.queued != 0 ? done : done_and_exhausted;
    }
    if (r.n == 0) {
      op->ec_ = boost::asio::error::eof;
      return done;
    }
    if (r.error == EAGAIN || r.error == EWOULDBLOCK) {
      op->release();  // nothing to read: the wait holds no buffer
      return not_done;
    }
    op->ec_ = boost::system::error_code(r.error, boost::asio::error::get_system_category());
    return done;
  }

  static void do_complete(void* scheduler, boost::asio::detail::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* op = static_cast<pooled_read_op*>(static_cast<reactor_op*>(base));
    // The op lives inside its owner: once `owner` is released below it may be gone.
    std::shared_ptr<Owner> owner = std::move(op->owner_);
    if (scheduler == nullptr) return;  // the io_context is being destroyed: just let go
    // Copies: on_read_complete may start the op again, which resets both.
    const boost::system::error_code ec = op->ec_;
    const std::size_t n = op->bytes_transferred_;
    Owner* o = owner.get();
    o->on_read_complete(ec, n, std::move(owner));
  }

  std::shared_ptr<Owner> owner_;
  pool_buffer buffer_;
  int fd_ = -1;
  bool eager_ = false;
};

}  // namespace echo::detail
