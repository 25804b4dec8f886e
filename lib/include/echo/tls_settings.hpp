#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace echo {

/// What a `tls://HOST:PORT` listener serves with: plain data, checked when the TLS context
/// is built (a missing or unreadable file is a setup_error naming it).
struct tls_settings {
  /// Lowest protocol version accepted; older clients fail the handshake.
  enum class version : std::uint8_t { tls1_2, tls1_3 };

  /// PEM server certificate chain: the leaf first, then any intermediates.
  std::string cert_file;
  /// PEM private key matching the leaf of `cert_file`.
  std::string key_file;
  /// PEM CA bundle; when set, every client must present a certificate it signed (mTLS).
  std::string client_ca_file;
  version min_version = version::tls1_2;
  /// ALPN protocols we speak, in our order of preference (e.g. {"echo"}). Empty: no ALPN.
  /// When set, a client offering ALPN without any of these is refused.
  std::vector<std::string> alpn;
  /// Time a client has to complete the handshake (bounded also by the idle timeout).
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
};

}  // namespace echo
