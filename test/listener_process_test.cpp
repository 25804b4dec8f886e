#define BOOST_TEST_MODULE listener_process
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "echo_client.hpp"
#include "echo_svc_process.hpp"
#include "skip.hpp"
#include "socket_util.hpp"
#include "unique_fd.hpp"

using namespace std::chrono_literals;
using echo::test::child_process;
using echo::test::echo_client;
using echo::test::echo_svc_path;
using echo::test::echo_svc_process;
using echo::test::unique_fd;

namespace {

constexpr const char* activate_path = "/usr/bin/systemd-socket-activate";

struct outcome {
  int code;
  std::string out;
  std::string err;
};

outcome finish(child_process& p) {
  std::string out;
  while (auto line = p.read_line(10s)) out += *line + "\n";
  const auto code = p.wait(10s);
  BOOST_REQUIRE_MESSAGE(code.has_value(), "the child did not exit");
  return {*code, out, p.stderr_text()};
}

std::size_t count_lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

std::uint16_t local_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  BOOST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
}

// A TCP socket bound to 127.0.0.1 on a port the kernel picks.
unique_fd bound_socket(int type, bool listening) {
  unique_fd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
  BOOST_REQUIRE(fd);
  sockaddr_storage addr{};
  const socklen_t len = echo::test::make_sockaddr("127.0.0.1", 0, addr);
  BOOST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  if (listening) BOOST_REQUIRE(::listen(fd.get(), 64) == 0);
  return fd;
}

// Runs echo-svc as a service manager would: `passed` as descriptor 3 and LISTEN_PID set to
// echo-svc's own pid, which only the exec'ing shell knows.
std::unique_ptr<child_process> start_activated(int passed, const std::string& env,
                                               std::vector<std::string> args) {
  // Above every descriptor the child sets up, so that dup2 onto 3 never meets itself.
  unique_fd high(::fcntl(passed, F_DUPFD_CLOEXEC, 100));
  BOOST_REQUIRE(high);
  std::vector<std::string> argv{"/bin/sh", "-c", "export LISTEN_PID=$$ " + env + "; exec \"$0\" \"$@\"",
                                echo_svc_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  return std::make_unique<child_process>(argv, std::vector<std::pair<int, int>>{{high.get(), 3}});
}

// Socket inodes held by `pid`.
std::set<unsigned long> socket_inodes(pid_t pid) {
  std::set<unsigned long> inodes;
  const auto dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(dir.c_str());
  BOOST_REQUIRE(d != nullptr);
  while (const dirent* e = ::readdir(d)) {
    char target[64] = {};
    const auto path = dir + "/" + e->d_name;
    if (::readlink(path.c_str(), target, sizeof target - 1) <= 0) continue;
    unsigned long inode = 0;
    if (std::sscanf(target, "socket:[%lu]", &inode) == 1) inodes.insert(inode);
  }
  ::closedir(d);
  return inodes;
}

// The inode of the server's end of every established connection to `server_port`, keyed by
// the client's port (from /proc/net/tcp: loopback IPv4 only).
std::map<std::uint16_t, unsigned long> server_ends(std::uint16_t server_port) {
  std::map<std::uint16_t, unsigned long> ends;
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    unsigned local_port = 0, remote_port = 0, state = 0;
    unsigned long inode = 0;
    char local[16] = {}, remote[16] = {};
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
    if (std::sscanf(line.c_str(), " %*d: %8[0-9A-F]:%x %8[0-9A-F]:%x %x %*s %*s %*s %*u %*u %lu", local,
                    &local_port, remote, &remote_port, &state, &inode) != 6)
      continue;
    if (local_port == server_port && state == 1 /* ESTABLISHED */ && inode != 0)
      ends[static_cast<std::uint16_t>(remote_port)] = inode;
  }
  return ends;
}

std::string activate_missing() {
  return ::access(activate_path, X_OK) == 0
             ? std::string()
             : std::string(activate_path) + " not found (Debian package systemd)";
}

