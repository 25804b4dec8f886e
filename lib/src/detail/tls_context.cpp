#include "detail/tls_context.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <system_error>
#include <utility>

#include <fmt/format.h>

#include "detail/session_context.hpp"
#include "echo/logger.hpp"
#include "echo/setup_error.hpp"

namespace asio = boost::asio;

namespace echo::detail {
namespace {

// OpenSSL's most recent reason on this thread ("no such file", "key values mismatch" ...),
// and clears the queue so the next failure does not report this one.
std::string openssl_reason() {
  const unsigned long code = ::ERR_peek_last_error();
  ::ERR_clear_error();
  if (code == 0) return "unknown OpenSSL error";
  const char* reason = ::ERR_reason_error_string(code);
  return reason != nullptr ? reason : fmt::format("OpenSSL error {:#x}", code);
}

[[noreturn]] void fail(std::string_view what, const std::string& file) {
  throw setup_error(fmt::format("TLS: cannot load {} {}: {}", what, file, openssl_reason()),
                    std::make_error_code(std::errc::invalid_argument));
}

std::string alpn_wire(const std::vector<std::string>& protocols) {
  std::string wire;
  for (const auto& p : protocols) {
    if (p.empty() || p.size() > 255)
      throw setup_error(fmt::format("TLS: ALPN protocol names are 1 to 255 bytes, not {}", p.size()),
                        std::make_error_code(std::errc::invalid_argument));
    wire.push_back(static_cast<char>(p.size()));
    wire += p;
  }
  return wire;
}

std::uint32_t to_ticks(std::chrono::milliseconds timeout) noexcept {
  if (timeout.count() <= 0) return 0;
  const auto t = session_context::tick.count();
  // Like session_context's limits: never early, at most one tick late.
  return static_cast<std::uint32_t>((timeout.count() + t - 1) / t + 1);
}

// ALPN (RFC 7301): pick our most preferred protocol the client offers; a client that offers
// ALPN but none of ours gets the no_application_protocol alert rather than a connection
// that speaks something it did not ask for.
int select_alpn(SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
                unsigned int in_len, void* arg) {
  const auto* ours = static_cast<const std::string*>(arg);
  for (std::size_t i = 0; i < ours->size(); i += 1u + static_cast<unsigned char>((*ours)[i])) {
    const auto len = static_cast<unsigned char>((*ours)[i]);
    const auto* name = reinterpret_cast<const unsigned char*>(ours->data() + i + 1);
    for (unsigned int j = 0; j < in_len; j += 1u + in[j]) {
      if (in[j] == len && j + 1u + len <= in_len && std::equal(name, name + len, in + j + 1)) {
        *out = in + j + 1;
        *out_len = len;
        return SSL_TLSEXT_ERR_OK;
      }
    }
  }
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

}  // namespace

tls_context::tls_context(tls_settings settings)
    : settings_(std::move(settings)),
      alpn_wire_(alpn_wire(settings_.alpn)),
      handshake_ticks_(to_ticks(settings_.handshake_timeout)),
      current_(build()) {}

std::shared_ptr<asio::ssl::context> tls_context::current() const {
  std::lock_guard lock(current_mutex_);
  return current_;
}

std::string tls_context::reload() {
  std::lock_guard serial(reload_mutex_);
  std::shared_ptr<asio::ssl::context> fresh;
  try {
    fresh = build();
  } catch (const setup_error& e) {
    stats_.reload_failures.fetch_add(1, std::memory_order_relaxed);
    log_event(log_level::warn, "tls_reload_failed", "TLS reload failed: keeping the current certificate",
              {{"error", e.what()}});
    return e.what();
  }
  {
    std::lock_guard lock(current_mutex_);
    current_.swap(fresh);
  }
  // The old context goes here (outside the lock) unless sessions still hold it.
  fresh.reset();
  stats_.reloads.fetch_add(1, std::memory_order_relaxed);
  log_event(log_level::info, "tls_reloaded", "TLS certificate reloaded", {{"cert", settings_.cert_file}});
  return {};
}

std::shared_ptr<asio::ssl::context> tls_context::build() const {
  // OpenSSL's error queue is per thread: start clean so a failure reports its own reason.
  ::ERR_clear_error();
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  const int min_version =
      settings_.min_version == tls_settings::version::tls1_3 ? TLS1_3_VERSION : TLS1_2_VERSION;
  if (::SSL_CTX_set_min_proto_version(native, min_version) != 1) fail("the minimum TLS version for", "");
  // No compression (CRIME), no renegotiation (a client-driven CPU sink we have no use for),
  // session tickets stay on (cheap resumption).
  ::SSL_CTX_set_options(native,
                        SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An idle connection gives OpenSSL's record buffers (about 34 KiB) back between records.
  ::SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);

  if (::SSL_CTX_use_certificate_chain_file(native, settings_.cert_file.c_str()) != 1)
    fail("certificate chain", settings_.cert_file);
  if (::SSL_CTX_use_PrivateKey_file(native, settings_.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    fail("private key", settings_.key_file);
  if (::SSL_CTX_check_private_key(native) != 1)
    fail("private key (it does not match the certificate)", settings_.key_file);

  if (!settings_.client_ca_file.empty()) {
    if (::SSL_CTX_load_verify_locations(native, settings_.client_ca_file.c_str(), nullptr) != 1)
      fail("client CA", settings_.client_ca_file);
    // The CA names go in the CertificateRequest, so a client with several certificates
    // can pick the right one.
    STACK_OF(X509_NAME)* names = ::SSL_load_client_CA_file(settings_.client_ca_file.c_str());
    if (names == nullptr) fail("client CA names from", settings_.client_ca_file);
    ::SSL_CTX_set_client_CA_list(native, names);
    ::SSL_CTX_set_verify(native, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  if (!alpn_wire_.empty())
    ::SSL_CTX_set_alpn_select_cb(native, &select_alpn, const_cast<std::string*>(&alpn_wire_));
  return ctx;
}

}  // namespace echo::detail
