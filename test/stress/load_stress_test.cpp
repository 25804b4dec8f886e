// Stress tests: byte-exact load, giant stream, half-close matrix, tiny writes. Every byte is
// checked against its per-connection pattern.
#define BOOST_TEST_MODULE load_stress
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <cstring>
#include <future>
#include <span>
#include <string>
#include <vector>

#include "echo/client/verified_stream.hpp"
#include "echo_load.hpp"
#include "echo_svc_process.hpp"
#include "rng.hpp"
#include "stress_server.hpp"
#include "stress_support.hpp"
#include "unique_fd.hpp"

using namespace std::chrono_literals;
using echo::stress::stop_server;
using echo::test::echo_svc_process;
namespace st = echo::stress;

namespace {

constexpr std::uint64_t fnv_offset = 14695981039346656037ULL;

std::uint64_t fnv1a(std::uint64_t h, std::span<const std::byte> data) {
  for (const std::byte b : data) {
    h ^= static_cast<std::uint64_t>(b);
    h *= 1099511628211ULL;
  }
  return h;
}

}  // namespace

// 1. 1,000 connections, random write sizes 1 B - 64 KiB, full duplex, >= 30 s (ECHO_STRESS_SECONDS).
BOOST_AUTO_TEST_CASE(byte_exact_load) {
  const double seconds = st::env_number("ECHO_STRESS_SECONDS", 30);
  echo_svc_process svc({"--threads", "2"});
  const pid_t pid = svc.child->pid();
  const std::size_t baseline_fds = st::open_fds(pid);
  const std::uint64_t rss0 = st::rss_kib(pid);
  const std::uint64_t cpu0 = st::cpu_ticks(pid);

  echo::test::load_options o;
  o.port = svc.port;
  o.connections = 1000;
  o.min_write = 1;
  o.max_write = 64 * 1024;
  o.max_outstanding = 256 * 1024;
  o.seed = 0xB17E;
  const std::chrono::milliseconds send_for(static_cast<long long>(seconds * 1000));
  o.send_for = send_for;
  o.timeout = send_for + 60s;
  const auto start = st::clock::now();
  const auto r = echo::test::run_echo_load(o);
  const double wall = st::elapsed_ms(start) / 1000;
  const double cpu = st::ticks_to_seconds(st::cpu_ticks(pid) - cpu0);
  const std::uint64_t rss1 = st::rss_kib(pid);
  const auto back = st::wait_fds_at_most(pid, baseline_fds, 1s);

  STRESS_FIGURE("byte_exact_load: " << o.connections << " conns, " << wall << " s, "
                                    << r.bytes_verified / (1024 * 1024) << " MiB verified each way ("
                                    << static_cast<double>(r.bytes_verified) / (1024.0 * 1024.0) / wall
                                    << " MiB/s), completed " << r.completed << ", mismatches " << r.mismatches
                                    << ", resets " << r.resets << ", short " << r.short_echoes << ", extra "
                                    << r.extra_bytes << ", connect failures " << r.connect_failures
                                    << ", timeouts " << r.timeouts << "; server CPU " << cpu << " s, RSS "
                                    << rss0 << " -> " << rss1 << " KiB; fds back to baseline " << baseline_fds
                                    << ": "
                                    << (back ? std::to_string(back->count()) + " ms" : std::string("NO")));
  BOOST_TEST(r.mismatches == 0U);
  BOOST_TEST(r.completed == o.connections, r.first_problem);
  BOOST_TEST(r.bytes_verified == r.bytes_sent);
  BOOST_TEST(back.has_value(), "server fds " << st::open_fds(pid) << " vs baseline " << baseline_fds);
  stop_server(svc);
}

