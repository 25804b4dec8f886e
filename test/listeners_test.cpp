#define BOOST_TEST_MODULE listeners
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "detail/chargen_pattern.hpp"
#include "echo/config.hpp"
#include "echo/listen_url.hpp"
#include "echo/server.hpp"
#include "echo/setup_error.hpp"
#include "echo_client.hpp"
#include "server_fixture.hpp"
#include "skip.hpp"
#include "socket_util.hpp"

using namespace std::chrono_literals;
using echo::test::connect_unix;
using echo::test::echo_client;
using echo::test::server_fixture;
using echo::test::sessions_drop_to;
using stream_error = echo::client::stream_error;

namespace {

constexpr std::size_t MiB = 1024 * 1024;

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

echo::config config_for(std::initializer_list<const char*> urls) {
  auto cfg = server_fixture::default_config();
  cfg.listeners.clear();
  for (const char* url : urls) cfg.listeners.push_back(echo::parse_listen_url(url));
  return cfg;
}

// A unique path per test process, in a directory only this test uses.
std::string socket_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("echo-listeners-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

// A non-blocking MPTCP socket connecting to 127.0.0.1:port; -errno if the kernel has no MPTCP.
int connect_mptcp(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_MPTCP);
  if (fd < 0) return -errno;
  sockaddr_storage addr{};
  const auto len = echo::test::make_sockaddr("127.0.0.1", port, addr);
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) != 0 && errno != EINPROGRESS) {
    const int e = errno;
    ::close(fd);
    return -e;
  }
  return fd;
}

std::string no_mptcp() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
  if (fd < 0) return std::string("this kernel has no MPTCP: ") + std::strerror(errno);
  ::close(fd);
  return {};
}

std::string no_ipv6() {
  const int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
  if (fd < 0) return "no IPv6";
  ::close(fd);
  return {};
}

std::size_t open_descriptors() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// 500 clients opened by `connect` (a connecting socket each), all open at once, each then
// echoing 4 KiB of its own pattern: every one must verify, and every one must still be a
// session.
void five_hundred_at_once(server_fixture& f, const std::function<int()>& connect) {
  std::vector<echo_client> clients;
  clients.reserve(500);
  for (int i = 0; i < 500; ++i) {
    const int fd = connect();
    BOOST_REQUIRE(fd >= 0);
    clients.emplace_back(fd);
  }
  std::size_t ok = 0;
  for (std::size_t i = 0; i < clients.size(); ++i)
    ok += clients[i].echo_pattern(i, 4096, 10s) == stream_error::none ? 1U : 0U;
  BOOST_TEST(ok == 500U);
  BOOST_TEST(f.server().session_count() == 500U);
}

void round_trip_and_half_close(echo_client& c) {
  c.send_all("hello, echo\n");
  BOOST_TEST(c.recv_exact(12) == "hello, echo\n");
  c.shutdown_write();
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
}

}  // namespace

BOOST_AUTO_TEST_CASE(unix_path_echoes_64_mib_and_answers_half_close) {
  const auto path = socket_path("a.sock");
  server_fixture f(1, config_for({("unix://" + path).c_str()}));
  BOOST_TEST(f.server().listeners().front()->name() == "unix://" + path);
  BOOST_TEST(f.server().ready_lines().front() == "listening on unix://" + path);
  {
    echo_client c(connect_unix(path));
    BOOST_TEST((c.echo_pattern(11, 64 * MiB, 60s) == stream_error::none));
    c.shutdown_write();
    BOOST_TEST((c.wait_end() == echo_client::end::eof));
  }
  echo_client c(connect_unix(path));
  round_trip_and_half_close(c);
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
  BOOST_TEST(f.server().bytes().received == 64 * MiB + 12);
}

BOOST_AUTO_TEST_CASE(unix_abstract_name_echoes) {
  const std::string name = "@echo-listeners-test-" + std::to_string(::getpid());
  server_fixture f(1, config_for({("unix:" + name).c_str()}));
  BOOST_TEST(f.server().listeners().front()->name() == "unix:" + name);
  echo_client c(connect_unix(name));
  round_trip_and_half_close(c);
}

BOOST_AUTO_TEST_CASE(five_hundred_unix_clients_at_once) {
  const auto path = socket_path("many.sock");
  server_fixture f(2, config_for({("unix://" + path).c_str()}));
  five_hundred_at_once(f, [&] { return connect_unix(path); });
}

