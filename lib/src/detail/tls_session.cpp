#include "detail/tls_session.hpp"

#include <linux/sockios.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/ioctl.h>

#include <chrono>
#include <type_traits>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/strand.hpp>

#include "detail/expected_end.hpp"
#include "detail/tls_context.hpp"
#include "echo/endpoint_text.hpp"
#include "echo/logger.hpp"

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using boost::system::error_code;

namespace echo::detail {
namespace {

tls_failure classify(const error_code& ec) noexcept {
  if (ec == ssl::error::stream_truncated || is_expected_end(ec)) return tls_failure::closed;
  if (ec.category() != asio::error::get_ssl_category()) return tls_failure::other;
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_HTTP_REQUEST:
    case SSL_R_HTTPS_PROXY_REQUEST:
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_UNKNOWN_PROTOCOL:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
    case SSL_R_RECORD_LENGTH_MISMATCH:
    case SSL_R_UNEXPECTED_RECORD:
    case SSL_R_UNEXPECTED_MESSAGE: return tls_failure::not_tls;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_NO_PROTOCOLS_AVAILABLE:
    case SSL_R_VERSION_TOO_LOW:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
    case SSL_R_NO_SHARED_CIPHER:
    case SSL_R_NO_SHARED_GROUPS:
    case SSL_R_NO_SUITABLE_SIGNATURE_ALGORITHM:
    case SSL_R_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_NO_APPLICATION_PROTOCOL:
    case SSL_R_TLSV1_ALERT_INSUFFICIENT_SECURITY:
    case SSL_R_SSLV3_ALERT_HANDSHAKE_FAILURE: return tls_failure::protocol;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE: return tls_failure::no_client_cert;
    case SSL_R_CERTIFICATE_VERIFY_FAILED: return tls_failure::bad_client_cert;
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
    case SSL_R_SSLV3_ALERT_CERTIFICATE_REVOKED:
    case SSL_R_SSLV3_ALERT_UNSUPPORTED_CERTIFICATE: return tls_failure::rejected_by_client;
    default: return tls_failure::other;
  }
}

}  // namespace

template <class Executor>
tls_session<Executor>::tls_session(socket_type socket, std::shared_ptr<tls_context> tls,
                                   std::shared_ptr<session_context> context, std::uint64_t id)
    : base(std::move(context), id),
      tls_(std::move(tls)),
      ssl_(tls_->current()),
      stream_(std::move(socket), ssl_->native_handle()) {}

template <class Executor>
void tls_session<Executor>::stream_start(self_ptr self) {
  // The handshake gets its own, usually shorter, limit in the session's one deadline slot;
  // expire() closes a session still starting like any idle one, and stream_close() tells
  // the handshake counters it was a timeout.
  auto& ctx = this->context();
  const std::uint32_t ticks = tls_->handshake_ticks();
  if (ticks != 0 && (ctx.idle_ticks == 0 || ticks < ctx.idle_ticks))
    this->set_deadline(ctx.deadline_in(ticks));
  handshake_due_ = this->deadline();  // the idle limit's, when that is the shorter one
  stream_.async_handshake(
      [this, s = std::move(self)](const error_code& ec) mutable { on_handshake(ec, std::move(s)); });
}

template <class Executor>
void tls_session<Executor>::on_handshake(const error_code& ec, self_ptr self) {
  if (this->state() == session_state::closed) {  // timed out, drained or closed meanwhile
    this->on_start(ec, std::move(self));
    return;
  }
  if (ec) {
    count_failure(ec);
    // Counted and logged here, by reason and per peer: handed on as an expected end, the
    // session closes without a second, per-connection error line.
    this->on_start(asio::error::connection_aborted, std::move(self));
    return;
  }
  phase_ = phase::open;
  tls_->stats().handshakes.fetch_add(1, std::memory_order_relaxed);
  auto& ctx = this->context();
  this->set_deadline(ctx.deadline_in(ctx.idle_ticks));  // from here on the idle limit applies
  this->on_start({}, std::move(self));
}

template <class Executor>
void tls_session<Executor>::count_failure(const error_code& ec) noexcept {
  const tls_failure why = ec ? classify(ec) : tls_failure::timeout;
  tls_->stats().count(why);
  // Never the bytes themselves: only who, why, and OpenSSL's reason.
  static log_limit limit(log_level::warn, "tls_handshake_failed");
  static log_limit quiet(log_level::debug, "tls_handshake_failed");
  auto& log = why == tls_failure::closed ? quiet : limit;
  if (!logger::instance().enabled(log.level())) return;
  error_code peer_ec;
  const auto peer = stream_.socket().remote_endpoint(peer_ec);
  if (!peer_ec && !tls_->failure_log().first(peer.address(), std::chrono::steady_clock::now())) return;
  log_event(log, "TLS handshake failed",
            {{"conn", this->id()},
             {"peer", peer_ec ? std::string("?") : endpoint_text(peer)},
             {"reason", to_string(why)},
             {"error", ec ? ec.message() : std::string("handshake timeout")}});
}