// Ports for systemd-socket-activate, which cannot bind port 0: below the ephemeral range, so
// clients' own ports never collide with them, and free at the moment they are picked.
std::vector<std::uint16_t> pick_ports(std::size_t n) {
  static std::mt19937 rng(std::random_device{}());
  std::vector<std::uint16_t> ports;
  while (ports.size() < n) {
    const auto p = static_cast<std::uint16_t>(std::uniform_int_distribution<int>(20000, 32767)(rng));
    if (std::find(ports.begin(), ports.end(), p) != ports.end()) continue;
    unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage addr{};
    const socklen_t len = echo::test::make_sockaddr("127.0.0.1", p, addr);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0) ports.push_back(p);
  }
  return ports;
}

// systemd-socket-activate listening on `ports` (127.0.0.1) and running echo-svc once the
// first connection arrives, with that connection, already accepted into the backlog.
struct activated {
  std::unique_ptr<child_process> child;
  std::vector<std::uint16_t> ports;
  std::unique_ptr<echo_client> first;
};

// Starts it, retrying with other ports if one was taken meanwhile; connect attempts are how
// the test learns that the sockets are listening (they are bound before the first one is).
activated start_socket_activate(std::size_t n, const std::vector<std::string>& extra) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    activated a;
    a.ports = pick_ports(n);
    std::vector<std::string> argv{activate_path};
    for (const auto p : a.ports) argv.insert(argv.end(), {"-l", "127.0.0.1:" + std::to_string(p)});
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(echo_svc_path());
    a.child = std::make_unique<child_process>(argv);
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!a.first && std::chrono::steady_clock::now() < deadline) {
      if (a.child->wait(0ms)) break;  // it could not bind: try other ports
      try {
        a.first = std::make_unique<echo_client>("127.0.0.1", a.ports.front(), 1s);
      } catch (const std::exception&) {
        std::this_thread::sleep_for(10ms);  // not listening yet: bounded by the deadline
      }
    }
    if (a.first && !a.child->wait(0ms)) return a;
    BOOST_TEST_MESSAGE("systemd-socket-activate attempt " << attempt
                                                          << " failed: " << a.child->stderr_text());
  }
  BOOST_FAIL("systemd-socket-activate never started");
  return {};
}

}  // namespace

