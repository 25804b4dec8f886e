#define BOOST_TEST_MODULE accept_backoff
#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "echo_client.hpp"
#include "echo_svc_process.hpp"
#include "proc_stats.hpp"

using namespace std::chrono_literals;
using echo::test::cpu_ticks;
using echo::test::echo_client;
using echo::test::echo_svc_process;
using echo::test::open_fds;

namespace {

std::size_t count(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

}  // namespace

BOOST_AUTO_TEST_CASE(survives_emfile_without_spinning_and_recovers) {
  echo_svc_process svc;
  // On any failure, show what the server said.
  struct dump_on_failure {
    echo::test::child_process& child;
    ~dump_on_failure() {
      if (std::uncaught_exceptions() > 0 ||
          !boost::unit_test::results_collector.results(boost::unit_test::framework::current_test_case().p_id)
               .passed())
        std::cerr << "echo-svc stderr:\n" << child.stderr_text();
    }
  } dump{*svc.child};
  const pid_t pid = svc.child->pid();
  const std::size_t baseline = open_fds(pid);
  // Leave room for exactly three sessions.
  const rlimit lim{baseline + 3, baseline + 3};
  BOOST_REQUIRE_MESSAGE(::prlimit(pid, RLIMIT_NOFILE, &lim, nullptr) == 0, "prlimit failed");

  std::vector<echo_client> served;
  bool saturated = false;
  for (int i = 0; i < 10 && !saturated; ++i) {
    echo_client c("127.0.0.1", svc.port);  // the kernel completes the handshake
    c.send_all("p");
    // Policy: out of descriptors, the listener uses its reserve fd to accept-and-close
    // waiting clients rather than leave them hanging, so the first client past the limit
    // is turned away (EOF, or RST since it had sent a byte), not left to time out.
    std::string got;
    try {
      if (c.try_recv_exact(1, 500ms, got)) {
        BOOST_TEST(got == "p");
        served.push_back(std::move(c));
        continue;
      }
      BOOST_TEST_MESSAGE("client " << i << " neither served nor turned away within 500 ms");
      const auto e = c.wait_end(5s);
      BOOST_TEST((e == echo_client::end::eof || e == echo_client::end::reset));
    } catch (const std::runtime_error& e) {
      BOOST_TEST_MESSAGE("client " << i << " turned away: " << e.what());
    }
    saturated = true;
  }
  BOOST_TEST_MESSAGE("sessions served before saturation: " << served.size());
  // Room for three; one more if a start-up descriptor was still transient when counted.
  BOOST_TEST(served.size() >= 2U);
  BOOST_TEST(served.size() <= 4U);
  BOOST_REQUIRE(saturated);

  // Saturated: the accept loop must back off, not spin, and log at most once a second.
  // Clients keep arriving meanwhile and are turned away cleanly.
  const auto before = cpu_ticks(pid);
  const auto window_start = std::chrono::steady_clock::now();
  std::size_t turned_away = 0;
  while (std::chrono::steady_clock::now() - window_start < 2s) {  // measurement window
    echo_client c("127.0.0.1", svc.port);
    c.send_all("q");
    try {
      const auto e = c.wait_end(1500ms);
      if (e == echo_client::end::eof || e == echo_client::end::reset) ++turned_away;
    } catch (const std::runtime_error&) {
      ++turned_away;
    }
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - window_start).count();
  const double cpu_share = echo::test::ticks_to_seconds(cpu_ticks(pid) - before) / seconds;
  BOOST_TEST_MESSAGE("CPU while saturated: " << cpu_share * 100 << "% over " << seconds << " s; turned away "
                                             << turned_away);
  BOOST_TEST(turned_away >= 1U);
  BOOST_TEST(cpu_share < 0.05);
  const auto log = svc.child->stderr_text();
  const auto pause_lines = count(log, "pausing accepts");
  BOOST_TEST_MESSAGE("pause log lines: " << pause_lines);
  BOOST_TEST(pause_lines >= 1U);
  BOOST_TEST(pause_lines <= 5U);  // ~3 s saturated: at most one a second (+1 at each edge)

  // Free the descriptors: a new client must be served within a second.
  served.clear();
  const auto freed = std::chrono::steady_clock::now();
  bool ok = false;
  while (!ok && std::chrono::steady_clock::now() - freed < 1s) {
    echo_client c("127.0.0.1", svc.port);
    c.send_all("p");
    std::string got;
    try {
      ok = c.try_recv_exact(1, 1s, got) && got == "p";
    } catch (const std::runtime_error&) {
      ok = false;  // turned away while the backoff timer still runs
    }
  }
  BOOST_TEST(ok);
  BOOST_TEST_MESSAGE("served again after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                                  std::chrono::steady_clock::now() - freed)
                                                  .count()
                                           << " ms");
  BOOST_TEST((std::chrono::steady_clock::now() - freed < 1s));

  echo_client fresh("127.0.0.1", svc.port);
  fresh.send_all("again");
  BOOST_TEST(fresh.recv_exact(5) == "again");
  svc.child->signal(SIGTERM);
  BOOST_TEST(svc.child->wait(10s).value_or(-1) == 0);
}