// 2. One connection, GiB each way at once (ECHO_STRESS_GIANT_GIB, default 1; 4 for the full run).
BOOST_AUTO_TEST_CASE(giant_stream) {
  const double gib = st::env_number("ECHO_STRESS_GIANT_GIB", 1);
  const auto total = static_cast<std::uint64_t>(gib * 1024.0 * 1024.0 * 1024.0);
  echo_svc_process svc;
  const pid_t pid = svc.child->pid();
  const std::uint64_t rss0 = st::rss_kib(pid);
  std::uint64_t rss_max = rss0;

  echo::test::unique_fd fd(st::connect_nonblocking("127.0.0.1", svc.port));
  BOOST_REQUIRE(fd);
  std::vector<std::byte> out(256 * 1024), in(256 * 1024);
  std::uint64_t mismatch_at = ~0ULL;
  std::uint64_t sum_sent = fnv_offset, sum_received = fnv_offset;
  bool eof = false, failed = false;
  std::string problem;
  echo::test::rng sizes(42);
  // The stream verifies every byte as it comes; the checksums of both directions are an
  // independent second check over the whole transfer.
  echo::client::verified_stream stream(echo::client::pattern::connection_seed(7, 0));
  using step = echo::client::verified_stream::step;
  const auto start = st::clock::now();
  const auto deadline = start + std::chrono::seconds(static_cast<long long>(60 + gib * 60));
  auto next_sample = start;
  while (!eof && !failed && st::clock::now() < deadline) {
    pollfd p{fd.get(), static_cast<short>(POLLIN | (stream.sent() < total ? POLLOUT : 0)), 0};
    ::poll(&p, 1, 100);
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      const step s = stream.receive(fd.get(), in);
      if (s.what == step::kind::moved) {
        sum_received = fnv1a(sum_received, std::span(in.data(), s.bytes));
      } else if (s.what == step::kind::ended || s.error == echo::client::stream_error::short_echo) {
        eof = true;
      } else if (s.error == echo::client::stream_error::mismatch) {
        mismatch_at = stream.received() + s.bytes;
        failed = true;
      } else if (s.what == step::kind::failed) {
        failed = true;
        problem = std::string("recv: ") +
                  (s.sys_error != 0 ? std::strerror(s.sys_error) : echo::client::to_string(s.error));
      }
    }
    if ((p.revents & POLLOUT) && stream.sent() < total) {
      const auto n = std::min<std::uint64_t>(sizes.between(1, out.size()), total - stream.sent());
      const step s = stream.send(fd.get(), static_cast<std::size_t>(n), out);
      if (s.what == step::kind::moved) {
        sum_sent = fnv1a(sum_sent, std::span(out.data(), s.bytes));
      } else if (s.what == step::kind::failed) {
        failed = true;
        problem = std::string("send: ") + std::strerror(s.sys_error);
      }
    }
    if (stream.sent() == total && !stream.half_closed()) {
      if (const step s = stream.half_close(fd.get()); s.what == step::kind::failed) {
        failed = true;
        problem = std::string("shutdown: ") + std::strerror(s.sys_error);
      }
    }
    if (st::clock::now() >= next_sample) {
      rss_max = std::max(rss_max, st::rss_kib(pid));
      next_sample += 100ms;
    }
  }
  fd.reset();
  const std::uint64_t sent = stream.sent(), received = stream.received();
  const double wall = st::elapsed_ms(start) / 1000;
  const auto growth_kib = rss_max - rss0;
  STRESS_FIGURE("giant_stream: " << gib << " GiB each way in " << wall << " s ("
                                 << static_cast<double>(received) / (1024.0 * 1024.0) / wall
                                 << " MiB/s); sent " << sent << " received " << received << "; fnv1a sent "
                                 << std::hex << sum_sent << " received " << sum_received << std::dec
                                 << "; first mismatch "
                                 << (mismatch_at == ~0ULL ? std::string("none") : std::to_string(mismatch_at))
                                 << "; server RSS " << rss0 << " KiB -> max " << rss_max << " KiB (growth "
                                 << growth_kib << " KiB)");
  BOOST_TEST(problem.empty(), problem);
  BOOST_TEST(eof);
  BOOST_TEST(sent == total);
  BOOST_TEST(received == total);
  BOOST_TEST(sum_sent == sum_received);
  BOOST_TEST(mismatch_at == ~0ULL);
  BOOST_TEST(growth_kib < 16U * 1024U);
  stop_server(svc);
}

// 3. Half-close matrix: N in {0, 1, 64 KiB, 16 MiB}, then shutdown(SHUT_WR); 1,000 connections
// in parallel (250 per N; ECHO_STRESS_HALF_CLOSE_PER_N=1000 for 1,000 per N): exactly N bytes
// back, then EOF, never ECONNRESET.
BOOST_AUTO_TEST_CASE(half_close_matrix) {
  echo_svc_process svc({"--threads", "2"});
  const pid_t pid = svc.child->pid();
  const std::size_t baseline_fds = st::open_fds(pid);
  const std::array<std::size_t, 4> sizes{0, 1, 64 * 1024, 16 * 1024 * 1024};
  const auto per_size = static_cast<std::size_t>(st::env_number("ECHO_STRESS_HALF_CLOSE_PER_N", 250));
  const auto start = st::clock::now();
  std::vector<std::future<echo::test::load_result>> runs;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    echo::test::load_options o;
    o.port = svc.port;
    o.connections = per_size;
    o.bytes_per_connection = sizes[i];
    o.seed = 300 + i;
    o.half_close = true;
    o.timeout = std::chrono::seconds(60 + per_size / 4);
    runs.push_back(std::async(std::launch::async, [o] { return echo::test::run_echo_load(o); }));
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    const auto r = runs[i].get();
    STRESS_FIGURE("half_close_matrix N="
                  << sizes[i] << ": " << per_size << " conns, completed " << r.completed << ", resets "
                  << r.resets << ", short " << r.short_echoes << ", extra " << r.extra_bytes
                  << ", mismatches " << r.mismatches << ", connect failures " << r.connect_failures
                  << ", timeouts " << r.timeouts << ", bytes verified " << r.bytes_verified);
    BOOST_TEST(r.completed == per_size);
    BOOST_TEST(r.resets == 0U);
    BOOST_TEST(r.mismatches == 0U);
    BOOST_TEST(r.short_echoes == 0U);
    BOOST_TEST(r.extra_bytes == 0U);
    BOOST_TEST(r.bytes_verified == sizes[i] * per_size);
  }
  const auto back = st::wait_fds_at_most(pid, baseline_fds, 1s);
  STRESS_FIGURE("half_close_matrix: total "
                << st::elapsed_ms(start) / 1000 << " s; fds back to baseline: "
                << (back ? std::to_string(back->count()) + " ms" : std::string("NO")));
  BOOST_TEST(back.has_value());
  stop_server(svc);
}