BOOST_AUTO_TEST_CASE(reuse_port_lets_two_processes_share_a_port) {
  echo_svc_process first({"--reuse-port"});
  const auto port = std::to_string(first.port);
  echo_svc_process second({"--reuse-port", "--port", port});
  BOOST_TEST(second.port == first.port);

  // The kernel hashes each connection's 4-tuple to one of the two listeners: of 64, both
  // get some unless something is wrong (all on one side: probability 2^-63).
  std::vector<echo_client> clients;
  for (int i = 0; i < 64; ++i) {
    clients.emplace_back("127.0.0.1", first.port);
    const auto text = "reuse-" + std::to_string(i);
    clients.back().send_all(text);
    BOOST_TEST(clients.back().recv_exact(text.size()) == text);
  }
  const auto ends = server_ends(first.port);
  const auto in_first = socket_inodes(first.child->pid());
  const auto in_second = socket_inodes(second.child->pid());
  std::size_t served_by_first = 0, served_by_second = 0;
  for (auto& c : clients) {
    const auto it = ends.find(local_port(c.fd()));
    BOOST_REQUIRE(it != ends.end());
    served_by_first += in_first.count(it->second);
    served_by_second += in_second.count(it->second);
  }
  BOOST_TEST_MESSAGE("first served " << served_by_first << ", second " << served_by_second);
  BOOST_TEST(served_by_first + served_by_second == 64U);
  BOOST_TEST(served_by_first > 0U);
  BOOST_TEST(served_by_second > 0U);
  for (auto& c : clients) {
    c.shutdown_write();
    BOOST_TEST((c.wait_end() == echo_client::end::eof));
    c.close();
  }

  // With the first gone, the second serves the port alone.
  first.child->signal(SIGTERM);
  BOOST_TEST(first.child->wait(10s).value_or(-1) == 0);
  for (int i = 0; i < 8; ++i) {
    echo_client c("127.0.0.1", second.port);
    c.send_all("second");
    BOOST_TEST(c.recv_exact(6) == "second");
  }
  second.child->signal(SIGTERM);
  BOOST_TEST(second.child->wait(10s).value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(without_reuse_port_on_both_the_second_exits_69) {
  // SO_REUSEPORT shares a port only among sockets that all set it.
  for (const bool first_sets_it : {true, false}) {
    echo_svc_process first(first_sets_it ? std::vector<std::string>{"--reuse-port"}
                                         : std::vector<std::string>{});
    const auto port = std::to_string(first.port);
    std::vector<std::string> argv{echo_svc_path(), "--bind", "127.0.0.1", "--port", port};
    if (!first_sets_it) argv.push_back("--reuse-port");
    child_process second(argv);
    const auto r = finish(second);
    BOOST_TEST(r.code == 69, "first sets it: " << first_sets_it);
    BOOST_TEST(r.out.empty());
    BOOST_TEST(r.err.find("127.0.0.1:" + port) != std::string::npos, r.err);
    BOOST_TEST(r.err.find("in use") != std::string::npos, r.err);
  }
}

BOOST_AUTO_TEST_CASE(passed_socket_is_served_instead_of_binding) {
  auto sock = bound_socket(SOCK_STREAM, true);
  const auto port = local_port(sock.get());
  // --bind 192.0.2.1 is on no interface: binding it would fail, so success shows it was not.
  auto child = start_activated(sock.get(), "LISTEN_FDS=1 LISTEN_FDNAMES=echo",
                               {"--bind", "192.0.2.1", "--port", "7", "--log-level", "info"});
  sock.reset();  // the child's copy is the only one
  const auto line = child->read_line(10s);
  BOOST_REQUIRE_MESSAGE(line.has_value(), child->stderr_text());
  BOOST_TEST(*line == "listening on 127.0.0.1:" + std::to_string(port));
  echo_client c("127.0.0.1", port);
  c.send_all("passed");
  BOOST_TEST(c.recv_exact(6) == "passed");
  c.close();
  child->signal(SIGTERM);
  BOOST_TEST(child->wait(10s).value_or(-1) == 0);
  const auto err = child->stderr_text();
  BOOST_TEST(err.find("serving sockets passed by the service manager instead of binding sockets=1") !=
                 std::string::npos,
             err);
  BOOST_TEST(err.find("fd 3 'echo'") != std::string::npos, err);
  BOOST_TEST(err.find("192.0.2.1:7") != std::string::npos, err);  // named as not bound
}

BOOST_AUTO_TEST_CASE(passed_descriptor_that_is_not_a_listening_tcp_socket_exits_69) {
  struct candidate {
    const char* what;
    unique_fd fd;
    const char* reason;
  };
  std::vector<candidate> candidates;
  candidates.push_back({"bound, not listening", bound_socket(SOCK_STREAM, false), "not listening"});
  candidates.push_back({"udp", bound_socket(SOCK_DGRAM, false), "datagram"});
  candidates.push_back({"file", unique_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC)), "not a socket"});
  for (auto& c : candidates) {
    auto child = start_activated(c.fd.get(), "LISTEN_FDS=1", {"--port", "0", "--bind", "127.0.0.1"});
    const auto r = finish(*child);
    BOOST_TEST(r.code == 69, c.what);
    BOOST_TEST(r.out.empty(), c.what);  // no ready line, nothing bound instead
    BOOST_TEST(r.err.find("echo-svc: cannot adopt fd 3 from the service manager: ") != std::string::npos,
               r.err);
    BOOST_TEST(r.err.find(c.reason) != std::string::npos, r.err);
  }
}