template <class Executor>
void tls_session<Executor>::stream_read(self_ptr self, bool eager) {
  if (phase_ == phase::peer_gone) {
    // OpenSSL has failed the connection; a read can only say so again.
    asio::post(stream_.get_executor(),
               [this, s = std::move(self)]() mutable { this->on_read(asio::error::eof, 0, std::move(s)); });
    return;
  }
  auto& ctx = this->context();
  read_.start(ctx.reads, stream_.socket(), ctx.read_size(), std::move(self), eager);
}

template <class Executor>
void tls_session<Executor>::on_read_complete(const error_code& ec, std::size_t n, self_ptr self) {
  // The read op completes on the thread that ran the reactor; with several threads the
  // session's steps must still run on its strand.
  if constexpr (!std::is_same_v<Executor, asio::io_context::executor_type>) {
    if (!stream_.get_executor().running_in_this_thread()) {
      asio::dispatch(stream_.get_executor(),
                     [this, ec, n, s = std::move(self)]() mutable { on_read_complete(ec, n, std::move(s)); });
      return;
    }
  }
  if (ec == asio::error::in_progress) {
    // OpenSSL must send before it can read on (a KeyUpdate reply the socket did not take).
    stream_.socket().async_wait(asio::socket_base::wait_write,
                                [this, s = std::move(self)](const error_code& e) mutable {
                                  if (e) {
                                    this->on_read(e, 0, std::move(s));
                                    return;
                                  }
                                  stream_read(std::move(s), true);
                                });
    return;
  }
  if (ec == asio::error::eof && stream_.truncated()) phase_ = phase::peer_gone;
  this->on_read(ec == error_code(EPROTO, boost::system::system_category()) ? stream_.error() : ec, n,
                std::move(self));
}

template <class Executor>
void tls_session<Executor>::stream_write(const std::byte* data, std::size_t n, self_ptr self) {
  stream_.async_write(data, n,
                      [this, s = std::move(self)](const error_code& ec, std::size_t written) mutable {
                        this->on_write(ec, written, std::move(s));
                      });
}

template <class Executor>
void tls_session<Executor>::stream_shutdown(self_ptr self) {
  if (phase_ == phase::peer_gone) {
    // The peer closed TCP without close_notify: our close_notify would meet a closed
    // socket or an OpenSSL in error; a FIN is all that is left to send.
    error_code ec;
    stream_.socket().shutdown(asio::socket_base::shutdown_send, ec);
    this->on_shutdown(ec, std::move(self));
    return;
  }
  // Sends close_notify; the discard that follows in `lingering` reads until the peer's.
  stream_.async_shutdown([this, s = std::move(self)](error_code ec) mutable {
    if (ec == ssl::error::stream_truncated || ec == asio::error::eof) {
      phase_ = phase::peer_gone;  // the peer's FIN came instead of its close_notify
      ec = {};
    }
    this->on_shutdown(ec, std::move(s));
  });
}

template <class Executor>
void tls_session<Executor>::stream_cancel() noexcept {
  error_code ignored;
  stream_.socket().cancel(ignored);
}

template <class Executor>
void tls_session<Executor>::stream_close() noexcept {
  if (phase_ == phase::handshaking && handshake_due_ != 0 && this->context().now() >= handshake_due_)
    count_failure({});
  error_code ignored;
  stream_.socket().close(ignored);
}

template <class Executor>
void tls_session<Executor>::stream_reset() noexcept {
  // SO_LINGER with a zero timeout makes close(2) send an RST and drop what is unsent.
  error_code ignored;
  stream_.socket().set_option(asio::socket_base::linger(true, 0), ignored);
  stream_.socket().close(ignored);
}

template <class Executor>
std::size_t tls_session<Executor>::stream_unsent() noexcept {
  // SIOCOUTQ: bytes in the send queue not yet acknowledged by the peer (record overhead
  // included; it only matters whether this is zero).
  int queued = 0;
  if (::ioctl(stream_.socket().native_handle(), SIOCOUTQ, &queued) != 0 || queued < 0) return 0;
  return static_cast<std::size_t>(queued);
}

template class tls_session<asio::io_context::executor_type>;
template class tls_session<asio::strand<asio::io_context::executor_type>>;

}  // namespace echo::detail
