#define BOOST_TEST_MODULE socket_activation
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "echo/config_error.hpp"
#include "echo/server.hpp"
#include "echo/setup_error.hpp"
#include "echo/socket_activation.hpp"
#include "echo_client.hpp"
#include "server_fixture.hpp"
#include "socket_util.hpp"
#include "unique_fd.hpp"

using echo::activated_socket;
using echo::parse_socket_activation;
using echo::test::unique_fd;

namespace {

constexpr pid_t self = 4242;

std::vector<activated_socket> parse(const std::vector<const char*>& env) {
  return parse_socket_activation(env, self);
}

// The config_error's setting for `env`, or "" if it parses.
std::string error_setting(const std::vector<const char*>& env) {
  try {
    parse(env);
  } catch (const echo::config_error& e) {
    BOOST_TEST(std::string(e.what()).find('\n') == std::string::npos);
    return e.setting();
  }
  return {};
}

// A TCP socket on 127.0.0.1, port 0, listening if `listening`.
unique_fd tcp_socket(bool listening, std::uint16_t& port) {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(fd);
  sockaddr_storage addr{};
  socklen_t len = echo::test::make_sockaddr("127.0.0.1", 0, addr);
  BOOST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  if (listening) BOOST_REQUIRE(::listen(fd.get(), 16) == 0);
  len = sizeof addr;
  BOOST_REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  return fd;
}

echo::config adopting(int fd) {
  auto cfg = echo::test::server_fixture::default_config();
  cfg.listeners = {echo::listener_spec{}};
  cfg.listeners.front().adopt_fd = fd;
  return cfg;
}

bool is_open(int fd) { return ::fcntl(fd, F_GETFD) != -1 || errno != EBADF; }

}  // namespace

BOOST_AUTO_TEST_CASE(absent_or_for_another_process_means_no_sockets) {
  BOOST_TEST(parse({}).empty());
  BOOST_TEST(parse({"PATH=/bin", "ECHO_SVC_PORT=1"}).empty());
  BOOST_TEST(parse({"LISTEN_FDS=2"}).empty());                     // no LISTEN_PID
  BOOST_TEST(parse({"LISTEN_PID=4242"}).empty());                  // no LISTEN_FDS
  BOOST_TEST(parse({"LISTEN_PID=4241", "LISTEN_FDS=2"}).empty());  // a parent's
  BOOST_TEST(parse({"LISTEN_PID=4242", "LISTEN_FDS=0"}).empty());
  BOOST_TEST(parse({"LISTEN_PID=1", "LISTEN_FDS=garbage"}).empty());  // not ours: not read
  BOOST_TEST(parse({"LISTEN_PIDX=4242", "LISTEN_FDSX=1"}).empty());   // other variables
}

BOOST_AUTO_TEST_CASE(descriptors_from_three_with_names) {
  const auto two = parse({"LISTEN_PID=4242", "LISTEN_FDS=2"});
  BOOST_TEST((two == std::vector<activated_socket>{{3, ""}, {4, ""}}));
  const auto named = parse({"LISTEN_FDNAMES=echo:echo-v6", "LISTEN_PID=4242", "LISTEN_FDS=2"});
  BOOST_TEST((named == std::vector<activated_socket>{{3, "echo"}, {4, "echo-v6"}}));
  const auto empty_name = parse({"LISTEN_PID=4242", "LISTEN_FDS=1", "LISTEN_FDNAMES="});
  BOOST_TEST((empty_name == std::vector<activated_socket>{{3, ""}}));
  // The last definition wins, as getenv sees it.
  BOOST_TEST(parse({"LISTEN_PID=1", "LISTEN_PID=4242", "LISTEN_FDS=1"}).size() == 1U);
  BOOST_TEST(parse({"LISTEN_PID=4242", "LISTEN_FDS=1024"}).back().fd == 1026);
}

BOOST_AUTO_TEST_CASE(malformed_variables_are_config_errors_naming_them) {
  for (const char* fds :
       {"LISTEN_FDS=", "LISTEN_FDS=x", "LISTEN_FDS=-1", "LISTEN_FDS=+1", "LISTEN_FDS= 1", "LISTEN_FDS=1 ",
        "LISTEN_FDS=1x", "LISTEN_FDS=1025", "LISTEN_FDS=99999999999999999999"})
    BOOST_TEST(error_setting({"LISTEN_PID=4242", fds}) == "LISTEN_FDS", fds);
  for (const char* pid : {"LISTEN_PID=", "LISTEN_PID=abc", "LISTEN_PID=0", "LISTEN_PID=-4242",
                          "LISTEN_PID=4242abc", "LISTEN_PID=2147483648"})
    BOOST_TEST(error_setting({pid, "LISTEN_FDS=1"}) == "LISTEN_PID", pid);
  for (const char* names : {"LISTEN_FDNAMES=a", "LISTEN_FDNAMES=a:b:c", "LISTEN_FDNAMES=:::"})
    BOOST_TEST(error_setting({"LISTEN_PID=4242", "LISTEN_FDS=2", names}) == "LISTEN_FDNAMES", names);
}

