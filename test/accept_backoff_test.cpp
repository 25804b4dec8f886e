#define BOOST_TEST_MODULE accept_backoff
#include <boost/test/results_collector.hpp>
#include <boost/test/unit_test.hpp>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "echo/config.hpp"
#include "echo_client.hpp"
#include "echo_svc_process.hpp"
#include "proc_stats.hpp"
#include "skip.hpp"
#include "socket_util.hpp"
#include "unique_fd.hpp"

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

// PID's pipes, by inode ("pipe:[N]"), each with one of its /proc/PID/fd paths. Inodes, not
// descriptor numbers: a pipe that existed only for a moment at start-up leaves a number a
// session's pipe may take later.
std::map<std::string, std::string> pipes_of(pid_t pid) {
  std::map<std::string, std::string> pipes;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
    std::error_code link_ec;
    auto target = std::filesystem::read_symlink(e.path(), link_ec).string();
    if (target.rfind("pipe:", 0) == 0) pipes.emplace(std::move(target), e.path().string());
  }
  return pipes;
}

// PID's pipes that are not in `before`.
std::size_t new_pipes(pid_t pid, const std::map<std::string, std::string>& before) {
  std::size_t n = 0;
  for (const auto& [inode, path] : pipes_of(pid))
    if (before.count(inode) == 0) ++n;
  return n;
}

