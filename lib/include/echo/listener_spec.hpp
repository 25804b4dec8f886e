#pragma once

#include <cstdint>
#include <optional>
#include <utility>

#include <boost/asio/ip/address.hpp>

namespace echo {

/// One listening socket the server should open. Only TCP exists today; other kinds (UDP,
/// TLS, Unix sockets) will extend this with a scheme and their own options.
struct listener_spec {
  listener_spec() = default;
  /// `listener_spec{address, port}`: bind that address and port.
  listener_spec(std::optional<boost::asio::ip::address> addr, std::uint16_t p)
      : address(std::move(addr)), port(p) {}

  /// Unset: "[::]" dual-stack, falling back to 0.0.0.0 where the kernel has no IPv6.
  std::optional<boost::asio::ip::address> address;
  /// 0 lets the kernel pick a free port; the listener reports the one it got.
  std::uint16_t port = 7007;
  /// An already bound, listening TCP socket to use instead of binding (address and port are
  /// then ignored): what a service manager passes under socket activation. The listener
  /// takes the descriptor over, closes it when it stops (or fails to adopt it), and rejects
  /// anything but a listening IPv4/IPv6 TCP socket with a setup_error naming it; so a spec
  /// with adopt_fd serves one server only.
  std::optional<int> adopt_fd;

  friend bool operator==(const listener_spec&, const listener_spec&) = default;
};

}  // namespace echo
