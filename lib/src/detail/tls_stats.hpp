#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace echo::detail {

/// Why a TLS handshake failed, as far as the server can tell.
enum class tls_failure : std::uint8_t {
  timeout,             ///< the client did not finish within the handshake timeout
  closed,              ///< the client closed or reset the connection mid-handshake
  not_tls,             ///< the first bytes were not a TLS record (plain text, HTTP ...)
  protocol,            ///< no common version, cipher or ALPN protocol
  no_client_cert,      ///< mTLS: the client sent no certificate
  bad_client_cert,     ///< mTLS: the client's certificate did not verify
  rejected_by_client,  ///< the client refused our certificate (its alert said so)
  other,
};
inline constexpr std::size_t tls_failure_count = static_cast<std::size_t>(tls_failure::other) + 1;

/// The label /metrics and the logs use for `why`.
constexpr std::string_view to_string(tls_failure why) noexcept {
  switch (why) {
    case tls_failure::timeout: return "timeout";
    case tls_failure::closed: return "closed";
    case tls_failure::not_tls: return "not_tls";
    case tls_failure::protocol: return "protocol";
    case tls_failure::no_client_cert: return "no_client_cert";
    case tls_failure::bad_client_cert: return "bad_client_cert";
    case tls_failure::rejected_by_client: return "rejected_by_client";
    case tls_failure::other: return "other";
  }
  return "other";
}

/// Counters of one TLS context (one listener), all relaxed atomics: any session's thread
/// counts, /metrics reads.
struct tls_stats {
  void count(tls_failure why) noexcept {
    handshake_failures[static_cast<std::size_t>(why)].fetch_add(1, std::memory_order_relaxed);
  }
  std::uint64_t failures(tls_failure why) const noexcept {
    return handshake_failures[static_cast<std::size_t>(why)].load(std::memory_order_relaxed);
  }

  std::atomic<std::uint64_t> handshakes{0};  ///< completed
  std::array<std::atomic<std::uint64_t>, tls_failure_count> handshake_failures{};
  std::atomic<std::uint64_t> reloads{0};          ///< certificate reloads that took effect
  std::atomic<std::uint64_t> reload_failures{0};  ///< reloads refused, old context kept
};

}  // namespace echo::detail
