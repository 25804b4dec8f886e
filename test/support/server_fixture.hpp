#pragma once

#include <chrono>
#include <cstdint>

#include "echo/config.hpp"
#include "echo/step_plan.hpp"
#include "echo/testing/fixture.hpp"

namespace echo::test {

/// The library's in-process fixture with the argument order these tests grew up with: an
/// in-process server on 127.0.0.1, port 0, run by `threads` background threads.
class server_fixture : public echo::testing::fixture {
 public:
  /// `plans`: step plans for every connection (none when empty).
  explicit server_fixture(unsigned threads = 1, config cfg = default_config(), plan_factory plans = {})
      : fixture(std::move(cfg), threads, std::move(plans)) {}

  static config default_config() { return loopback(); }
};

}  // namespace echo::test
