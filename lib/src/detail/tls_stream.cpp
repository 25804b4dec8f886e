#include "detail/tls_stream.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <new>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>

namespace asio = boost::asio;
using boost::system::error_code;

namespace echo::detail {
namespace {

socket_bio_state& state_of(BIO* b) noexcept { return *static_cast<socket_bio_state*>(BIO_get_data(b)); }

bool try_again(int error) noexcept { return error == EAGAIN || error == EWOULDBLOCK || error == EINTR; }

int socket_write(BIO* b, const char* data, std::size_t n, std::size_t* written) {
  BIO_clear_retry_flags(b);
  const ssize_t sent = ::send(state_of(b).fd, data, n, MSG_NOSIGNAL);
  if (sent >= 0) {
    *written = static_cast<std::size_t>(sent);
    return 1;
  }
  if (try_again(errno)) BIO_set_retry_write(b);
  return 0;
}

int socket_read(BIO* b, char* data, std::size_t n, std::size_t* got) {
  BIO_clear_retry_flags(b);
  auto& state = state_of(b);
  // recvmsg with TCP_INQ: the read op learns from `queued` whether to wait for the next
  // readiness event or read again, as it does for plain TCP.
  const receive_result r = receive_some(state.fd, reinterpret_cast<std::byte*>(data),
                                        static_cast<std::uint32_t>(std::min<std::size_t>(n, UINT32_MAX)));
  if (r.n > 0) {
    state.queued = r.queued;
    *got = static_cast<std::size_t>(r.n);
    return 1;
  }
  if (r.n == 0) {
    // What tells OpenSSL's record layer a TCP end from an error (unexpected eof).
    BIO_set_flags(b, BIO_FLAGS_IN_EOF);
  } else if (try_again(r.error)) {
    state.queued = 0;
    BIO_set_retry_read(b);
  } else {
    errno = r.error;
  }
  return 0;
}

long socket_ctrl(BIO* b, int cmd, long, void*) {
  switch (cmd) {
    case BIO_CTRL_FLUSH: return 1;  // nothing is buffered here
    case BIO_CTRL_EOF: return BIO_test_flags(b, BIO_FLAGS_IN_EOF) != 0 ? 1 : 0;
    default: return 0;
  }
}

int socket_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}

const BIO_METHOD* socket_method() noexcept {
  static BIO_METHOD* const method = [] {
    BIO_METHOD* m =
        ::BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK | BIO_TYPE_DESCRIPTOR, "echo socket");
    if (m == nullptr) return m;
    ::BIO_meth_set_write_ex(m, socket_write);
    ::BIO_meth_set_read_ex(m, socket_read);
    ::BIO_meth_set_ctrl(m, socket_ctrl);
    ::BIO_meth_set_create(m, socket_create);
    return m;
  }();
  return method;
}

// Attaches `ssl` to `state.fd` through the recv/send BIO; false when OpenSSL cannot
// allocate it.
bool attach_socket_bio(SSL* ssl, socket_bio_state& state) noexcept {
  const BIO_METHOD* method = socket_method();
  if (method == nullptr) return false;
  BIO* bio = ::BIO_new(method);
  if (bio == nullptr) return false;
  BIO_set_data(bio, &state);
  ::SSL_set_bio(ssl, bio, bio);  // one BIO both ways; SSL_free frees it
  return true;
}

}  // namespace

error_code tls_error(int code, int saved_errno) noexcept {
  const auto& ssl_category = asio::error::get_ssl_category();
  switch (code) {
    case SSL_ERROR_ZERO_RETURN: return asio::error::eof;
    case SSL_ERROR_SYSCALL: {
      if (const unsigned long e = ::ERR_get_error(); e != 0) return {static_cast<int>(e), ssl_category};
      if (saved_errno != 0) return {saved_errno, boost::system::system_category()};
      return asio::ssl::error::stream_truncated;
    }
    case SSL_ERROR_SSL: {
      const unsigned long e = ::ERR_get_error();
      if (ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) return asio::ssl::error::stream_truncated;
      return {static_cast<int>(e), ssl_category};
    }
    default: return {static_cast<int>(::ERR_get_error()), ssl_category};
  }
}

template <class Executor>
tls_stream<Executor>::tls_stream(socket_type socket, SSL_CTX* ctx)
    : socket_(std::move(socket)), ssl_(::SSL_new(ctx)) {
  bio_.fd = socket_.native_handle();
  if (ssl_ == nullptr || !attach_socket_bio(ssl_, bio_)) {
    ::SSL_free(ssl_);
    throw std::bad_alloc();
  }
  ::SSL_set_accept_state(ssl_);
  // Read-ahead: one recv takes a record's header and body (and whatever follows) instead of
  // one recv for each; SSL_has_pending then tells the read op what OpenSSL holds.
  ::SSL_set_read_ahead(ssl_, 1);
  // Partial writes: one record at a time goes out, so a full send buffer holds back at most
  // a record. Moving buffer: a retried write may come from another address.
  ::SSL_set_mode(ssl_, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  error_code ignored;
  socket_.non_blocking(true, ignored);
}

template <class Executor>
tls_stream<Executor>::~tls_stream() {
  ::SSL_free(ssl_);
}

template <class Executor>
receive_result tls_stream<Executor>::receive(std::byte* buffer, std::uint32_t size) noexcept {
  receive_result r;
  ::ERR_clear_error();
  std::size_t got = 0;
  const int ret = ::SSL_read_ex(ssl_, buffer, size, &got);
  if (ret == 1) {
    r.n = static_cast<long>(got);
    // Left over: records (or the rest of one) OpenSSL read ahead, or what the socket holds.
    r.queued = ::SSL_has_pending(ssl_) != 0 ? 1 : bio_.queued;
    return r;
  }
  const int saved_errno = errno;
  const int code = ::SSL_get_error(ssl_, ret);
  r.n = -1;
  switch (code) {
    case SSL_ERROR_WANT_READ: r.error = EAGAIN; return r;
    case SSL_ERROR_WANT_WRITE: r.error = EINPROGRESS; return r;
    default: break;
  }
  error_ = tls_error(code, saved_errno);
  if (error_ == asio::error::eof || error_ == asio::ssl::error::stream_truncated) {
    truncated_ = error_ != asio::error::eof;
    r.n = 0;
    return r;
  }
  r.error = EPROTO;
  return r;
}

template class tls_stream<asio::io_context::executor_type>;
template class tls_stream<asio::strand<asio::io_context::executor_type>>;

}  // namespace echo::detail
