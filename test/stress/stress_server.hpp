#pragma once

// Boost.Test-level helpers for the stress cases (main test thread only). Each stress test
// module is one source file that includes this header once, so the global fixture below is
// registered once per module.

#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <chrono>
#include <string>

#include "echo_svc_process.hpp"
#include "stress_support.hpp"

namespace echo::stress {

/// Log lines at level error ("...Z error  ...").
inline std::size_t error_lines(const std::string& log) { return count_substr(log, "Z error "); }

/// SIGTERM, then expect exit 0 within 15 s and no error line in the server's log.
inline void stop_server(echo::test::echo_svc_process& svc) {
  svc.child->signal(SIGTERM);
  const auto code = svc.child->wait(std::chrono::seconds(15));
  BOOST_TEST(code.value_or(-1) == 0);
  const auto log = svc.child->stderr_text();
  BOOST_TEST(error_lines(log) == 0U, "server logged errors:\n" << lines_with(log, "Z error "));
}

// Every stress module opens thousands of sockets: raise the soft descriptor limit first.
BOOST_TEST_GLOBAL_FIXTURE(nofile_fixture);

}  // namespace echo::stress
