#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/detail/reactor_op.hpp>
#include <boost/asio/detail/scheduler_operation.hpp>
#include <boost/asio/detail/socket_ops.hpp>
#include <boost/asio/error.hpp>
#include <boost/version.hpp>

#include "echo/buffer_pool.hpp"

// This class plugs into Asio's epoll reactor below its public API (detail::reactor_op,
// epoll_reactor::start_op), so it is tied to the Boost version CMake pins.
static_assert(BOOST_VERSION == 108100, "pooled_read_op is written against Asio's epoll reactor in Boost 1.81");
#if !defined(BOOST_ASIO_HAS_EPOLL) || defined(BOOST_ASIO_HAS_IO_URING_AS_DEFAULT)
#error "pooled_read_op needs Asio's epoll reactor"
#endif

namespace echo {

/// Asks the kernel to report the bytes left after each read (TCP_INQ) on every socket
/// `listener` accepts from now on, for pooled_read_op. Without it the op still works, at one
/// more recv per message.
inline bool report_queued_bytes(int listener) noexcept {
  const int on = 1;
  return ::setsockopt(listener, IPPROTO_TCP, TCP_INQ, &on, sizeof on) == 0;
}

/// A read that Asio's epoll reactor performs when the socket is readable, like
/// async_read_some, except that the buffer is not tied to the wait: it is taken from the
/// thread's buffer_pool inside the reactor's perform step, just before recv(2), and given
/// straight back when the read would block.
///
/// Why not async_read_some: a pending async_read_some pins its buffer for as long as the
/// peer is silent, so every open connection would hold one (64 KiB each), and busy
/// connections would each read into their own buffer (cold cache lines, and with
/// page-aligned buffers every one of them competes for the same cache sets). Why not
/// async_wait + recv: async_wait is never speculative, so Asio's reactor re-arms the
/// descriptor with an epoll_ctl for every wait. This op keeps the speculative, no-re-arm
/// path of a read and reads into the few hot buffers of the thread's pool.
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
/// owner alive; completion hands that reference to `owner->on_read(ec, n, owner)`, with
/// the bytes at buffer() until release(). Completion runs on whichever thread ran the
/// reactor; an owner on a strand re-dispatches itself.
template <class Owner>
class pooled_read_op final : boost::asio::detail::reactor_op {
 public:
  using reactor_type = boost::asio::detail::reactor;

  pooled_read_op() noexcept : reactor_op(boost::system::error_code(), &do_perform, &do_complete) {}
  ~pooled_read_op() { release(); }
  pooled_read_op(const pooled_read_op&) = delete;
  pooled_read_op& operator=(const pooled_read_op&) = delete;

  /// Queues the read on `socket` with `reactor`, which must be the reactor of the socket's
  /// io_context. Must not be called while a previous start has not completed.
  template <class Executor>
  void start(reactor_type& reactor,
             boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>& socket,
             std::uint32_t buffer_size, std::shared_ptr<Owner> owner, bool eager = false) {
    release();
    owner_ = std::move(owner);
    ec_ = boost::system::error_code();
    bytes_transferred_ = 0;
    fd_ = socket.native_handle();
    size_ = buffer_size;
    eager_ = eager;
    // Speculative: if the socket is already readable the read happens here and completes
    // through the scheduler; otherwise it waits in the descriptor's queue, without a buffer
    // and without an epoll_ctl (the descriptor stays registered edge-triggered).
    reactor.start_op(reactor_type::read_op, fd_, descriptor_data(socket), this, true, true);
  }

  /// For a socket that came straight from accept(). Asio marks every socket it adopts from a
  /// native handle as possibly duplicated, so that closing it also pays an EPOLL_CTL_DEL in
  /// case another descriptor keeps the file (and its epoll registration) alive. A freshly
  /// accepted socket has no duplicate, and close(2) alone removes it from the epoll set.
  template <class Executor>
  static void adopt_accepted(boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>& socket) noexcept {
    implementation(socket).state_ &= static_cast<boost::asio::detail::socket_ops::state_type>(
        ~boost::asio::detail::socket_ops::possible_dup);
  }

  std::byte* buffer() const noexcept { return buffer_; }
  /// Gives the buffer back to this thread's pool.
  void release() noexcept {
    buffer_pool::release(buffer_, size_);
    buffer_ = nullptr;
  }

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
    if (op->buffer_ == nullptr) {
      op->buffer_ = buffer_pool::try_acquire(op->size_);
      if (op->buffer_ == nullptr) {
        op->ec_ = boost::asio::error::no_memory;
        return done;
      }
    }
    // TCP_INQ (set on the listening socket, inherited by accepted ones) has the kernel say
    // how much is still queued after this read; a FIN still to be read counts as 1.
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
    iovec iov{op->buffer_, op->size_};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    for (;;) {
      msg.msg_control = control;
      msg.msg_controllen = sizeof control;
      const ssize_t n = ::recvmsg(op->fd_, &msg, MSG_DONTWAIT);
      if (n > 0) {
        op->bytes_transferred_ = static_cast<std::size_t>(n);
        return op->eager_ || queued_after(msg) != 0 ? done : done_and_exhausted;
      }
      if (n == 0) {
        op->ec_ = boost::asio::error::eof;
        return done;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        op->release();  // nothing to read: the wait holds no buffer
        return not_done;
      }
      op->ec_ = boost::system::error_code(errno, boost::asio::error::get_system_category());
      return done;
    }
  }

  // Bytes (or a FIN) left in the receive queue after a read; -1 when the kernel did not say.
  static int queued_after(msghdr& msg) noexcept {
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == IPPROTO_TCP && c->cmsg_type == TCP_CM_INQ) {
        int inq = 0;
        std::memcpy(&inq, CMSG_DATA(c), sizeof inq);
        return inq;
      }
    }
    return -1;
  }

  static void do_complete(void* scheduler, boost::asio::detail::scheduler_operation* base,
                          const boost::system::error_code&, std::size_t) {
    auto* op = static_cast<pooled_read_op*>(static_cast<reactor_op*>(base));
    // The op lives inside its owner: once `owner` is released below it may be gone.
    std::shared_ptr<Owner> owner = std::move(op->owner_);
    if (scheduler == nullptr) return;  // the io_context is being destroyed: just let go
    // Copies: on_read may start the op again, which resets both.
    const boost::system::error_code ec = op->ec_;
    const std::size_t n = op->bytes_transferred_;
    Owner* o = owner.get();
    o->on_read(ec, n, std::move(owner));
  }

  std::shared_ptr<Owner> owner_;
  std::byte* buffer_ = nullptr;
  std::uint32_t size_ = 0;
  int fd_ = -1;
  bool eager_ = false;
};

}  // namespace echo
