#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "detail/echo_session.hpp"
#include "detail/read_op.hpp"
#include "detail/tls_stream.hpp"

namespace echo::detail {

class tls_context;

/// One TLS echo connection: the echo state machine over a tls_stream (OpenSSL straight on
/// the TCP socket). This class only supplies the stream:
/// - start is the server handshake, under the TLS context's handshake timeout (which uses
///   the session's one deadline; the idle limit takes over once it completes);
/// - reads go through the same read op as plain TCP (read_op.hpp), with SSL_read in place
///   of recv: a waiting session holds no buffer, a read that finds a record completes
///   without a wait, and a read that leaves nothing in OpenSSL or the socket tells the
///   reactor so, which saves the EAGAIN read and the re-arm a request/response peer would
///   otherwise cost per message;
/// - writes go out whole, a record at a time, completing inline when the socket takes them;
/// - shutdown is close_notify; the discard that follows reads until the peer's;
/// - the peer's close_notify reads as eof, and so does a TCP FIN without one (a truncation
///   cannot hurt an echo: every byte received has been echoed already).
///
/// Each session keeps the ssl::context it was accepted with (see tls_context::reload).
template <class Executor>
class tls_session final : public echo_session<tls_session<Executor>> {
 public:
  using executor_type = Executor;
  using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;
  using stream_type = tls_stream<Executor>;

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

  /// The read op's source of bytes: one SSL_read (see tls_stream::receive).
  struct receiver {
    static receive_result receive(tls_session& s, int, std::byte* buffer, std::uint32_t size) noexcept {
      return s.stream_.receive(buffer, size);
    }
  };
  friend read_op<tls_session, receiver>;

  void stream_start(self_ptr self);
  void on_handshake(const boost::system::error_code& ec, self_ptr self);
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
  // For a PROXY header, read off the TCP socket before the handshake.
  int stream_handle() noexcept { return stream_.socket().native_handle(); }
  template <class Handler>
  void stream_wait_readable(Handler&& handler) {
    stream_.socket().async_wait(boost::asio::socket_base::wait_read, std::forward<Handler>(handler));
  }

  void count_failure(const boost::system::error_code& ec) noexcept;

  std::shared_ptr<tls_context> tls_;
  std::shared_ptr<boost::asio::ssl::context> ssl_;  ///< before stream_, which uses it
  stream_type stream_;
  read_op<tls_session, receiver> read_;
  std::uint32_t handshake_due_ = 0;  ///< tick; tells a handshake timeout from other closes
  phase phase_ = phase::handshaking;
};

}  // namespace echo::detail
