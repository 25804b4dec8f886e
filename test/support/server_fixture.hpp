#pragma once

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <string_view>
#include <thread>

#include "echo/config.hpp"
#include "echo/step_plan.hpp"
#include "echo/testing/fixture.hpp"

namespace echo::test {

/// ECHO_TEST_SPLICE=always runs the suite with every session that may splice on the splice
/// path from its first read (`--splice always`): the same tests, without another build.
inline bool splice_forced() {
  const char* v = std::getenv("ECHO_TEST_SPLICE");
  return v != nullptr && std::string_view(v) == "always";
}

/// `cfg` with the splice mode ECHO_TEST_SPLICE asks for, if any: every mode but the test's
/// own `always` becomes `always` (a test that is about another mode checks splice_forced()).
inline config with_test_splice(config cfg) {
  if (splice_forced()) cfg.splice = splice_mode::always;
  return cfg;
}

/// The library's in-process fixture with the argument order these tests grew up with: an
/// in-process server on 127.0.0.1, port 0, run by `threads` background threads.
class server_fixture : public echo::testing::fixture {
 public:
  /// `plans`: step plans for every connection (none when empty).
  explicit server_fixture(unsigned threads = 1, config cfg = default_config(), plan_factory plans = {})
      : fixture(with_test_splice(std::move(cfg)), threads, std::move(plans)) {}

  static config default_config() { return loopback(); }
};

/// Sessions end asynchronously after the client sees EOF; waits (bounded) for the count.
inline bool sessions_drop_to(server_fixture& f, std::size_t n, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (f.server().session_count() != n) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

}  // namespace echo::test
