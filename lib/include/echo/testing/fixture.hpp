#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "echo/config.hpp"
#include "echo/runtime.hpp"
#include "echo/server.hpp"
#include "echo/step_plan.hpp"

namespace echo::testing {

/// echo-svc inside a test process: a server bound when constructed (port 0 by default, so
/// tests never collide on a port), served by its own threads, stopped gracefully when
/// destroyed. What a client test needs: where to connect, the server to steer (faults,
/// counters), and a clean stop that never hangs the test binary.
///
///     echo::testing::fixture echo;                        // 127.0.0.1, a free port
///     my_client c("127.0.0.1", echo.port());
///
/// Construction throws what echo::server throws: config_error for a bad configuration,
/// setup_error naming the address when a listener cannot bind.
class fixture {
 public:
  /// One TCP listener on 127.0.0.1, port 0; logs at warn (stderr), as quiet as a test wants.
  static config loopback();

  /// Binds every listener of `cfg` and starts serving on `threads` threads of its own.
  /// `plans`: a step plan for every connection (see step_plan.hpp); none by default.
  explicit fixture(config cfg = loopback(), unsigned threads = 1, plan_factory plans = {});
  fixture(const fixture&) = delete;
  fixture& operator=(const fixture&) = delete;
  /// stop() with its defaults if the test has not stopped it; if the threads still do not
  /// return, aborts the server, and as a last resort the process (a hung test is worse).
  ~fixture();

  /// The first listener's port.
  std::uint16_t port() const noexcept { return server_->port(); }
  /// Every listener, as its ready line names it ("listening on 127.0.0.1:40123",
  /// "listening on udp://127.0.0.1:40124", ...), in configuration order.
  std::vector<std::string> ready_lines() const { return server_->ready_lines(); }
  echo::server& server() noexcept { return *server_; }

  /// Makes the server misbehave: replaces the active faults with `specs`, each as --fault
  /// takes it ("reset-after:bytes=10", "latency:delay=50ms"; see the README's "Testing your
  /// client with echo-svc"). Connections pick the change up at their next step. Throws
  /// usage_error for a SPEC that does not parse and config_error for one the server refuses
  /// (an integrity fault without allow_corruption, an unknown listener); either way it names
  /// the SPEC and changes nothing.
  void set_faults(std::initializer_list<std::string_view> specs);
  /// Back to plain echo (no faults at all, whatever the configuration had).
  void clear_faults() { server_->set_faults({}); }
  const echo::server& server() const noexcept { return *server_; }

  /// Graceful stop: stop accepting, give sessions `grace` to finish, then close them. True
  /// if the threads returned within `wait`. Idempotent.
  bool stop(std::chrono::milliseconds grace = std::chrono::milliseconds(200),
            std::chrono::milliseconds wait = std::chrono::seconds(10));

 private:
  runtime runtime_;
  std::unique_ptr<echo::server> server_;
  std::future<void> done_;
  bool stopped_ = false;
};

}  // namespace echo::testing
