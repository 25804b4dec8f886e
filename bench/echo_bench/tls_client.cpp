#include "tls_client.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>

#include <arpa/inet.h>

namespace echo::bench {
namespace {

using client::stream_error;
using step = tls_client::step;

step failed(stream_error e) noexcept { return step{.what = step::kind::failed, .error = e}; }

// A failed handshake (an unknown CA, a wrong name) fails every connection the same
// way; one line on stderr says why, the error counts say how often.
void report_once(ssl_st* ssl) noexcept {
  static std::atomic<bool> reported{false};
  if (reported.exchange(true)) return;
  const long verify = SSL_get_verify_result(ssl);
  char text[256] = "handshake failed";
  if (const unsigned long e = ERR_peek_error(); e != 0) ERR_error_string_n(e, text, sizeof text);
  std::fprintf(stderr, "echo-bench: TLS: %s%s%s\n", text, verify == X509_V_OK ? "" : ": ",
               verify == X509_V_OK ? "" : X509_verify_cert_error_string(verify));
}

// What a failed SSL call stands for, once the would-block cases are out.
step from_ssl_error(ssl_st* ssl, int ret, client::verified_stream& stream, bool& want_write) noexcept {
  const int sys = errno;
  const int err = SSL_get_error(ssl, ret);
  const unsigned long last = ERR_peek_last_error();
  ERR_clear_error();
  switch (err) {
    case SSL_ERROR_WANT_READ: want_write = false; return step{};
    case SSL_ERROR_WANT_WRITE: want_write = true; return step{};
    case SSL_ERROR_ZERO_RETURN: return stream.end_of_stream();
    case SSL_ERROR_SYSCALL:
      // ret 0 or errno 0: the TCP stream ended without close_notify. Even after the
      // whole echo that is a truncated TLS stream, so it is never a clean end.
      if (sys == 0 || sys == EPIPE || sys == ECONNRESET)
        return failed(sys == 0 ? stream_error::short_echo : stream_error::reset);
      return failed(client::from_errno(sys));
    default: {
      // OpenSSL 3 reports a TCP EOF without close_notify as an SSL error of its own.
      const bool eof = ERR_GET_REASON(last) == SSL_R_UNEXPECTED_EOF_WHILE_READING;
      return failed(eof ? stream_error::short_echo : stream_error::io);
    }
  }
}

}  // namespace

tls_client::tls_client(const options& opts) : name_(opts.tls_name), verify_(!opts.tls_insecure) {
  ctx_ = SSL_CTX_new(TLS_client_method());
  if (ctx_ == nullptr) throw std::runtime_error("TLS: SSL_CTX_new failed");
  SSL_CTX_set_min_proto_version(ctx_, TLS1_2_VERSION);
  // The retry after a blocked write offers the same bytes (the pattern at the same
  // offset) from the same scratch buffer, possibly more of them.
  SSL_CTX_set_mode(ctx_, SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  // Every connection does a full handshake, as a new client would: no resumption.
  SSL_CTX_set_session_cache_mode(ctx_, SSL_SESS_CACHE_OFF);
  if (verify_) {
    if (SSL_CTX_load_verify_locations(ctx_, opts.tls_ca.c_str(), nullptr) != 1) {
      SSL_CTX_free(ctx_);
      throw std::runtime_error("TLS: cannot load --tls-ca '" + opts.tls_ca + "'");
    }
    SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  }
}

tls_client::~tls_client() { SSL_CTX_free(ctx_); }

ssl_st* tls_client::attach(int fd) const noexcept {
  SSL* ssl = SSL_new(ctx_);
  if (ssl == nullptr) return nullptr;
  in6_addr scratch{};
  const bool is_ip = ::inet_pton(AF_INET, name_.c_str(), &scratch) == 1 ||
                     ::inet_pton(AF_INET6, name_.c_str(), &scratch) == 1;
  bool ok = SSL_set_fd(ssl, fd) == 1;
  // SNI carries host names only (RFC 6066); an IP literal is checked against the
  // certificate's IP addresses instead.
  // SSL_set_tlsext_host_name, spelled out: the macro's C cast fails our warnings.
  if (ok && !is_ip)
    ok = SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
                  const_cast<char*>(name_.c_str())) == 1;
  if (ok && verify_) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, name_.c_str()) == 1
               : X509_VERIFY_PARAM_set1_host(param, name_.c_str(), 0) == 1;
  }
  if (!ok) {
    SSL_free(ssl);
    return nullptr;
  }
  SSL_set_connect_state(ssl);
  return ssl;
}

void tls_client::release(ssl_st* ssl) noexcept { SSL_free(ssl); }

step tls_client::handshake(ssl_st* ssl, bool& want_write) noexcept {
  const int ret = SSL_do_handshake(ssl);
  if (ret == 1) return step{.what = step::kind::moved};
  const int err = SSL_get_error(ssl, ret);
  if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
    want_write = err == SSL_ERROR_WANT_WRITE;
    return step{};
  }
  report_once(ssl);
  ERR_clear_error();
  return failed(stream_error::connect);
}

step tls_client::send(ssl_st* ssl, client::verified_stream& stream, std::size_t len,
                      std::span<std::byte> scratch, std::size_t& pending, bool& want_write) noexcept {
  if (len < pending) len = pending;
  const auto bytes = stream.stage(len, scratch);
  std::size_t written = 0;
  const int ret = SSL_write_ex(ssl, bytes.data(), bytes.size(), &written);
  if (ret == 1) {
    pending = 0;
    stream.advance_sent(written);
    return step{.what = step::kind::moved, .bytes = written};
  }
  pending = bytes.size();
  return from_ssl_error(ssl, ret, stream, want_write);
}

step tls_client::receive(ssl_st* ssl, client::verified_stream& stream, std::span<std::byte> buffer) noexcept {
  // One record per call, as recv() is one call per readiness event. Without
  // read-ahead OpenSSL takes only whole records from the socket and a record
  // fits the buffer, so nothing decrypted waits unseen behind a quiet socket.
  std::size_t got = 0;
  const int ret = SSL_read_ex(ssl, buffer.data(), buffer.size(), &got);
  if (ret == 1) return stream.verify(buffer.first(got));
  bool want_write = false;
  return from_ssl_error(ssl, ret, stream, want_write);
}

step tls_client::half_close(ssl_st* ssl, client::verified_stream& stream, bool& want_write) noexcept {
  const int ret = SSL_shutdown(ssl);
  if (ret >= 0) {
    stream.mark_half_closed();
    return step{.what = step::kind::moved};
  }
  return from_ssl_error(ssl, ret, stream, want_write);
}

}  // namespace echo::bench