BOOST_AUTO_TEST_CASE(malformed_listen_fds_exits_78_and_a_parents_is_ignored) {
  auto sock = bound_socket(SOCK_STREAM, true);
  auto bad = start_activated(sock.get(), "LISTEN_FDS=three", {"--port", "0", "--bind", "127.0.0.1"});
  const auto r = finish(*bad);
  BOOST_TEST(r.code == 78);
  BOOST_TEST(count_lines(r.err) == 1U, r.err);
  BOOST_TEST(r.err.find("LISTEN_FDS 'three'") != std::string::npos, r.err);

  // Variables meant for another process (LISTEN_PID is not ours): bind as configured.
  std::vector<std::string> argv{
      "/usr/bin/env", "LISTEN_PID=1", "LISTEN_FDS=1", echo_svc_path(), "--port", "0", "--bind", "127.0.0.1"};
  child_process normal(argv);
  const auto line = normal.read_line(10s);
  BOOST_REQUIRE_MESSAGE(line.has_value(), normal.stderr_text());
  BOOST_TEST(*line != "listening on 127.0.0.1:" + std::to_string(local_port(sock.get())));
  normal.signal(SIGTERM);
  BOOST_TEST(normal.wait(10s).value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(systemd_socket_activate_one_socket, *echo::test::skip_if(activate_missing)) {
  auto a = start_socket_activate(1, {});
  const auto line = a.child->read_line(10s);
  BOOST_REQUIRE_MESSAGE(line.has_value(), a.child->stderr_text());
  BOOST_TEST(*line == "listening on 127.0.0.1:" + std::to_string(a.ports.front()));
  // The connection that started it was waiting in the backlog.
  a.first->send_all("activated");
  BOOST_TEST(a.first->recv_exact(9) == "activated");
  echo_client later("127.0.0.1", a.ports.front());
  later.send_all("later");
  BOOST_TEST(later.recv_exact(5) == "later");
  a.first->close();
  later.close();
  a.child->signal(SIGTERM);
  BOOST_TEST(a.child->wait(10s).value_or(-1) == 0);
}

BOOST_AUTO_TEST_CASE(systemd_socket_activate_two_sockets_two_ready_lines,
                     *echo::test::skip_if(activate_missing)) {
  auto a = start_socket_activate(2, {"--fdname=first:second"});
  for (const auto port : a.ports) {
    const auto line = a.child->read_line(10s);
    BOOST_REQUIRE_MESSAGE(line.has_value(), a.child->stderr_text());
    BOOST_TEST(*line == "listening on 127.0.0.1:" + std::to_string(port));
  }
  BOOST_TEST(!a.child->read_line(100ms).has_value());  // one line per socket, no more
  a.first->send_all("one");
  BOOST_TEST(a.first->recv_exact(3) == "one");
  echo_client other("127.0.0.1", a.ports.back());
  other.send_all("two");
  BOOST_TEST(other.recv_exact(3) == "two");
  a.first->close();
  other.close();
  a.child->signal(SIGTERM);
  BOOST_TEST(a.child->wait(10s).value_or(-1) == 0);
  BOOST_TEST(a.child->stderr_text().find("fd 3 'first', fd 4 'second'") != std::string::npos,
             a.child->stderr_text());
}

BOOST_AUTO_TEST_CASE(systemd_socket_activate_datagram_socket_exits_69,
                     *echo::test::skip_if(activate_missing)) {
  for (int attempt = 0; attempt < 10; ++attempt) {
    const auto port = pick_ports(1).front();
    child_process child(
        {activate_path, "--datagram", "-l", "127.0.0.1:" + std::to_string(port), echo_svc_path()});
    // A datagram starts it; until its socket is bound they are dropped, so keep sending.
    unique_fd udp(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    sockaddr_storage addr{};
    const socklen_t len = echo::test::make_sockaddr("127.0.0.1", port, addr);
    std::optional<int> code;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!(code = child.wait(10ms)) && std::chrono::steady_clock::now() < deadline)
      (void)::sendto(udp.get(), "x", 1, 0, reinterpret_cast<const sockaddr*>(&addr), len);
    BOOST_REQUIRE_MESSAGE(code.has_value(), "no exit; stderr: " << child.stderr_text());
    const auto err = child.stderr_text();
    if (*code == 1 && err.find("Failed to") != std::string::npos) continue;  // port taken meanwhile
    BOOST_TEST(*code == 69, err);
    BOOST_TEST(err.find("echo-svc: cannot adopt fd 3 from the service manager: a datagram socket") !=
                   std::string::npos,
               err);
    return;
  }
  BOOST_FAIL("systemd-socket-activate never started");
}
