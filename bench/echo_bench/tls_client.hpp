#pragma once

#include "options.hpp"

#include "echo/client/verified_stream.hpp"

#include <cstddef>
#include <span>
#include <string>

struct ssl_ctx_st;
struct ssl_st;

namespace echo::bench {

/// The TLS stream kind of a worker: one client context (TLS 1.3 or 1.2 with OpenSSL's
/// defaults, the server verified against --tls-ca and --tls-name unless --insecure),
/// and the handshake, send, receive and close_notify of one connection's SSL on its
/// non-blocking socket. The bytes are the connection's verified_stream, so TLS
/// verifies exactly as TCP does; only the transport differs.
class tls_client {
 public:
  using step = client::verified_stream::step;

  /// Throws std::runtime_error when the context or the CA file cannot be set up.
  explicit tls_client(const options& opts);
  ~tls_client();
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;

  /// A client SSL on connected socket `fd`, or nullptr.
  [[nodiscard]] ssl_st* attach(int fd) const noexcept;
  /// Frees it (nullptr is fine).
  static void release(ssl_st* ssl) noexcept;

  /// One handshake step: moved once done, blocked until the socket is readable (or,
  /// with `want_write` set, writable), failed with connect on any handshake failure.
  static step handshake(ssl_st* ssl, bool& want_write) noexcept;
  /// Sends the next `len` stream bytes. `pending` carries a blocked write's length
  /// between calls: OpenSSL wants the retry to offer at least those bytes again.
  static step send(ssl_st* ssl, client::verified_stream& stream, std::size_t len,
                   std::span<std::byte> scratch, std::size_t& pending, bool& want_write) noexcept;
  /// One record's worth of echo, verified; `ended` on the peer's close_notify after ours.
  static step receive(ssl_st* ssl, client::verified_stream& stream, std::span<std::byte> buffer) noexcept;
  /// Sends our close_notify (TLS's half-close).
  static step half_close(ssl_st* ssl, client::verified_stream& stream, bool& want_write) noexcept;

 private:
  ssl_ctx_st* ctx_ = nullptr;
  std::string name_;
  bool verify_ = true;
};

}  // namespace echo::bench
