#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include <boost/asio/basic_stream_socket.hpp>

#include "detail/echo_session.hpp"
#include "detail/read_op.hpp"

namespace echo::detail {

/// One plain stream connection (TCP, MPTCP, or a Unix stream socket): the echo state machine
/// over a socket. This class only supplies the stream:
/// - reads go through read_op (read_op.hpp): a waiting session holds no buffer, the bytes
///   land in one of the thread's hot pool buffers, and the buffer goes back as soon as the
///   echo is sent;
/// - the echo is sent with a direct non-blocking send first; only what does not fit goes
///   through async_write, whose completion then carries the backpressure (until then the
///   session keeps the buffer holding it);
/// - shutdown(send) is our FIN, synchronous; an RST is SO_LINGER 0 then close.
///
/// `Executor` is a strand when several threads run the io_context and the plain io_context
/// executor when one does, so a single-threaded server pays for no strand.
template <class Protocol, class Executor>
class stream_session final : public echo_session<stream_session<Protocol, Executor>> {
 public:
  using executor_type = Executor;
  using socket_type = boost::asio::basic_stream_socket<Protocol, Executor>;

  /// `socket` must come straight from accept() (it is taken to have no duplicate descriptor).
  stream_session(socket_type socket, std::shared_ptr<session_context> context, std::uint64_t id);

  executor_type get_executor() noexcept { return socket_.get_executor(); }

 private:
  using base = echo_session<stream_session>;
  using self_ptr = std::shared_ptr<stream_session>;
  friend base;
  friend read_op<stream_session>;

  void stream_start(self_ptr self) { this->on_start({}, std::move(self)); }
  void stream_read(self_ptr self, bool eager);
  void on_read_complete(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  std::byte* stream_data() const noexcept { return read_.buffer(); }
  void stream_release() noexcept { read_.release(); }
  void stream_write(const std::byte* data, std::size_t n, self_ptr self);
  void stream_shutdown(self_ptr self);
  void stream_cancel() noexcept;
  void stream_close() noexcept;
  void stream_reset() noexcept;
  std::size_t stream_unsent() noexcept;
  // For a PROXY header, read off the socket before anything else.
  int stream_handle() noexcept { return socket_.native_handle(); }
  template <class Handler>
  void stream_wait_readable(Handler&& handler) {
    socket_.async_wait(boost::asio::socket_base::wait_read, std::forward<Handler>(handler));
  }

  socket_type socket_;
  read_op<stream_session> read_;
};

}  // namespace echo::detail
