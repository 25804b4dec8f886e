#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstddef>
#include <utility>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/system/error_code.hpp>

#include "detail/receive.hpp"

namespace echo::detail {

/// The socket a tls_stream's BIO reads and writes, and what the kernel said is still
/// queued after its last recv (TCP_INQ; -1 unknown).
struct socket_bio_state {
  int fd = -1;
  int queued = -1;
};

/// The error a failed SSL_* call means, from SSL_get_error's `code` and OpenSSL's error
/// queue (and errno, read right after the call, for SSL_ERROR_SYSCALL), in the terms Asio's
/// ssl::stream uses: eof for close_notify, ssl::error::stream_truncated for a TCP end
/// without one, the system error for a reset, an ssl-category code otherwise.
boost::system::error_code tls_error(int code, int saved_errno) noexcept;

/// A server-side TLS stream on a non-blocking TCP socket, driven by the socket's readiness
/// (async_wait), with no buffers of its own beyond OpenSSL's (which SSL_MODE_RELEASE_BUFFERS
/// gives back while idle). One operation at a time, as the echo state machine runs them:
/// handshake, then reads (receive, called by the session's read op when the socket is
/// readable, like a recv) alternating with whole writes, then shutdown.
///
/// OpenSSL reads records from the socket into its own buffer and encrypts straight into it
/// through a BIO that calls recv/send, as a plain OpenSSL server does. Asio's ssl::stream
/// instead moves every record through its own buffers and a BIO pair, two extra copies each
/// way and about 68 KiB per connection. send() uses MSG_NOSIGNAL, so a peer gone mid-write
/// is an EPIPE, not a SIGPIPE for whoever embeds us.
template <class Executor>
class tls_stream {
 public:
  using executor_type = Executor;
  using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;

  /// Takes the socket (made non-blocking) and a new SSL from `ctx` in the accept state.
  /// Throws std::bad_alloc when OpenSSL cannot allocate it.
  tls_stream(socket_type socket, SSL_CTX* ctx);
  tls_stream(const tls_stream&) = delete;
  tls_stream& operator=(const tls_stream&) = delete;
  ~tls_stream();

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  socket_type& socket() noexcept { return socket_; }

  /// handler(error_code) once the handshake is done or failed; never inline.
  template <class Handler>
  void async_handshake(Handler&& handler) {
    do_handshake(std::forward<Handler>(handler), true);
  }

  /// One SSL_read of up to `size` bytes (at most one record), for a read op (see
  /// socket_receiver): n > 0 with `queued` saying whether OpenSSL or the socket still holds
  /// bytes; n == 0 at the peer's close_notify or TCP end (truncated() tells which); n < 0
  /// with EAGAIN when OpenSSL needs the socket to be readable, with EINPROGRESS when it
  /// needs it writable (a reply such as a KeyUpdate that the send buffer could not take),
  /// and with EPROTO for a TLS or socket error, which error() then holds.
  receive_result receive(std::byte* buffer, std::uint32_t size) noexcept;

  /// The error behind the last receive's EPROTO.
  const boost::system::error_code& error() const noexcept { return error_; }
  /// Whether the last end of stream was a TCP end without close_notify.
  bool truncated() const noexcept { return truncated_; }

  /// Writes all `n` bytes as records; handler(error_code, bytes written). Completes inline
  /// when the socket takes them at once, as a plain send would.
  template <class Handler>
  void async_write(const void* data, std::size_t n, Handler&& handler) {
    do_write(static_cast<const unsigned char*>(data), n, 0, std::forward<Handler>(handler));
  }

  /// Sends close_notify; handler(error_code) once it is out. It does not wait for the
  /// peer's: the reads that follow see it as eof.
  template <class Handler>
  void async_shutdown(Handler&& handler) {
    ::ERR_clear_error();
    const int ret = ::SSL_shutdown(ssl_);
    if (ret >= 0) {  // 1: both close_notify done; 0: ours is out
      handler(boost::system::error_code{});
      return;
    }
    const int saved_errno = errno;
    const int code = ::SSL_get_error(ssl_, ret);
    if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
      socket_.async_wait(wait_for(code), [this, h = std::forward<Handler>(handler)](
                                             const boost::system::error_code& ec) mutable {
        if (ec) {
          h(ec);
          return;
        }
        async_shutdown(std::move(h));
      });
      return;
    }
    handler(tls_error(code, saved_errno));
  }

 private:
  static boost::asio::socket_base::wait_type wait_for(int code) noexcept {
    return code == SSL_ERROR_WANT_READ ? boost::asio::socket_base::wait_read
                                       : boost::asio::socket_base::wait_write;
  }

  template <class Handler>
  void do_handshake(Handler&& handler, bool initiating) {
    ::ERR_clear_error();
    const int ret = ::SSL_do_handshake(ssl_);
    boost::system::error_code ec;
    if (ret != 1) {
      const int saved_errno = errno;
      const int code = ::SSL_get_error(ssl_, ret);
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
        socket_.async_wait(wait_for(code), [this, h = std::forward<Handler>(handler)](
                                               const boost::system::error_code& e) mutable {
          if (e) {
            h(e);
            return;
          }
          do_handshake(std::move(h), false);
        });
        return;
      }
      ec = tls_error(code, saved_errno);
    }
    if (initiating) {
      boost::asio::post(socket_.get_executor(),
                        [ec, h = std::forward<Handler>(handler)]() mutable { h(ec); });
      return;
    }
    handler(ec);
  }

  template <class Handler>
  void do_write(const unsigned char* data, std::size_t n, std::size_t done, Handler&& handler) {
    while (done < n) {
      ::ERR_clear_error();
      std::size_t written = 0;
      const int ret = ::SSL_write_ex(ssl_, data + done, n - done, &written);
      if (ret == 1) {
        done += written;
        continue;
      }
      const int saved_errno = errno;
      const int code = ::SSL_get_error(ssl_, ret);
      if (code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE) {
        // OpenSSL keeps the record it could not send; the retry passes the same bytes.
        socket_.async_wait(wait_for(code), [this, data, n, done, h = std::forward<Handler>(handler)](
                                               const boost::system::error_code& ec) mutable {
          if (ec) {
            h(ec, done);
            return;
          }
          do_write(data, n, done, std::move(h));
        });
        return;
      }
      handler(tls_error(code, saved_errno), done);
      return;
    }
    handler(boost::system::error_code{}, n);
  }

  socket_type socket_;
  SSL* ssl_;
  /// What the BIO reads and writes: the socket, and what its last recv left queued.
  socket_bio_state bio_;
  boost::system::error_code error_;
  bool truncated_ = false;
};

}  // namespace echo::detail
