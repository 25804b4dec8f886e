#define BOOST_TEST_MODULE cpu_count
#include <boost/test/unit_test.hpp>

#include <sched.h>

#include "echo/config.hpp"
#include "echo/cpu_count.hpp"

BOOST_AUTO_TEST_CASE(parses_cgroup_v2_cpu_max) {
  BOOST_TEST(echo::parse_cgroup_cpu_max("200000 100000\n").value() == 2.0);
  BOOST_TEST(echo::parse_cgroup_cpu_max("150000 100000").value() == 1.5);
  BOOST_TEST(!echo::parse_cgroup_cpu_max("max 100000\n").has_value());
  BOOST_TEST(!echo::parse_cgroup_cpu_max("").has_value());
  BOOST_TEST(!echo::parse_cgroup_cpu_max("garbage").has_value());
  BOOST_TEST(!echo::parse_cgroup_cpu_max("0 100000").has_value());
}

BOOST_AUTO_TEST_CASE(respects_affinity) {
  cpu_set_t set;
  CPU_ZERO(&set);
  BOOST_REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
  const auto allowed = static_cast<unsigned>(CPU_COUNT(&set));
  BOOST_TEST(echo::available_cpus() >= 1U);
  BOOST_TEST(echo::available_cpus() <= allowed);

  // Narrow this thread's affinity to one CPU: the count must follow.
  cpu_set_t one;
  CPU_ZERO(&one);
  for (std::size_t c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) {
      CPU_SET(c, &one);
      break;
    }
  BOOST_REQUIRE(sched_setaffinity(0, sizeof one, &one) == 0);
  BOOST_TEST(echo::available_cpus() == 1U);
  echo::config cfg;
  cfg.threads = 0;
  BOOST_TEST(echo::effective_threads(cfg) == 1U);
  sched_setaffinity(0, sizeof set, &set);
  cfg.threads = 3;
  BOOST_TEST(echo::effective_threads(cfg) == 3U);
}