BOOST_AUTO_TEST_CASE(a_stale_socket_file_is_replaced_and_a_live_one_refused) {
  const auto path = socket_path("stale.sock");
  {
    // A socket file nobody listens on: what a crashed server leaves.
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  BOOST_REQUIRE(std::filesystem::exists(path));
  server_fixture f(1, config_for({("unix://" + path).c_str()}));
  echo_client c(connect_unix(path));
  round_trip_and_half_close(c);
  // While it listens, a second server must not take the path over.
  boost::asio::io_context io;
  try {
    echo::server second(io, config_for({("unix://" + path).c_str()}), false);
    BOOST_ERROR("a second server bound a live socket path");
  } catch (const echo::setup_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(std::string(e.what()).find(path) != std::string::npos);
  }
  echo_client again(connect_unix(path));  // the first still serves
  round_trip_and_half_close(again);
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_a_socket_is_never_removed) {
  const auto path = socket_path("plain-file");
  std::ofstream(path) << "keep me";
  boost::asio::io_context io;
  BOOST_CHECK_THROW(echo::server(io, config_for({("unix://" + path).c_str()}), false), echo::setup_error);
  std::ifstream in(path);
  std::string text;
  std::getline(in, text);
  BOOST_TEST(text == "keep me");
}

BOOST_AUTO_TEST_CASE(mode_is_applied_and_the_file_removed_on_exit) {
  const auto own = socket_path("mode.sock");
  const auto global = socket_path("global-mode.sock");
  {
    auto cfg = config_for({("unix://" + own + "?mode=0600").c_str(), ("unix://" + global).c_str()});
    cfg.unix_mode = 0620;
    server_fixture f(1, cfg);
    struct stat st {};
    BOOST_REQUIRE(::stat(own.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0600U);
    BOOST_REQUIRE(::stat(global.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 0777) == 0620U);
    BOOST_TEST(f.stop(1s, 5s));
  }
  BOOST_TEST(!std::filesystem::exists(own));
  BOOST_TEST(!std::filesystem::exists(global));
}

BOOST_AUTO_TEST_CASE(a_successor_s_socket_file_is_left_alone) {
  const auto path = socket_path("successor.sock");
  {
    server_fixture f(1, config_for({("unix://" + path).c_str()}));
    // Another process removed our file and bound its own there.
    ::unlink(path.c_str());
    const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strcpy(addr.sun_path, path.c_str());
    BOOST_REQUIRE(::bind(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
    ::close(fd);
  }
  BOOST_TEST(std::filesystem::exists(path));
  ::unlink(path.c_str());
}

// A Unix peer can attach descriptors to its bytes (SCM_RIGHTS); they must not pile up in
// the server's descriptor table.
BOOST_AUTO_TEST_CASE(descriptors_sent_over_a_unix_socket_are_closed) {
  const auto path = socket_path("rights.sock");
  server_fixture f(1, config_for({("unix://" + path).c_str()}));
  echo_client c(connect_unix(path));
  c.send_all("x");
  BOOST_REQUIRE(c.recv_exact(1) == "x");
  const auto before = open_descriptors();
  const int passed = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  for (int i = 0; i < 50; ++i) {
    char byte = 'y';
    iovec iov{&byte, 1};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    std::memcpy(CMSG_DATA(cm), &passed, sizeof passed);
    BOOST_REQUIRE(::sendmsg(c.fd(), &msg, 0) == 1);
    BOOST_REQUIRE(c.recv_exact(1) == "y");
  }
  ::close(passed);
  // The test and the server share this process: its table must be back where it was.
  BOOST_TEST(open_descriptors() <= before,
             "descriptors before " << before << ", after " << open_descriptors());
}

BOOST_AUTO_TEST_CASE(mptcp_echoes_64_mib_to_an_mptcp_client_and_plain_tcp_too,
                     *echo::test::skip_if(no_mptcp)) {
  server_fixture f(1, config_for({"mptcp://127.0.0.1:0"}));
  const auto& l = *f.server().listeners().front();
  BOOST_TEST(l.name() == "mptcp://127.0.0.1:" + std::to_string(l.port()));
  BOOST_TEST(f.server().ready_lines().front() == "listening on " + l.name());
  const int fd = connect_mptcp(l.port());
  BOOST_REQUIRE(fd >= 0);
  echo_client c(fd);
  BOOST_TEST((c.echo_pattern(5, 64 * MiB, 60s) == stream_error::none));
  // The connection really is multipath: the kernel reports MPTCP state on it (SOL_MPTCP,
  // MPTCP_INFO); a fallback to TCP would fail with EOPNOTSUPP.
  constexpr int sol_mptcp = 284, mptcp_info = 1;
  char info[256];
  socklen_t len = sizeof info;
  BOOST_TEST(::getsockopt(c.fd(), sol_mptcp, mptcp_info, info, &len) == 0, std::strerror(errno));
  c.shutdown_write();
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
  echo_client plain("127.0.0.1", l.port());
  round_trip_and_half_close(plain);
}

BOOST_AUTO_TEST_CASE(five_hundred_mptcp_clients_at_once, *echo::test::skip_if(no_mptcp)) {
  server_fixture f(2, config_for({"mptcp://127.0.0.1:0"}));
  five_hundred_at_once(f, [&] { return connect_mptcp(f.port()); });
}

BOOST_AUTO_TEST_CASE(discard_reads_everything_and_sends_nothing) {
  server_fixture f(1, config_for({"tcp://127.0.0.1:0?service=discard"}));
  echo_client c("127.0.0.1", f.port());
  const std::string block(MiB, 'd');
  for (int i = 0; i < 8; ++i) c.send_all(block);
  c.shutdown_write();
  // Our FIN answers the client's, with not one byte before it.
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
  BOOST_TEST(f.server().bytes().received == 8 * MiB);
  BOOST_TEST(f.server().bytes().sent == 0U);
}

BOOST_AUTO_TEST_CASE(v6only_refuses_ipv4_and_dual_stack_accepts_it, *echo::test::skip_if(no_ipv6)) {
  server_fixture f(1, config_for({"tcp://[::]:0?v6only=true", "tcp://[::]:0"}));
  const auto& ls = f.server().listeners();
  echo_client v6("::1", ls[0]->port());
  round_trip_and_half_close(v6);
  BOOST_CHECK_THROW(echo_client("127.0.0.1", ls[0]->port(), 2s), std::runtime_error);
  echo_client v4("127.0.0.1", ls[1]->port());
  round_trip_and_half_close(v4);
}

BOOST_AUTO_TEST_CASE(ready_lines_name_each_listener_in_order) {
  const auto path = socket_path("ready.sock");
  server_fixture f(1, config_for({"tcp://127.0.0.1:0", ("unix://" + path).c_str(), "unix:@echo-ready-test"}));
  const auto lines = f.server().ready_lines();
  BOOST_REQUIRE_EQUAL(lines.size(), 3U);
  BOOST_TEST(lines[0] == "listening on 127.0.0.1:" + std::to_string(f.port()));
  BOOST_TEST(lines[1] == "listening on unix://" + path);
  BOOST_TEST(lines[2] == "listening on unix:@echo-ready-test");
}

BOOST_AUTO_TEST_CASE(chargen_streams_the_rfc_864_pattern_as_fast_as_it_is_read) {
  server_fixture f(1, config_for({"tcp://127.0.0.1:0?service=chargen"}));
  echo_client c("127.0.0.1", f.port());
  c.send_all("ignored input\n");  // chargen never reads it
  const std::size_t n = 3 * echo::detail::chargen_pattern::period + 1234;
  const auto got = c.recv_exact(n, 10s);
  std::string expected(n, '\0');
  echo::detail::chargen_pattern::fill(expected, 0);
  BOOST_TEST(got == expected);
  BOOST_TEST(got.substr(0, 74) ==
             " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n");
  c.close();
  // The peer is gone: the next writes fail and the session ends by itself.
  BOOST_TEST(sessions_drop_to(f, 0, 10s));
}

// A graceful stop ends the pattern after the write in flight, with our FIN: the client
// reads a prefix of the pattern, then EOF.
BOOST_AUTO_TEST_CASE(chargen_drains_with_our_fin) {
  server_fixture f(1, config_for({"tcp://127.0.0.1:0?service=chargen"}));
  echo_client c("127.0.0.1", f.port());
  BOOST_REQUIRE(c.recv_exact(1000, 10s).size() == 1000U);
  auto stopped = std::async(std::launch::async, [&] { return f.stop(5s, 10s); });
  std::string rest;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  bool eof = false;
  while (!eof && std::chrono::steady_clock::now() < deadline) {
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    char buf[65536];
    const auto n = ::recv(c.fd(), buf, sizeof buf, 0);
    if (n <= 0) eof = n == 0;
    else rest.append(buf, static_cast<std::size_t>(n));
  }
  BOOST_TEST(eof, "no FIN after the drain");
  std::string expected(1000 + rest.size(), '\0');
  echo::detail::chargen_pattern::fill(expected, 0);
  BOOST_TEST(expected.substr(1000) == rest);
  c.close();
  BOOST_TEST(stopped.get());
}

BOOST_AUTO_TEST_CASE(udp_from_a_listen_url_echoes_and_is_named) {
  auto cfg = config_for({"udp://127.0.0.1:0"});
  server_fixture f(1, cfg);
  const auto& l = *f.server().listeners().front();
  BOOST_TEST(f.server().ready_lines().front() == "listening on udp://127.0.0.1:" + std::to_string(l.port()));
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  sockaddr_storage addr{};
  const auto len = echo::test::make_sockaddr("127.0.0.1", l.port(), addr);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0);
  const std::string datagram(1472, 'u');
  BOOST_REQUIRE(::send(fd, datagram.data(), datagram.size(), 0) == 1472);
  pollfd p{fd, POLLIN, 0};
  BOOST_REQUIRE(::poll(&p, 1, 5000) == 1);
  char buf[2048];
  const auto n = ::recv(fd, buf, sizeof buf, 0);
  ::close(fd);
  BOOST_TEST(std::string(buf, static_cast<std::size_t>(std::max<ssize_t>(n, 0))) == datagram);
  BOOST_TEST(f.server().bytes().received == 1472U);
}
