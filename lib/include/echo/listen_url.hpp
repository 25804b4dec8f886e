#pragma once

#include <string>
#include <string_view>

#include "echo/listener_spec.hpp"

namespace echo {

/// Reads a `--listen` URL into a listener_spec:
///   tcp://HOST:PORT  udp://HOST:PORT  tls://HOST:PORT  mptcp://HOST:PORT
///   unix:///absolute/path  unix:relative/path  unix:@name (Linux abstract namespace)
/// HOST is a numeric IPv4 address, a bracketed IPv6 address ("[::1]"), or empty for every
/// address ("tcp://:7007"). Options follow as a query, "?key=value&key=value":
///   service=echo|discard|chargen         every kind
///   proxy-protocol=off|v1|v2|auto        tcp, tls, unix, mptcp
///   v6only=true|false                    IPv6 addresses only
///   mode=0660                            unix paths only (octal)
/// Throws usage_error naming the URL and what is wrong with it.
listener_spec parse_listen_url(std::string_view url);

/// The URL parse_listen_url() reads back, options other than defaults included:
/// "tcp://127.0.0.1:7007", "tls://[::]:7443?proxy-protocol=v2", "unix:@echo".
std::string format_listen_url(const listener_spec& spec);

/// "tcp", "udp", "tls", "unix", "mptcp": the URL scheme.
std::string_view to_string(transport kind) noexcept;
/// "echo", "discard", "chargen".
std::string_view to_string(service_kind service) noexcept;
/// "off", "v1", "v2", "auto".
std::string_view to_string(proxy_protocol proxy) noexcept;

}  // namespace echo
