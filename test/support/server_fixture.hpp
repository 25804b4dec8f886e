#pragma once

#include <chrono>
#include <cstdint>
#include <future>
#include <memory>

#include "echo/config.hpp"
#include "echo/runtime.hpp"
#include "echo/server.hpp"
#include "echo/step_plan.hpp"

namespace echo::test {

/// An in-process server on 127.0.0.1, port 0, run by `threads` background threads.
class server_fixture {
 public:
  /// `plans`: step plans for every connection (none when empty).
  explicit server_fixture(unsigned threads = 1, config cfg = default_config(), plan_factory plans = {});
  server_fixture(const server_fixture&) = delete;
  server_fixture& operator=(const server_fixture&) = delete;
  /// Shuts down (if the test did not) and waits for the threads, with a deadline.
  ~server_fixture();

  static config default_config();

  std::uint16_t port() const noexcept { return srv_->port(); }
  echo::server& server() noexcept { return *srv_; }

  /// Graceful shutdown; true if every thread returned from run() within `wait`.
  bool stop(std::chrono::milliseconds grace, std::chrono::milliseconds wait);

 private:
  runtime rt_;
  std::unique_ptr<echo::server> srv_;
  std::future<void> done_;
  bool stopped_ = false;
};

}  // namespace echo::test
