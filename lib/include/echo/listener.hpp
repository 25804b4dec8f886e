#pragma once

#include <string>
#include <string_view>

namespace echo {

/// A source of sessions (TCP today; UDP, TLS, Unix sockets later). A listener is bound and
/// listening once constructed; start() begins admitting, stop() ends admitting for good.
class listener {
 public:
  listener() = default;
  listener(const listener&) = delete;
  listener& operator=(const listener&) = delete;
  virtual ~listener() = default;

  /// Starts the accept loop.
  virtual void start() = 0;
  /// Closes the listening socket (thread-safe, idempotent); live sessions are untouched.
  virtual void stop() = 0;
  /// "tcp", later "udp", "tls", "unix".
  virtual std::string_view kind() const noexcept = 0;
  /// The real bound address, e.g. "127.0.0.1:40123" or "[::]:7007".
  virtual std::string address() const = 0;
};

}  // namespace echo
