// The real binary as an operator drives it: configuration from the environment and a file,
// --print-config, the exit codes of a bad configuration, the health probe, and the shutdown
// delay that lets load balancers stop sending before the listeners close.
#define BOOST_TEST_MODULE operations
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "echo_client.hpp"
#include "echo_svc_process.hpp"
#include "temp_file.hpp"

using namespace std::chrono_literals;
using echo::test::child_process;
using echo::test::echo_client;
using echo::test::echo_svc_path;
using echo::test::echo_svc_process;
using echo::test::run_to_exit;
using echo::test::temp_file;

namespace {

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(environment_and_file_configure_the_server) {
  temp_file file("bind = 127.0.0.1\nport = 0\n");
  const auto r = run_to_exit({"--print-config"}, {"ECHO_SVC_CONFIG=" + file.path, "ECHO_SVC_THREADS=2"});
  BOOST_TEST(r.code == 0, r.err);
  BOOST_TEST(contains(r.out, "threads = 2  # environment ECHO_SVC_THREADS"), r.out);
  BOOST_TEST(contains(r.out, "bind = 127.0.0.1  # file " + file.path), r.out);
  // The printed configuration starts a server that listens where it says.
  temp_file printed(r.out);
  echo_svc_process svc({"--config", printed.path});
  BOOST_TEST(svc.address == "127.0.0.1");
  echo_client c("127.0.0.1", svc.port);
  c.send_all("configured");
  BOOST_TEST(c.recv_exact(10) == "configured");
  svc.child->signal(SIGTERM);
  BOOST_TEST(svc.child->wait(10s).value_or(-1) == 0);
}

// EX_CONFIG (78) for what the operator's configuration got wrong, naming key and source; a
// bad flag stays a usage error (64).
BOOST_AUTO_TEST_CASE(configuration_errors_exit_78_naming_the_source) {
  temp_file unknown_key("port = 0\nthreds = 2\n");
  temp_file bad_value("idle-timeout = forever\n");
  const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases{
      {{}, {"ECHO_SVC_THRADS=2"}},        {{}, {"ECHO_SVC_PORT=65536"}},
      {{}, {"ECHO_SVC_THREADS=5000"}},    {{"--config", unknown_key.path}, {}},
      {{"--config", bad_value.path}, {}}, {{}, {"ECHO_SVC_CONFIG=/nonexistent/echo-svc.conf"}},
  };
  for (const auto& [args, env] : cases) {
    const auto r = run_to_exit(args, env);
    const auto what = (env.empty() ? args.back() : env.front());
    BOOST_TEST(r.code == 78, what << ": " << r.err);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(std::count(r.err.begin(), r.err.end(), '\n') == 1, r.err);
    BOOST_TEST(contains(r.err, "configuration error"), r.err);
  }
  const auto r = run_to_exit({"--config", unknown_key.path});
  BOOST_TEST(contains(r.err, "threds"), r.err);
  BOOST_TEST(contains(r.err, unknown_key.path), r.err);
  const auto flag = run_to_exit({"--threads", "5000"}, {"ECHO_SVC_THREADS=2"});
  BOOST_TEST(flag.code == 64, flag.err);
}

BOOST_AUTO_TEST_CASE(check_passes_against_a_server_and_fails_without_one) {
  echo_svc_process svc;
  const auto ok = run_to_exit({"check", "--port", std::to_string(svc.port)});
  BOOST_TEST(ok.code == 0, ok.err);
  // With no flags the probe follows ECHO_SVC_PORT, as it would inside the container.
  BOOST_TEST(run_to_exit({"check"}, {"ECHO_SVC_PORT=" + std::to_string(svc.port)}).code == 0);
  svc.child->signal(SIGTERM);
  BOOST_TEST(svc.child->wait(10s).value_or(-1) == 0);
  const auto refused = run_to_exit({"check", "--port", std::to_string(svc.port)});
  BOOST_TEST(refused.code == 1);
  BOOST_TEST(std::count(refused.err.begin(), refused.err.end(), '\n') == 1, refused.err);
  BOOST_TEST(contains(refused.err, "refused"), refused.err);
}

// A server that accepts but never echoes fails the probe within its timeout.
BOOST_AUTO_TEST_CASE(check_fails_on_a_listener_that_does_not_echo) {
  // A listening socket nobody accepts from: the kernel completes the connect, and nothing
  // ever answers, which is what a stuck server looks like to the probe.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  BOOST_REQUIRE(::listen(fd, 4) == 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const auto start = std::chrono::steady_clock::now();
  const auto r = run_to_exit({"check", "--port", std::to_string(ntohs(a.sin_port)), "--timeout", "300ms"});
  const auto took = std::chrono::steady_clock::now() - start;
  ::close(fd);
  BOOST_TEST(r.code == 1);
  BOOST_TEST(contains(r.err, "timed out after 300ms"), r.err);
  BOOST_TEST((took < 3s));
}

// After SIGTERM with --shutdown-delay, new connections are still accepted and served for the
// delay; then the listener closes and the drain runs as without a delay.
BOOST_AUTO_TEST_CASE(shutdown_delay_keeps_accepting_then_drains) {
  echo_svc_process svc({"--shutdown-delay", "1s", "--shutdown-timeout", "2s"});
  echo_client before("127.0.0.1", svc.port);
  before.send_all("before");
  BOOST_TEST(before.recv_exact(6) == "before");
  const auto start = std::chrono::steady_clock::now();
  svc.child->signal(SIGTERM);
  // Connections made during the delay are served as usual, and the old one is untouched.
  for (int i = 0; i < 5; ++i) {
    echo_client during("127.0.0.1", svc.port);
    during.send_all("during");
    BOOST_TEST(during.recv_exact(6) == "during");
    during.shutdown_write();
    BOOST_TEST((during.wait_end(2s) == echo_client::end::eof));
  }
  BOOST_TEST((std::chrono::steady_clock::now() - start < 1s), "the checks above must fit in the delay");
  before.send_all("still");
  BOOST_TEST(before.recv_exact(5) == "still");
  // Then the drain: our FIN to the idle client, and the process exits.
  BOOST_TEST((before.wait_end(3s) == echo_client::end::eof));
  const auto fin_after = std::chrono::steady_clock::now() - start;
  BOOST_TEST((fin_after >= 1s));
  before.close();
  BOOST_TEST(svc.child->wait(5s).value_or(-1) == 0);
  const auto log = svc.child->stderr_text();
  const auto not_ready = log.find("not ready: accepting until the delay is over");
  BOOST_TEST((not_ready != std::string::npos && log.find("shutting down", not_ready) != std::string::npos),
             log);
  // And nothing listens any more.
  BOOST_CHECK_THROW(echo_client("127.0.0.1", svc.port, 1s), std::exception);
}