// 10. 100,000 one-byte writes with TCP_NODELAY, every read one byte (so reads land on every
// boundary): byte-exact. Then an idle connection costs no CPU.
BOOST_AUTO_TEST_CASE(tiny_writes_and_idle_cost) {
  echo_svc_process svc;
  const pid_t pid = svc.child->pid();
  echo::test::unique_fd fd(st::connect_nonblocking("127.0.0.1", svc.port));
  BOOST_REQUIRE(fd);
  pollfd cp{fd.get(), POLLOUT, 0};
  BOOST_REQUIRE(::poll(&cp, 1, 5000) == 1);

  constexpr std::uint64_t total = 100'000;
  constexpr std::uint64_t pingpong_part = 50'000;  // then pipelined with up to 16 bytes in flight
  std::uint64_t mismatches = 0;
  std::string problem;
  // One-byte buffers: every send and every read moves a single byte.
  echo::client::verified_stream stream(echo::client::pattern::connection_seed(10, 0));
  using step = echo::client::verified_stream::step;
  std::array<std::byte, 1> out{}, in{};
  const std::uint64_t cpu0 = st::cpu_ticks(pid);
  const auto start = st::clock::now();
  const auto deadline = start + 90s;
  while (stream.received() < total && problem.empty() && st::clock::now() < deadline) {
    const std::uint64_t window = stream.received() < pingpong_part ? 1 : 16;
    while (stream.sent() < total && stream.outstanding() < window) {
      const step s = stream.send(fd.get(), 1, out);
      if (s.what == step::kind::moved) continue;
      if (s.what == step::kind::failed) problem = std::string("send: ") + std::strerror(s.sys_error);
      break;
    }
    pollfd p{fd.get(), POLLIN, 0};
    if (::poll(&p, 1, 100) != 1) continue;
    const step s = stream.receive(fd.get(), in);
    if (s.what != step::kind::failed) continue;
    if (s.error == echo::client::stream_error::mismatch) {
      ++mismatches;
      problem = "mismatch at offset " + std::to_string(stream.received());
    } else if (s.error == echo::client::stream_error::short_echo) {
      problem = "unexpected EOF";
    } else {
      problem = std::string("recv: ") +
                (s.sys_error != 0 ? std::strerror(s.sys_error) : echo::client::to_string(s.error));
    }
  }
  const std::uint64_t received = stream.received();
  const double wall = st::elapsed_ms(start) / 1000;
  const double busy_cpu = st::ticks_to_seconds(st::cpu_ticks(pid) - cpu0);

  // Idle: this connection plus a fresh one, nothing moving, over a 3 s measurement window.
  echo::test::unique_fd idle(st::connect_nonblocking("127.0.0.1", svc.port));
  BOOST_REQUIRE(idle);
  pollfd ip{idle.get(), POLLOUT, 0};
  BOOST_REQUIRE(::poll(&ip, 1, 5000) == 1);
  const std::uint64_t idle0 = st::cpu_ticks(pid);
  const auto idle_start = st::clock::now();
  pollfd both[2] = {{fd.get(), POLLIN, 0}, {idle.get(), POLLIN, 0}};
  const int woke = ::poll(both, 2, 3000);  // measurement window: nothing may arrive
  const double idle_window = st::elapsed_ms(idle_start) / 1000;
  const std::uint64_t idle_ticks = st::cpu_ticks(pid) - idle0;
  idle.reset();
  fd.reset();

  STRESS_FIGURE("tiny_writes: " << received << " of " << total << " one-byte echoes in " << wall << " s ("
                                << static_cast<double>(received) / wall << " /s), mismatches " << mismatches
                                << ", server CPU " << busy_cpu * 1e6 / static_cast<double>(total)
                                << " us/byte; idle: " << idle_ticks << " CPU ticks ("
                                << st::ticks_to_seconds(idle_ticks) * 1000 << " ms) over " << idle_window
                                << " s with 2 idle connections");
  BOOST_TEST(problem.empty(), problem);
  BOOST_TEST(received == total);
  BOOST_TEST(mismatches == 0U);
  BOOST_TEST(woke == 0);
  // A 250 ms housekeeping tick costs microseconds; 2 ticks (20 ms, 0.7 %) allows for rounding.
  BOOST_TEST(idle_ticks <= 2U);
  stop_server(svc);
}