BOOST_AUTO_TEST_CASE(unset_removes_only_the_protocol_variables) {
  ::setenv("LISTEN_PID", "1", 1);
  ::setenv("LISTEN_FDS", "1", 1);
  ::setenv("LISTEN_FDNAMES", "x", 1);
  ::setenv("ECHO_SVC_TEST_KEEP", "1", 1);
  echo::unset_socket_activation_environment();
  BOOST_TEST(std::getenv("LISTEN_PID") == nullptr);
  BOOST_TEST(std::getenv("LISTEN_FDS") == nullptr);
  BOOST_TEST(std::getenv("LISTEN_FDNAMES") == nullptr);
  BOOST_TEST(std::getenv("ECHO_SVC_TEST_KEEP") != nullptr);
  ::unsetenv("ECHO_SVC_TEST_KEEP");
}

BOOST_AUTO_TEST_CASE(activated_sockets_replace_the_configured_listeners) {
  echo::config cfg;
  cfg.listeners = {echo::listener_spec{{}, 1}, echo::listener_spec{{}, 2}};
  echo::use_activated_sockets(cfg, {});
  BOOST_TEST(cfg.listeners.size() == 2U);
  BOOST_TEST(!cfg.listeners.front().adopt_fd.has_value());
  echo::use_activated_sockets(cfg, {{3, "a"}, {4, "b"}, {5, ""}});
  BOOST_REQUIRE(cfg.listeners.size() == 3U);
  for (int i = 0; i < 3; ++i)
    BOOST_TEST(cfg.listeners[static_cast<std::size_t>(i)].adopt_fd.value_or(-1) == 3 + i);
  BOOST_CHECK_NO_THROW(echo::validate(cfg));
  cfg.listeners.front().adopt_fd = -1;
  BOOST_CHECK_THROW(echo::validate(cfg), echo::config_error);
}

BOOST_AUTO_TEST_CASE(server_adopts_a_listening_socket_with_the_usual_options) {
  std::uint16_t port = 0;
  auto sock = tcp_socket(true, port);
  // As a service manager would pass it: blocking, inheritable.
  BOOST_REQUIRE(::fcntl(sock.get(), F_SETFD, 0) == 0);
  const int fd = sock.release();  // the server owns it now
  {
    echo::test::server_fixture f(1, adopting(fd));
    BOOST_TEST(f.port() == port);
    BOOST_REQUIRE(f.server().ready_lines().size() == 1U);
    BOOST_TEST(f.server().ready_lines().front() == "listening on 127.0.0.1:" + std::to_string(port));
    BOOST_TEST((::fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
    BOOST_TEST((::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0);
    int nodelay = 0;
    socklen_t len = sizeof nodelay;
    BOOST_TEST(::getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &nodelay, &len) == 0);
    BOOST_TEST(nodelay == 1);
    echo::test::echo_client c("127.0.0.1", port);
    c.send_all("adopted");
    BOOST_TEST(c.recv_exact(7) == "adopted");
    c.close();
    BOOST_TEST(f.stop(std::chrono::seconds(5), std::chrono::seconds(5)));
  }
  BOOST_TEST(!is_open(fd));  // closed with its listener
}

BOOST_AUTO_TEST_CASE(adoption_rejects_what_is_not_a_listening_tcp_socket) {
  std::uint16_t port = 0;
  struct candidate {
    const char* what;
    int fd;
    const char* reason;
  };
  std::vector<candidate> candidates{
      {"bound, not listening", tcp_socket(false, port).release(), "not listening"},
      {"udp", ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), "datagram"},
      {"unix", ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), "Unix socket"},
      {"file", ::open("/dev/null", O_RDONLY | O_CLOEXEC), "not a socket"},
  };
  for (const auto& c : candidates) {
    BOOST_REQUIRE(c.fd >= 0);
    boost::asio::io_context io;
    try {
      echo::server s(io, adopting(c.fd), false);
      BOOST_ERROR(c.what << ": adopted");
    } catch (const echo::setup_error& e) {
      const std::string msg = e.what();
      BOOST_TEST(msg.find("fd " + std::to_string(c.fd)) != std::string::npos, c.what << ": " << msg);
      BOOST_TEST(msg.find(c.reason) != std::string::npos, c.what << ": " << msg);
    }
    BOOST_TEST(!is_open(c.fd), c.what);  // given up either way
  }
  // Not open at all: nothing to close, and the message says so.
  boost::asio::io_context io;
  // Far above what this process opens (the server's own timers and epoll take the lowest).
  const int unused = 999;
  BOOST_REQUIRE(!is_open(unused));
  try {
    echo::server s(io, adopting(unused), false);
    BOOST_ERROR("adopted a closed descriptor");
  } catch (const echo::setup_error& e) {
    BOOST_TEST(std::string(e.what()).find("not an open descriptor") != std::string::npos, e.what());
  }
}
