#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>

#include "detail/buffer_pool.hpp"
#include "detail/echo_session.hpp"

namespace echo::detail {

class tls_context;

/// One TLS echo connection: the echo state machine over an Asio ssl::stream on a TCP
/// socket. This class only supplies the stream:
/// - start is the server handshake, under the TLS context's handshake timeout (which uses
///   the session's one deadline; the idle limit takes over once it completes);
/// - reads are tried synchronously on the non-blocking socket, into a pool buffer taken
///   for that read and its echo; when OpenSSL has no whole record yet the buffer goes back
///   and the session waits for the socket to become readable holding none. A pending
///   async_read_some would pin a buffer for as long as the peer is silent, and waiting on
///   the socket first would miss records Asio and OpenSSL already hold;
/// - writes are async_write (whole records);
/// - shutdown is close_notify; when we finish first it completes once the peer's
///   close_notify is in, so the discard that follows ends at once;
/// - the peer's close_notify reads as eof, and so does a TCP FIN without one (a truncation
///   cannot hurt an echo: every byte received has been echoed already).
///
/// Each session keeps the ssl::context it was accepted with (see tls_context::reload).
template <class Executor>
class tls_session final : public echo_session<tls_session<Executor>> {
 public:
  using executor_type = Executor;
  using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
  using stream_type = boost::asio::ssl::stream<socket_type>;

  tls_session(socket_type socket, std::shared_ptr<tls_context> tls, std::shared_ptr<session_context> context,
              std::uint64_t id);

  executor_type get_executor() noexcept { return stream_.get_executor(); }

 private:
  using base = echo_session<tls_session>;
  using self_ptr = std::shared_ptr<tls_session>;
  friend base;

  /// Where the TLS layer stands (the echo state lives in the base).
  enum class phase : std::uint8_t {
    handshaking,
    open,
    peer_gone,  ///< the peer closed TCP without close_notify: no TLS record can go out now
  };

  void stream_start(self_ptr self);
  void on_handshake(const boost::system::error_code& ec, self_ptr self);
  // `eager` only matters to the pooled TCP read: a tried read is always eager.
  void stream_read(self_ptr self, bool /*eager*/) { do_try_read(std::move(self), false); }
  void do_try_read(self_ptr self, bool after_wait);
  std::byte* stream_data() const noexcept { return buffer_.data(); }
  void stream_release() noexcept { buffer_.release(); }
  void stream_write(const std::byte* data, std::size_t n, self_ptr self);
  void stream_shutdown(self_ptr self);
  void stream_cancel() noexcept;
  void stream_close() noexcept;
  void stream_reset() noexcept;
  std::size_t stream_unsent() noexcept;
  // For a PROXY header, read off the TCP socket before the handshake.
  int stream_handle() noexcept { return stream_.lowest_layer().native_handle(); }
  template <class Handler>
  void stream_wait_readable(Handler&& handler) {
    stream_.lowest_layer().async_wait(boost::asio::socket_base::wait_read, std::forward<Handler>(handler));
  }

  void count_failure(const boost::system::error_code& ec) noexcept;

  std::shared_ptr<tls_context> tls_;
  std::shared_ptr<boost::asio::ssl::context> ssl_;  ///< before stream_, which uses it
  stream_type stream_;
  pool_buffer buffer_;
  std::uint32_t handshake_due_ = 0;  ///< tick; tells a handshake timeout from other closes
  phase phase_ = phase::handshaking;
};

}  // namespace echo::detail
