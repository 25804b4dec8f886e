#define BOOST_TEST_MODULE listen_process
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "child_process.hpp"
#include "echo_client.hpp"
#include "echo_svc_process.hpp"
#include "socket_util.hpp"
#include "temp_file.hpp"
#include "test_certs.hpp"

using namespace std::chrono_literals;
using echo::test::child_process;
using echo::test::echo_client;

namespace {

// echo-svc run with `argv` (after the binary) under the extra environment `env`, with every
// ready line read: one per listener, in order.
struct running {
  running(std::vector<std::string> args, const std::vector<std::string>& env, std::size_t listeners) {
    std::vector<std::string> argv{"/usr/bin/env"};
    argv.insert(argv.end(), env.begin(), env.end());
    argv.push_back(echo::test::echo_svc_path());
    argv.insert(argv.end(), args.begin(), args.end());
    child = std::make_unique<child_process>(argv);
    for (std::size_t i = 0; i < listeners; ++i) {
      const auto line = child->read_line(10s);
      if (!line) throw std::runtime_error("no ready line; stderr: " + child->stderr_text());
      lines.push_back(*line);
    }
  }
  std::unique_ptr<child_process> child;
  std::vector<std::string> lines;
};

std::uint16_t port_of(const std::string& line) {
  return static_cast<std::uint16_t>(std::stoul(line.substr(line.rfind(':') + 1)));
}

std::string udp_echo(std::uint16_t port, const std::string& text) {
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_storage addr{};
  const auto len = echo::test::make_sockaddr("127.0.0.1", port, addr);
  ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len);
  ::send(fd, text.data(), text.size(), 0);
  pollfd p{fd, POLLIN, 0};
  std::string got;
  if (::poll(&p, 1, 5000) == 1) {
    char buf[2048];
    const auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) got.assign(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return got;
}

int connect_abstract(const std::string& name) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path + 1, name.data(), name.size());
  ::connect(fd, reinterpret_cast<const sockaddr*>(&addr),
            static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + 1 + name.size()));
  return fd;
}

void check_all_kinds(const running& r, const std::string& abstract_name) {
  BOOST_REQUIRE_EQUAL(r.lines.size(), 3U);
  BOOST_TEST(r.lines[0].rfind("listening on 127.0.0.1:", 0) == 0U);
  BOOST_TEST(r.lines[1].rfind("listening on udp://127.0.0.1:", 0) == 0U);
  BOOST_TEST(r.lines[2] == "listening on unix:@" + abstract_name);
  echo_client tcp("127.0.0.1", port_of(r.lines[0]));
  tcp.send_all("tcp");
  BOOST_TEST(tcp.recv_exact(3) == "tcp");
  BOOST_TEST(udp_echo(port_of(r.lines[1]), "udp") == "udp");
  echo_client local(connect_abstract(abstract_name));
  local.send_all("unix");
  BOOST_TEST(local.recv_exact(4) == "unix");
}

}  // namespace

BOOST_AUTO_TEST_CASE(listeners_from_flags_environment_and_file) {
  const auto name = "echo-listen-process-" + std::to_string(::getpid());
  const std::string urls[] = {"tcp://127.0.0.1:0", "udp://127.0.0.1:0", "unix:@" + name};
  {
    running r({"--listen", urls[0], "--listen", urls[1], "--listen", urls[2]}, {}, 3);
    check_all_kinds(r, name);
  }
  {
    running r({}, {"ECHO_SVC_LISTEN=" + urls[0] + "," + urls[1] + "," + urls[2]}, 3);
    check_all_kinds(r, name);
  }
  {
    echo::test::temp_file file("listen = " + urls[0] + "\nlisten = " + urls[1] + "\nlisten = " + urls[2] +
                               "\n");
    running r({"--config", file.path}, {}, 3);
    check_all_kinds(r, name);
  }
}

BOOST_AUTO_TEST_CASE(sighup_reloads_the_certificate_and_keeps_serving) {
  const echo::test::test_certs certs;
  running r({"--listen", "tls://127.0.0.1:0", "--tls-cert", certs.server.cert, "--tls-key", certs.server.key,
             "--listen", "tcp://127.0.0.1:0", "--log-format", "json"},
            {}, 2);
  r.child->signal(SIGHUP);
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (r.child->stderr_text().find("\"event\":\"tls_reloaded\"") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  BOOST_TEST(r.child->stderr_text().find("\"event\":\"tls_reloaded\"") != std::string::npos,
             r.child->stderr_text());
  echo_client c("127.0.0.1", port_of(r.lines[1]));  // the process lives on and serves
  c.send_all("after hup");
  BOOST_TEST(c.recv_exact(9) == "after hup");
  r.child->signal(SIGTERM);
  BOOST_TEST(r.child->wait(10s).value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(a_tls_listener_without_a_certificate_exits_64_or_78) {
  child_process flag({echo::test::echo_svc_path(), "--listen", "tls://127.0.0.1:0"});
  BOOST_TEST(flag.wait(10s).value_or(-1) == 64);
  child_process env({"/usr/bin/env", "ECHO_SVC_LISTEN=tls://127.0.0.1:0", echo::test::echo_svc_path()});
  BOOST_TEST(env.wait(10s).value_or(-1) == 78);
}

// The ready file: the same lines as stdout, there whole once the listeners listen (a reader
// polling the path never sees part of it), and gone after a clean exit.
BOOST_AUTO_TEST_CASE(ready_file_holds_the_ready_lines_until_a_clean_exit) {
  char dir_template[] = "/tmp/echo-ready-XXXXXX";
  BOOST_REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/ready";
  {
    running r({"--listen", "tcp://127.0.0.1:0", "--listen", "udp://127.0.0.1:0", "--ready-file", path}, {},
              2);
    // Written right after stdout: poll for it, bounded.
    std::string text;
    const auto until = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < until) {
      std::ifstream in(path);
      if (in) {
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
        break;
      }
      std::this_thread::sleep_for(5ms);
    }
    BOOST_TEST(text == r.lines[0] + "\n" + r.lines[1] + "\n");
    {
      echo_client tcp("127.0.0.1", port_of(r.lines[0]));
      tcp.send_all("ready");
      BOOST_TEST(tcp.recv_exact(5) == "ready");
    }
    r.child->signal(SIGTERM);
    BOOST_TEST(r.child->wait(10s).value_or(-1) == 0);
  }
  BOOST_TEST(::access(path.c_str(), F_OK) != 0, "the ready file outlived a clean exit");
  // No temporary file left beside it either.
  BOOST_TEST(::rmdir(dir.c_str()) == 0, "the directory is not empty");
}

BOOST_AUTO_TEST_CASE(an_unwritable_ready_file_exits_69_naming_the_path) {
  const auto out = echo::test::run_to_exit({"--port", "0", "--ready-file", "/nonexistent-dir/ready"});
  BOOST_TEST(out.code == 69);
  BOOST_TEST(out.err.find("/nonexistent-dir/ready") != std::string::npos, out.err);
}
