#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "echo/stats.hpp"

namespace echo {

/// A source of connections (TCP today; UDP, TLS, Unix sockets later), made from a
/// listener_spec. A listener is bound and listening once constructed; start() begins
/// admitting, stop() ends admitting for good. A stream listener creates one session per
/// accepted connection and admits it through the server's registry, under the same limits
/// (max connections, timeouts, drain) whatever its kind. A datagram listener owns no
/// sessions: it answers each datagram from its own socket and keeps no per-peer state
/// beyond bounded budgets.
class listener {
 public:
  listener() = default;
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  virtual ~listener() = default;

  /// Starts admitting.
  virtual void start() = 0;
  /// Closes the listening socket (thread-safe, idempotent); live sessions are untouched.
  virtual void stop() = 0;
  /// "tcp", "udp", "tls", "unix", "mptcp": the URL scheme.
  virtual std::string_view kind() const noexcept = 0;
  /// The real bound address, e.g. "127.0.0.1:40123", "[::]:7007", "/run/echo.sock", "@echo".
  virtual std::string address() const = 0;
  /// "tcp://127.0.0.1:40123", "unix:///run/echo.sock", "unix:@echo": how logs, metrics and
  /// ready lines name this listener (a URL --listen reads back).
  virtual std::string name() const { return std::string(kind()) + "://" + address(); }
  /// The bound port (what port 0 resolved to); 0 for kinds without ports.
  virtual std::uint16_t port() const noexcept = 0;
  /// True if every connection must start with a PROXY protocol header.
  virtual bool reads_proxy_header() const noexcept { return false; }
  /// This listener's counters (live, readable from any thread): accepts, bytes, ends; null
  /// for kinds that keep none.
  virtual const listener_stats* counters() const noexcept { return nullptr; }
};

}  // namespace echo
