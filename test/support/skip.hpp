#pragma once

// Skips that CTest reports as skips, not passes. A case that cannot run on some machines
// declares it with the skip_if decorator instead of returning early from its body: Boost.Test
// then never enters the body, so a skip cannot hide a failed check, and the marker line
// printed here is what CTest's SKIP_REGULAR_EXPRESSION (set for every discovered case by
// cmake/BoostTestDiscoverRun.cmake) turns into "Skipped".

#include <boost/test/unit_test.hpp>

#include <cstdlib>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>

namespace echo::test {

/// Starts the one line that announces a skip; CTest matches exactly this text.
inline constexpr const char* skip_marker = "ECHO-TEST-SKIPPED";

/// True if `name` is in ECHO_TEST_FORCE_SKIP (a comma-separated list of case names).
inline bool skip_forced(const std::string& name) {
  const char* list = std::getenv("ECHO_TEST_FORCE_SKIP");
  if (list == nullptr) return false;
  std::istringstream in(list);
  std::string item;
  while (std::getline(in, item, ','))
    if (item == name) return true;
  return false;
}

/// Decorator: the case is skipped when `reason()` returns a non-empty reason, and runs when
/// it returns an empty string. Naming the case in ECHO_TEST_FORCE_SKIP skips it regardless,
/// which is how a skip's reporting is checked on a machine where the case can run.
inline boost::unit_test::decorator::precondition skip_if(std::function<std::string()> reason) {
  return boost::unit_test::precondition([reason = std::move(reason)](boost::unit_test::test_unit_id id) {
    const auto& tu = boost::unit_test::framework::get(id, boost::unit_test::TUT_ANY);
    const std::string why = skip_forced(tu.p_name) ? std::string("named in ECHO_TEST_FORCE_SKIP") : reason();
    if (why.empty()) return boost::test_tools::assertion_result(true);
    std::cout << skip_marker << ": " << tu.full_name() << ": " << why << std::endl;
    boost::test_tools::assertion_result skipped(false);
    skipped.message() << why;
    return skipped;
  });
}

}  // namespace echo::test
