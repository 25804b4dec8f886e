#include "detail/stream_session.hpp"

#include <fcntl.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <cerrno>
#include <type_traits>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

namespace asio = boost::asio;
using boost::system::error_code;

namespace echo::detail {

#if ECHO_SPLICE_PATH
namespace {

// A copying read of at least splice_threshold moves the session to the splice path; a
// spliced read under splice_floor moves it back. Two splices and a pipe cost more than one
// recv and one send for small messages and less for large ones (bench/RESULTS.md, the
// splice path section). The gap between the two keeps a stream whose reads vary around
// the threshold from flipping at every read: with one threshold, `stream:1:64K` measured
// 1.03x the floor's CPU against 0.84x with every read spliced.
constexpr long splice_threshold = 8 * 1024;
constexpr long splice_floor = 4 * 1024;

// No SPLICE_F_MOVE: the kernel has ignored it since 2.6.21 (pages are always referenced,
// never moved). No SPLICE_F_MORE on the way out: the echo must leave now, as with
// TCP_NODELAY, not wait for bytes that are not coming.
constexpr unsigned splice_flags = SPLICE_F_NONBLOCK;

}  // namespace
#endif

template <class Protocol, class Executor>
stream_session<Protocol, Executor>::stream_session(socket_type socket,
                                                   std::shared_ptr<session_context> context, std::uint64_t id)
    : base(std::move(context), id), socket_(std::move(socket)) {
#if ECHO_SPLICE_PATH
  // The splice state (packed_) must stay in the read op's tail padding: idle memory per
  // connection is the same with the path built as without it.
  struct without_splice_state : base {
    socket_type socket;
    [[no_unique_address]] read_op<stream_session, receiver> read;
  };
  static_assert(sizeof(stream_session) == sizeof(without_splice_state),
                "the splice state no longer fits in the read op's tail padding");
#endif
  read_op<stream_session>::adopt_accepted(socket_);
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_read(self_ptr self, bool eager) {
  auto& ctx = this->context();
#if ECHO_SPLICE_PATH
  // Decided here, on the session's executor, because the read op's perform step may run on
  // another thread: a step plan (faults) or another service must see the bytes, and reads
  // that write nothing back (discard, the linger after our FIN) have nothing to splice to.
  const bool may = !eager && ctx.splice != splice_mode::off && this->may_splice();
  if (!may) set_splice_next(false);
  else if (ctx.splice == splice_mode::always) set_splice_next(true);
  if (splice_next() && !socket_.non_blocking()) {
    // splice(2) blocks on a blocking socket whatever its flags say; the reads and writes of
    // the copying path pass MSG_DONTWAIT instead, so only a session that splices pays this.
    error_code ec;
    socket_.non_blocking(true, ec);
    if (ec) set_splice_next(false);
  }
#endif
  read_.start(ctx.reads, socket_, ctx.read_size(), std::move(self), eager);
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::on_read_complete(const error_code& ec, std::size_t n,
                                                          self_ptr self) {
  // The pooled read completes on the thread that ran the reactor; with several threads the
  // session's steps must still run on its strand.
  if constexpr (!std::is_same_v<Executor, asio::io_context::executor_type>) {
    if (!socket_.get_executor().running_in_this_thread()) {
      asio::dispatch(socket_.get_executor(), [ec, n, s = std::move(self)]() mutable {
        auto* p = s.get();
        p->on_read(ec, n, std::move(s));
      });
      return;
    }
  }
  this->on_read(ec, n, std::move(self));
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_write(const std::byte* data, std::size_t n, self_ptr self) {
  // The peer's receive window almost always has room: send right here and skip the
  // scheduler round trip an async_write costs even when it completes at once.
  const ssize_t sent = ::send(socket_.native_handle(), data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent == static_cast<ssize_t>(n)) {
    this->on_write({}, n, std::move(self));
    return;
  }
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    this->on_write(error_code(errno, boost::system::system_category()), 0, std::move(self));
    return;
  }
  const auto done = sent > 0 ? static_cast<std::size_t>(sent) : 0;
  asio::async_write(socket_, asio::buffer(data + done, n - done),
                    [this, done, s = std::move(self)](const error_code& e, std::size_t rest) mutable {
                      this->on_write(e, done + rest, std::move(s));
                    });
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_release() noexcept {
  read_.release();
#if ECHO_SPLICE_PATH
  // A pipe still held here holds bytes that were never echoed: they must not reach the next
  // session that takes it.
  drop_pipe();
#endif
}

#if ECHO_SPLICE_PATH
template <class Protocol, class Executor>
bool stream_session<Protocol, Executor>::take_pipe() noexcept {
  if (!splice_next()) return false;
  int p = pipe_pool::try_acquire(this->context().pipe_room());
  if (p > max_pipe_fd) pipe_pool::discard(p);
  if (p < 0) return false;
  set_pipe(p);
  return true;
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::give_back_pipe() noexcept {
  int p = pipe();
  set_pipe(-1);
  pipe_pool::release(p, this->context().pipe_room());
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::drop_pipe() noexcept {
  int p = pipe();
  set_pipe(-1);
  pipe_pool::discard(p);
}

template <class Protocol, class Executor>
receive_result stream_session<Protocol, Executor>::receiver::receive(stream_session& s, int fd,
                                                                     std::byte* buffer,
                                                                     std::uint32_t size) noexcept {
  const int pipe = s.pipe();
  if (pipe < 0) {
    const receive_result r = receive_some(fd, buffer, size);
    s.set_splice_next(r.n >= splice_threshold);
    return r;
  }
  // The pipe is empty, so one splice takes what the socket has up to the pipe's capacity
  // (64 KiB by default): that capacity is what bounds a session on this path.
  receive_result r;
  do {
    r.n = ::splice(fd, nullptr, pipe, nullptr, size, splice_flags);
  } while (r.n < 0 && errno == EINTR);
  // No TCP_INQ count comes with a splice: `queued` stays unknown, so the reactor tries the
  // next read at once (a FIN that came with these bytes is seen then, not lost).
  if (r.n > 0) {
    s.set_splice_next(r.n >= splice_floor);
    return r;
  }
  if (r.n < 0) r.error = errno;
  s.give_back_pipe();  // nothing went in: still empty, and a wait holds no pipe
  return r;
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_echo(std::size_t n, self_ptr self) {
  if (stream_piped()) {
    do_splice_out(n, 0, std::move(self));
    return;
  }
  stream_write(read_.buffer(), n, std::move(self));
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::do_splice_out(std::size_t n, std::size_t done, self_ptr self) {
  // As stream_write: straight away first, and only what does not fit waits for the socket
  // to become writable. The pipe holds the rest meanwhile, so the write timeout covers it.
  while (done < n) {
    const ssize_t moved = ::splice(pipe(), nullptr, socket_.native_handle(), nullptr, n - done, splice_flags);
    if (moved > 0) {
      done += static_cast<std::size_t>(moved);
      continue;
    }
    if (moved < 0 && errno == EINTR) continue;
    if (moved < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      socket_.async_wait(asio::socket_base::wait_write,
                         [this, n, done, s = std::move(self)](const error_code& ec) mutable {
                           if (ec) this->on_write(ec, done, std::move(s));
                           else do_splice_out(n, done, std::move(s));
                         });
      return;
    }
    // 0 cannot happen with the bytes in the pipe; report it rather than spin.
    const error_code ec = moved < 0 ? error_code(errno, boost::system::system_category())
                                    : error_code(asio::error::broken_pipe);
    this->on_write(ec, done, std::move(self));
    return;
  }
  give_back_pipe();  // empty again: the next session may have it
  this->on_write({}, n, std::move(self));
}
#endif

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_shutdown(self_ptr self) {
  error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  this->on_shutdown(ec, std::move(self));
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_cancel() noexcept {
  error_code ignored;
  socket_.cancel(ignored);
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_close() noexcept {
  error_code ignored;
  socket_.close(ignored);
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_reset() noexcept {
  // SO_LINGER with a zero timeout makes close(2) send an RST and drop what is unsent.
  error_code ignored;
  socket_.set_option(asio::socket_base::linger(true, 0), ignored);
  socket_.close(ignored);
}

template <class Protocol, class Executor>
std::size_t stream_session<Protocol, Executor>::stream_unsent() noexcept {
  // SIOCOUTQ: bytes in the send queue not yet acknowledged by the peer.
  int queued = 0;
  if (::ioctl(socket_.native_handle(), SIOCOUTQ, &queued) != 0 || queued < 0) return 0;
  return static_cast<std::size_t>(queued);
}

template class stream_session<asio::ip::tcp, asio::io_context::executor_type>;
template class stream_session<asio::ip::tcp, asio::strand<asio::io_context::executor_type>>;
template class stream_session<asio::local::stream_protocol, asio::io_context::executor_type>;
template class stream_session<asio::local::stream_protocol, asio::strand<asio::io_context::executor_type>>;

}  // namespace echo::detail
