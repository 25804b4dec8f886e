#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "detail/peer_log_filter.hpp"
#include "detail/tls_stats.hpp"
#include "echo/tls_settings.hpp"

namespace echo::detail {

/// The server side of TLS for one listener: the OpenSSL context built from tls_settings,
/// the handshake counters, and certificate reloads.
///
/// A session takes current() once, when it is accepted, and keeps that context for its
/// whole life; reload() builds a complete new context from the files and swaps it in, so a
/// certificate rotation never touches a live session and never exposes a half-loaded one.
/// Thread-safe: sessions on any thread call current(), a signal handler calls reload().
class tls_context {
 public:
  /// Loads the certificate chain, the key and the client CA. Throws setup_error naming the
  /// file and OpenSSL's reason.
  explicit tls_context(tls_settings settings);
  tls_context(const tls_context&) = delete;
  tls_context& operator=(const tls_context&) = delete;

  /// The context new handshakes use.
  std::shared_ptr<boost::asio::ssl::context> current() const;

  /// Re-reads the files into a new context and swaps it in (logs `tls_reloaded`). On any
  /// failure the old context stays, the reason is logged (`tls_reload_failed`) and returned;
  /// an empty string means success.
  std::string reload();

  const tls_settings& settings() const noexcept { return settings_; }
  tls_stats& stats() noexcept { return stats_; }
  const tls_stats& stats() const noexcept { return stats_; }
  /// Where handshake failures are deduplicated per peer before they are logged.
  peer_log_filter& failure_log() noexcept { return failure_log_; }
  /// The handshake timeout in session_context ticks (0: none).
  std::uint32_t handshake_ticks() const noexcept { return handshake_ticks_; }

 private:
  std::shared_ptr<boost::asio::ssl::context> build() const;

  const tls_settings settings_;
  /// The ALPN list in wire format (length-prefixed), which the selection callback reads.
  const std::string alpn_wire_;
  const std::uint32_t handshake_ticks_;
  std::mutex reload_mutex_;  ///< one reload at a time
  mutable std::mutex current_mutex_;
  std::shared_ptr<boost::asio::ssl::context> current_;
  tls_stats stats_;
  peer_log_filter failure_log_;
};

}  // namespace echo::detail
