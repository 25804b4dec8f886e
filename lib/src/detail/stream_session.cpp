#include "detail/stream_session.hpp"

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

template <class Protocol, class Executor>
stream_session<Protocol, Executor>::stream_session(socket_type socket,
                                                   std::shared_ptr<session_context> context, std::uint64_t id)
    : base(std::move(context), id), socket_(std::move(socket)) {
  read_op<stream_session>::adopt_accepted(socket_);
}

template <class Protocol, class Executor>
void stream_session<Protocol, Executor>::stream_read(self_ptr self, bool eager) {
  auto& ctx = this->context();
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