// Of those, the ones holding bytes now (read through /proc without taking any). A session's
// pipe holds bytes only while its echo is unsent; cached pipes are empty.
std::size_t full_pipes(pid_t pid, const std::map<std::string, std::string>& before) {
  std::size_t n = 0;
  for (const auto& [inode, path] : pipes_of(pid)) {
    if (before.count(inode) != 0) continue;
    echo::test::unique_fd fd(::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    int queued = 0;
    if (fd && ::ioctl(fd.get(), FIONREAD, &queued) == 0 && queued > 0) ++n;
  }
  return n;
}

// Sets this process's soft descriptor limit for as long as it lives (a child spawned
// meanwhile inherits it), then puts the old one back.
class soft_fd_limit {
 public:
  explicit soft_fd_limit(rlim_t soft) {
    BOOST_REQUIRE(::getrlimit(RLIMIT_NOFILE, &old_) == 0);
    rlimit lim = old_;
    lim.rlim_cur = soft;
    BOOST_REQUIRE_MESSAGE(::setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit failed");
  }
  ~soft_fd_limit() { ::setrlimit(RLIMIT_NOFILE, &old_); }
  soft_fd_limit(const soft_fd_limit&) = delete;
  soft_fd_limit& operator=(const soft_fd_limit&) = delete;

 private:
  rlimit old_{};
};

// Sends on every client (none of which ever reads) until each send would block and `pid`
// has `pipes` new pipes holding bytes: every session is then stuck in its echo, holding its
// pipe, until its client reads or leaves. False at the deadline or on a send error.
bool stall(const std::vector<echo::test::unique_fd>& clients, pid_t pid,
           const std::map<std::string, std::string>& before, std::size_t pipes,
           std::chrono::steady_clock::time_point deadline) {
  static const std::string chunk(64 * 1024, 'x');
  while (std::chrono::steady_clock::now() < deadline) {
    bool all_blocked = true;
    for (const auto& c : clients) {
      const ssize_t n = ::send(c.get(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != ENOTCONN) return false;
      if (n >= 0 || errno == ENOTCONN) all_blocked = false;
    }
    if (all_blocked && full_pipes(pid, before) >= pipes) return true;
    if (all_blocked) {
      pollfd p{clients.front().get(), POLLOUT, 0};
      ::poll(&p, 1, echo::test::poll_timeout_ms(deadline, 10));  // let the server catch up
    }
  }
  return false;
}

// A new client sends one byte: true when it comes back within `wait` (the client then goes
// into `served` if given), false when the client is turned away (EOF, reset) or not answered.
bool one_byte_echoed(std::uint16_t port, std::chrono::milliseconds wait,
                     std::vector<echo_client>* served = nullptr) {
  echo_client c("127.0.0.1", port);
  c.send_all("p");
  std::string got;
  try {
    if (!c.try_recv_exact(1, wait, got) || got != "p") return false;
  } catch (const std::runtime_error&) {
    return false;
  }
  if (served != nullptr) served->push_back(std::move(c));
  return true;
}

std::string no_splice_path() {
  return ECHO_SPLICE_PATH ? "" : "built without the splice path (ECHO_SPLICE=OFF)";
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
  // Turned away while the backoff timer still runs: try again.
  while (!ok && std::chrono::steady_clock::now() - freed < 1s) ok = one_byte_echoed(svc.port, 1s);
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

// Sessions and the splice pipes they hold draw on one descriptor room (the soft limit less
// the reserve): once they fill it, a new client is turned away at once instead of taking
// the reserve, and the server never runs out of descriptors. With a soft limit of 96 the
// room is 64; 31 clients that never read stall their sessions with bytes in a pipe each
// (pipes are made only while sessions leave room for them), then clients keep coming.
// Without the pipes in the count, sessions would be admitted up to 64 and the process
// would hit its limit (EMFILE) with 31 pipes open beside them.
BOOST_AUTO_TEST_CASE(sessions_and_splice_pipes_share_the_descriptor_room,
                     *echo::test::skip_if(no_splice_path)) {
  constexpr std::size_t room = 96 - echo::fd_reserve;
  std::unique_ptr<echo_svc_process> started;
  {
    const soft_fd_limit limit(96);
    started = std::make_unique<echo_svc_process>(std::vector<std::string>{
        "--splice", "always", "--threads", "1", "--write-timeout", "0", "--idle-timeout", "0"});
  }
  auto& svc = *started;
  const pid_t pid = svc.child->pid();
  const auto before = pipes_of(pid);
  // Everything but sessions and their pipes, plus the two descriptors making a pipe holds
  // for a moment and the one an accept takes before admission.
  const std::size_t bound = open_fds(pid) + room + 3;
  constexpr std::size_t pipe_holders = 31;
  const auto deadline = std::chrono::steady_clock::now() + 30s;

  std::vector<echo::test::unique_fd> stalled;
  for (std::size_t i = 0; i < pipe_holders; ++i) {
    stalled.emplace_back(echo::test::connect_nonblocking("127.0.0.1", svc.port, 4096));
    BOOST_REQUIRE(stalled.back().get() >= 0);
  }
  BOOST_REQUIRE_MESSAGE(
      stall(stalled, pid, before, pipe_holders, deadline),
      "sessions holding bytes in a pipe: " << full_pipes(pid, before) << " of " << pipe_holders);

  // Clients that echo one byte and stay, until one is refused.
  std::vector<echo_client> served;
  bool refused = false;
  std::size_t most_fds = 0;
  while (!refused && served.size() < 40) {
    refused = !one_byte_echoed(svc.port, 5s, &served);
    most_fds = std::max(most_fds, open_fds(pid));
  }
  BOOST_TEST_MESSAGE("served beside the stalled sessions: " << served.size() << "; pipes "
                                                            << new_pipes(pid, before) << "; most descriptors "
                                                            << most_fds << " (bound " << bound << ")");
  BOOST_TEST(refused);
  BOOST_TEST(most_fds <= bound);
  const auto log = svc.child->stderr_text();
  BOOST_TEST(count(log, "splice pipes hold the descriptor room") >= 1U);
  BOOST_TEST(count(log, "pausing accepts") == 0U);  // never out of descriptors

  // One stalled client leaves: its session and its pipe go, and a new client is served.
  stalled.pop_back();
  bool again = false;
  // Refused while the stalled session has not ended yet: try again.
  while (!again && std::chrono::steady_clock::now() < deadline) again = one_byte_echoed(svc.port, 1s);
  BOOST_TEST(again);
  stalled.clear();
  served.clear();
  svc.child->signal(SIGTERM);
  BOOST_TEST(svc.child->wait(15s).value_or(-1) == 0);
}
