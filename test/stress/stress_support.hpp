#pragma once

// Helpers shared by the stress tests: /proc observables of the server process,
// scale knobs from the environment, and poll()-driven client engines that verify every byte.
// Nothing here uses Boost.Test, so the engines may run on helper threads; tests assert on the
// main thread only, from the results these return.

#include <sys/types.h>

#include "echo_load.hpp"
#include "proc_stats.hpp"
#include "socket_util.hpp"
#include "unique_fd.hpp"

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

/// Prints one figure to the Boost.Test log and to stdout, and appends it to the file named by
/// ECHO_STRESS_FIGURES (default stress-figures.log in the working directory, which under
/// CTest is build/<preset>/test/stress): CTest shows a passing test's stdout only with -V.
#define STRESS_FIGURE(expr)                                           \
  do {                                                                \
    std::ostringstream stress_figure_os_;                             \
    stress_figure_os_ << expr;                                        \
    BOOST_TEST_MESSAGE(stress_figure_os_.str());                      \
    std::cout << "[stress] " << stress_figure_os_.str() << std::endl; \
    ::echo::stress::record_figure(stress_figure_os_.str());           \
  } while (false)

namespace echo::stress {

using clock = std::chrono::steady_clock;

/// Appends one line to the figures file (see STRESS_FIGURE).
void record_figure(const std::string& line);

/// Positive number from the environment variable `name`, or `fallback`.
double env_number(const char* name, double fallback);

/// Raises the soft RLIMIT_NOFILE to the hard limit (the client side needs many fds).
void raise_nofile();
struct nofile_fixture {
  nofile_fixture() { raise_nofile(); }
};

using echo::test::cpu_ticks;
using echo::test::open_fds;
using echo::test::rss_kib;
using echo::test::ticks_to_seconds;
/// Polls (every 10 ms) until open_fds(pid) <= target; elapsed time, or nullopt at the deadline.
[[nodiscard]] std::optional<std::chrono::milliseconds> wait_fds_at_most(pid_t pid, std::size_t target,
                                                                        std::chrono::milliseconds timeout);
/// A TcpExt counter from /proc/net/netstat (e.g. "ListenOverflows"); 0 if absent.
std::uint64_t netstat_value(const std::string& key);
std::string read_file(const std::string& path);
/// Local port of a connected socket.
std::uint16_t local_port(int fd);
std::size_t count_substr(const std::string& haystack, const std::string& needle);
/// Lines of `text` containing `needle`, at most `max` of them (for failure messages).
std::string lines_with(const std::string& text, const std::string& needle, std::size_t max = 5);

/// Starts a non-blocking connect; the fd, or -errno if it failed at once.
using echo::test::connect_nonblocking;
/// SO_LINGER {1, 0} then close(): the peer gets an RST.
void abort_close(echo::test::unique_fd fd);
double elapsed_ms(clock::time_point since);

/// p in [0, 100] of `v` (sorted in place); 0 for an empty vector.
double percentile(std::vector<double>& v, double p);

// ---------------------------------------------------------------------------------------
/// One-byte probe: connect, send one byte, expect that byte back. Resumable: run_probes drives
/// every pending probe until it resolves or the deadline passes.
enum class outcome { pending, served, eof, reset, refused, error };
struct probe_conn {
  echo::test::unique_fd fd;
  bool connected = false;
  bool sent = false;
  char tag = 'x';
  outcome result = outcome::pending;
  clock::time_point resolved_at{};
};
/// Opens `n` probes (non-blocking connects started) and appends them to `conns`.
void open_probes(std::vector<probe_conn>& conns, std::size_t n, const std::string& host, std::uint16_t port);
void run_probes(std::vector<probe_conn>& conns, std::chrono::milliseconds timeout);
/// Re-arms served probes so the next run_probes checks they still echo.
void rearm_served(std::vector<probe_conn>& conns);
std::size_t count_outcome(const std::vector<probe_conn>& conns, outcome o);
void close_probe(probe_conn& c);
void close_probes(std::vector<probe_conn>& conns);

// ---------------------------------------------------------------------------------------
/// Request/response latency: each connection sends `msg_size` pattern bytes, waits for the
/// whole echo (verified), records the round trip, repeats for `window`.
struct pingpong_result {
  std::vector<double> rtt_us;
  std::size_t failures = 0;
  std::size_t mismatches = 0;
};
pingpong_result run_pingpong(const std::string& host, std::uint16_t port, std::size_t connections,
                             std::size_t msg_size, std::chrono::milliseconds window, std::uint64_t seed);

// ---------------------------------------------------------------------------------------
/// Never-reading clients: SO_RCVBUF 4 KiB (set before connect), never read, and a helper
/// thread keeps sending whenever their send buffer has room. Sending until the send blocks
/// once is not enough: the server's send buffer may grow, its echo write complete, and the
/// session then waits to read (idle, not write-pending). Pumping until stopped keeps the
/// server's write pending for as long as the test needs.
struct stalled_conn {
  std::uint16_t port = 0;  ///< the client's local port, once connected
  std::uint64_t sent = 0;
  clock::time_point last_send{};  ///< last send that moved bytes (the server read until then)
  bool blocked = false;           ///< in an EAGAIN streak of at least `settle`
  bool closed = false;            ///< the server went away (RST, FIN or a send error)
  clock::time_point closed_at{};
};
class stall_pump {
 public:
  stall_pump(const std::string& host, std::uint16_t port, std::size_t n, int sndbuf = 0);
  stall_pump(const stall_pump&) = delete;
  stall_pump& operator=(const stall_pump&) = delete;
  /// Stops the pump and closes every descriptor still held.
  ~stall_pump();

