#pragma once

#include <cstdint>
#include <optional>

#include <boost/asio/ip/address.hpp>

namespace echo {

/// One listening socket the server should open. Only TCP exists today; other kinds (UDP,
/// TLS, Unix sockets) will extend this with a scheme and their own options.
struct listener_spec {
  /// Unset: "[::]" dual-stack, falling back to 0.0.0.0 where the kernel has no IPv6.
  std::optional<boost::asio::ip::address> address;
  /// 0 lets the kernel pick a free port; the listener reports the one it got.
  std::uint16_t port = 7007;

  friend bool operator==(const listener_spec&, const listener_spec&) = default;
};

}  // namespace echo
