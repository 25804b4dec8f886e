#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

#include "echo/listener_spec.hpp"

namespace echo::detail {

/// The longest version 1 header, CRLF included (the spec's "UNKNOWN" worst case).
inline constexpr std::size_t max_proxy_v1_header = 107;
/// The longest version 2 header we accept: 16 fixed bytes plus an address block of up to
/// 4080 bytes. The spec allows 16 + 65535; what real proxies send (addresses and a few
/// TLVs: CRC32C, ALPN, authority, TLS details, a cloud's endpoint id) is a few hundred
/// bytes, and the reader must hold the whole header, so a header longer than this is
/// rejected as `too_long` rather than buffered.
inline constexpr std::size_t max_proxy_v2_header = 4096;
/// The longest header of either version: what a reader's buffer must hold.
inline constexpr std::size_t max_proxy_header = max_proxy_v2_header;

enum class proxy_status : std::uint8_t {
  /// The bytes so far are a valid start of a header, and the header is longer than them,
  /// so every one of them belongs to it.
  need_more,
  done,     ///< a complete, valid header of `length` bytes; bytes after it are payload
  invalid,  ///< not a header of an accepted version; `reason` says why
};

/// Why a header was rejected: a short fixed name, usable as a metrics label. The reason is
/// decided by the first byte that cannot belong to a valid header, so more bytes never
/// change it.
enum class proxy_error : std::uint8_t {
  none,
  bad_signature,  ///< neither "PROXY " nor the 12-byte v2 signature
  not_v1,         ///< a v2 header where only v1 is accepted
  not_v2,         ///< a v1 header where only v2 is accepted
  bad_protocol,   ///< v1: not TCP4, TCP6 or UNKNOWN
  bad_address,    ///< v1: a malformed address, or one of the other family
  bad_port,       ///< v1: not a decimal 0-65535 without leading zeros
  bad_syntax,     ///< v1: a missing or extra space or field, a lone CR or LF
  too_long,       ///< v1: no CRLF within 107 bytes; v2: longer than max_proxy_v2_header
  bad_version,    ///< v2: the version nibble is not 2
  bad_command,    ///< v2: neither LOCAL nor PROXY
  bad_family,     ///< v2: a family/protocol byte the spec does not define
  bad_length,     ///< v2: the address block is shorter than its family's addresses
};

enum class proxy_command : std::uint8_t {
  local,  ///< v2 LOCAL: the proxy's own connection (a health check)
  proxy,  ///< relayed on behalf of a client
};

/// The original connection's endpoints, as the proxy saw them.
struct proxy_addresses {
  boost::asio::ip::tcp::endpoint source;       ///< the client
  boost::asio::ip::tcp::endpoint destination;  ///< the address the client connected to

  friend bool operator==(const proxy_addresses&, const proxy_addresses&) = default;
};

/// What parse_proxy_header found.
struct proxy_result {
  proxy_status status = proxy_status::need_more;
  proxy_error reason = proxy_error::none;  ///< set when invalid
  std::size_t length = 0;                  ///< done: the header's bytes, payload starts here
  std::uint8_t version = 0;                ///< done: 1 or 2
  proxy_command command = proxy_command::proxy;
  /// done: the client's and the proxied-to endpoints for v1 TCP4/TCP6 and v2 PROXY over
  /// INET/INET6 STREAM. Empty for v1 UNKNOWN, v2 LOCAL, and v2 UNSPEC, UNIX or DGRAM: the
  /// socket's own peer stands.
  std::optional<proxy_addresses> addresses;

  friend bool operator==(const proxy_result&, const proxy_result&) = default;
};

/// Parses a PROXY protocol header at the start of `data`, the bytes received so far. Pure:
/// reads nothing beyond `data`, keeps no state. `need_more` is returned only while `data`
/// can still become a valid header (so a peer sending anything else is rejected at its
/// first wrong byte, not after a timeout); on `invalid` the caller closes the connection.
/// `accepted` is the listener's setting; `off` accepts nothing (every input is invalid).
proxy_result parse_proxy_header(std::span<const std::byte> data, proxy_protocol accepted) noexcept;

std::string_view to_string(proxy_error e) noexcept;
std::string_view to_string(proxy_status s) noexcept;

}  // namespace echo::detail