  /// Deadline-bounded: true once every connection is blocked for `settle` (or closed).
  [[nodiscard]] bool wait_blocked(std::chrono::milliseconds settle, std::chrono::milliseconds timeout);
  /// Deadline-bounded: true once every connection is closed by the server.
  [[nodiscard]] bool wait_closed(std::chrono::milliseconds timeout);
  std::vector<stalled_conn> snapshot() const;
  /// While paused the pump sends nothing (it still notices closes): a measurement window then
  /// sees the server's load, not the test's own sending.
  void pause(bool paused) { paused_ = paused; }
  /// Stops pumping; the descriptors stay open (and owned) until abort_all() or destruction.
  void stop();
  /// Stops, then closes every connection with SO_LINGER 0 (RST).
  void abort_all();

 private:
  void run();
  mutable std::mutex mutex_;
  std::vector<stalled_conn> conns_;
  std::vector<echo::test::unique_fd> fds_;  ///< conns_[i]'s socket; fixed while the pump runs
  std::chrono::milliseconds settle_{300};
  std::atomic<bool> stop_{false};
  std::atomic<bool> paused_{false};
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------
/// What the server did on each connection to `local_port`, seen from outside: a helper
/// thread reads the kernel's counters of the server's sockets (tcp_sockets) every `period`,
/// never pausing, and keeps per peer port when the server's read count last advanced. An
/// echo session starts a write right after each read, so that is also when its last write
/// started, to within one sampling interval (the sample that saw the advance is the bound).
/// One dump costs about 2 ms of CPU here (the kernel walks its whole connection table), so
/// `period` trades the precision of that bound against load added to what a test measures.
class read_progress_sampler {
 public:
  struct progress {
    std::uint32_t inode = 0;
    std::uint64_t read = 0;
    clock::time_point advanced{};  ///< first sample that saw `read` at this value (confirmed)
  };
  struct result {
    std::map<std::uint16_t, progress> peers;
    std::size_t samples = 0;
    std::chrono::milliseconds max_interval{0};  ///< longest time between two samples
  };
  read_progress_sampler(std::uint16_t local_port, std::chrono::milliseconds period);
  read_progress_sampler(const read_progress_sampler&) = delete;
  read_progress_sampler& operator=(const read_progress_sampler&) = delete;
  ~read_progress_sampler();
  /// What it has seen so far (thread-safe, while sampling).
  result snapshot() const;
  /// Stops sampling (once) and returns what it saw.
  result stop();
  /// The latest `advanced` over every connection so far (thread-safe, while sampling).
  clock::time_point latest_advance() const { return clock::time_point(clock::duration(latest_.load())); }

 private:
  void run(std::uint16_t local_port, std::chrono::milliseconds period);
  std::atomic<bool> stop_{false};
  std::atomic<clock::rep> latest_{0};
  mutable std::mutex mutex_;
  result result_;
  std::thread thread_;
};

}  // namespace echo::stress
