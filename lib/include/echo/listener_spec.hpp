#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/ip/address.hpp>

namespace echo {

/// How a listener's connections arrive: the URL scheme of `--listen`.
enum class transport : std::uint8_t {
  tcp,  ///< tcp://HOST:PORT
  udp,  ///< udp://HOST:PORT, one reply datagram per datagram
  tls,  ///< tls://HOST:PORT, TCP with TLS (the --tls-* settings)
  /// unix:///path or unix:@name (Linux abstract namespace), stream sockets. Not `unix`:
  /// GNU extensions predefine that as a macro.
  unix_stream,
  mptcp,  ///< mptcp://HOST:PORT, Linux multipath TCP (plain TCP clients still connect)
};

/// What a listener does with what it reads (RFC 862, 863, 864; inetd's built-ins).
enum class service_kind : std::uint8_t {
  echo,     ///< send back every byte
  discard,  ///< read and drop
  chargen,  ///< send the rotating 72-column pattern as fast as the peer reads; drop input
};

/// Whether a stream listener expects a PROXY protocol header before the payload.
enum class proxy_protocol : std::uint8_t {
  off,  ///< none: the peer is the socket's peer
  v1,   ///< the text header ("PROXY TCP4 ...\r\n") is required
  v2,   ///< the binary header is required
  any,  ///< either version is required ("auto" in a URL)
};

/// One listening socket the server should open, with its per-listener options. `--listen`
/// URLs (see listen_url.hpp) and `--bind`/`--port` both produce these.
struct listener_spec {
  listener_spec() = default;
  /// `listener_spec{address, port}`: a TCP echo listener on that address and port.
  listener_spec(std::optional<boost::asio::ip::address> addr, std::uint16_t p)
      : address(std::move(addr)), port(p) {}

  transport kind = transport::tcp;
  /// Unset: "[::]" dual-stack, falling back to 0.0.0.0 where the kernel has no IPv6.
  /// Unused for unix_stream.
  std::optional<boost::asio::ip::address> address;
  /// 0 lets the kernel pick a free port; the listener reports the one it got. Unused for unix_stream.
  std::uint16_t port = 7007;
  /// unix_stream only: a filesystem path, or "@name" for a name in Linux's abstract namespace.
  std::string path;
  /// IPV6_V6ONLY for an IPv6 address; unset: the kernel's default (dual-stack on Linux).
  std::optional<bool> v6only;
  service_kind service = service_kind::echo;
  proxy_protocol proxy = proxy_protocol::off;
  /// unix_stream only: permission bits for the socket file; unset: --unix-mode.
  std::optional<unsigned> mode;
  /// An already bound, listening TCP socket to use instead of binding (address and port are
  /// then ignored): what a service manager passes under socket activation. The listener
  /// takes the descriptor over, closes it when it stops (or fails to adopt it), and rejects
  /// anything but a listening IPv4/IPv6 TCP socket with a setup_error naming it; so a spec
  /// with adopt_fd serves one server only.
  std::optional<int> adopt_fd;

  friend bool operator==(const listener_spec&, const listener_spec&) = default;
};

}  // namespace echo
