// Stress tests: never-reading clients, slowloris, RST storm.
#define BOOST_TEST_MODULE hostile_stress
#include <boost/test/unit_test.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <future>
#include <span>
#include <string>
#include <vector>

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

// 4. 200 never-reading clients (SO_RCVBUF 4 KiB, sending until their own send blocks, and on
// whenever it unblocks) beside 100 normal clients: server RSS <= baseline + clients x buffer
// bound x 1.25, normal p99 within 2x of an unloaded run (one before, one after, so host noise
// cannot fail it alone), each stalled session closed at its write timeout +- 1 s.
BOOST_AUTO_TEST_CASE(never_read_clients_are_bounded_and_time_out) {
  constexpr auto write_timeout = 6s;
  constexpr std::size_t stalled_n = 200, normal_n = 100;
  constexpr std::uint64_t buffer_bound_kib = 64;  // --buffer-size default
  echo_svc_process svc({"--write-timeout", "6s"});
  const pid_t pid = svc.child->pid();
  const std::size_t baseline_fds = st::open_fds(pid);
  const std::uint64_t rss0 = st::rss_kib(pid);

  // Server CPU per round trip beside each p99: on a shared machine latency swings, CPU per
  // message barely does, so it tells server slowdown from host noise.
  const auto cpu_per_rt = [pid](std::uint64_t ticks0, std::size_t round_trips) {
    return st::ticks_to_seconds(st::cpu_ticks(pid) - ticks0) * 1e6 /
           static_cast<double>(std::max<std::size_t>(round_trips, 1));
  };
  // Each stalled session's deadline is set when the server starts its last echo write, right
  // after its last read. That read is observable from outside: the kernel counts what the
  // server has read from each socket. The sampler reads those counters all through the test:
  // a sampler that paused for the loaded window would miss a session that the server read
  // again (and so restarted its write) meanwhile, and put its deadline too early. It runs
  // through all three p99 windows, so its own cost weighs on each alike. Every 50 ms: a
  // bound well inside the +- 1 s window, at a few percent of one core.
  st::read_progress_sampler server_reads(svc.port, 50ms);
  std::uint64_t t0 = st::cpu_ticks(pid);
  auto unloaded = st::run_pingpong("127.0.0.1", svc.port, normal_n, 64, 1000ms, 41);
  const double p99_unloaded = st::percentile(unloaded.rtt_us, 99);
  const double cpu_unloaded = cpu_per_rt(t0, unloaded.rtt_us.size());

  const auto setup_start = st::clock::now();
  st::stall_pump pump("127.0.0.1", svc.port, stalled_n, 256 * 1024);
  const bool all_blocked = pump.wait_blocked(500ms, 30s);
  const double setup_s = st::elapsed_ms(setup_start) / 1000;
  std::size_t blocked = 0;
  std::uint64_t sent_total = 0, sent_min = ~0ULL;
  for (const auto& s : pump.snapshot()) {
    if (!s.blocked) continue;
    ++blocked;
    sent_total += s.sent;
    sent_min = std::min(sent_min, s.sent);
  }
  const std::size_t stalled_fds = st::open_fds(pid);
  std::uint64_t rss_max = st::rss_kib(pid);
  std::string sockstat = st::lines_with(st::read_file("/proc/net/sockstat"), "TCP:", 1);
  if (!sockstat.empty()) sockstat.pop_back();
  // The pump pauses for the window, so the p99 measures the server beside 200 stuck sessions
  // rather than this process's own sending. The server may still finish a write and read
  // again meanwhile (or when the pump resumes); the read sampler sees that.
  pump.pause(true);
  const auto window_start = st::clock::now();
  t0 = st::cpu_ticks(pid);
  auto loaded = st::run_pingpong("127.0.0.1", svc.port, normal_n, 64, 1000ms, 42);
  const double cpu_loaded = cpu_per_rt(t0, loaded.rtt_us.size());
  pump.pause(false);
  const auto window_end = st::clock::now();
  const double p99_loaded = st::percentile(loaded.rtt_us, 99);
  rss_max = std::max(rss_max, st::rss_kib(pid));
  // Each stalled session must close at (the server's last read, where its last write began,
  // + write timeout) +- 1 s. The server closes with unread input, so the pumping client sees
  // the RST at once. The wait ends when all are closed, or 2 s after the latest read the
  // server made was due to time out (so a read after the window moves the deadline on), and
  // at most 30 s after the window.
  bool all_closed = false;
  while (!(all_closed = pump.wait_closed(100ms))) {
    const auto now = st::clock::now();
    if (now > std::max(server_reads.latest_advance(), window_end) + write_timeout + 2s ||
        now > window_end + 30s)
      break;
  }
  const auto reads = server_reads.snapshot();
  double early_ms = 1e9, late_ms = -1e9, client_early_ms = 1e9, client_late_ms = -1e9;
  std::size_t closed_n = 0, out_of_window = 0, unsampled = 0, read_after_setup = 0;
  // The loaded window must end before the first stalled session may time out, which is the
  // server's earliest last read + write timeout (the client's last send can be seconds off).
  auto first_due = st::clock::time_point::max();
  for (const auto& s : pump.snapshot()) {
    if (!s.blocked) continue;
    if (const auto r = reads.peers.find(s.port); r != reads.peers.end())
      first_due = std::min(first_due, r->second.advanced + write_timeout);
    if (!s.closed) continue;
    ++closed_n;
    const double dc =
        std::chrono::duration<double, std::milli>(s.closed_at - s.last_send - write_timeout).count();
    client_early_ms = std::min(client_early_ms, dc);
    client_late_ms = std::max(client_late_ms, dc);
    const auto r = reads.peers.find(s.port);
    if (r == reads.peers.end()) {
      ++unsampled;
      continue;
    }
    if (r->second.advanced > window_start) ++read_after_setup;
    const double d =
        std::chrono::duration<double, std::milli>(s.closed_at - r->second.advanced - write_timeout).count();
    early_ms = std::min(early_ms, d);
    late_ms = std::max(late_ms, d);
    if (d < -1000 || d > 1000) ++out_of_window;
  }
  // Diagnostics for sessions the server still holds: their socket queues (ss), for the report.
  std::string still_open;
  if (!all_closed) {
    const std::string cmd =
        "ss -tnoi state established '( sport = :" + std::to_string(svc.port) + " )' 2>&1 | head -12";
    if (FILE* f = ::popen(cmd.c_str(), "r")) {
      char line[512];
      while (std::fgets(line, sizeof line, f)) still_open += line;
      ::pclose(f);
    }
  }
  const bool loaded_while_stalled = window_end < first_due;
  const double window_overrun_ms = std::chrono::duration<double, std::milli>(window_end - first_due).count();
  const auto back = st::wait_fds_at_most(pid, baseline_fds, 2s);
  pump.stop();
  // A second unloaded run after the stalled sessions are gone brackets the loaded one in time.
  t0 = st::cpu_ticks(pid);
  auto unloaded_after = st::run_pingpong("127.0.0.1", svc.port, normal_n, 64, 1000ms, 43);
  const double p99_unloaded_after = st::percentile(unloaded_after.rtt_us, 99);
  const double cpu_unloaded_after = cpu_per_rt(t0, unloaded_after.rtt_us.size());
  server_reads.stop();
  const std::uint64_t bound_kib = rss0 + (stalled_n + normal_n) * buffer_bound_kib * 5 / 4;

  STRESS_FIGURE(
      "never_read: "
      << blocked << "/" << stalled_n << " clients blocked in " << setup_s << " s (sent "
      << sent_total / (1024 * 1024) << " MiB in all, min " << sent_min / 1024 << " KiB each); server RSS "
      << rss0 << " KiB -> max " << rss_max << " KiB (bound " << bound_kib << " KiB); kernel " << sockstat
      << " pages; normal p99 unloaded before " << p99_unloaded << " us (" << unloaded.rtt_us.size()
      << " round trips, server CPU " << cpu_unloaded << " us each), loaded " << p99_loaded << " us ("
      << loaded.rtt_us.size() << " round trips, " << cpu_loaded << " us CPU each, failures "
      << loaded.failures << ", mismatches " << loaded.mismatches << "), unloaded after " << p99_unloaded_after
      << " us (" << unloaded_after.rtt_us.size() << " round trips, " << cpu_unloaded_after << " us CPU each"
      << "); stalled sessions closed " << closed_n << " (server fds " << stalled_fds << " -> baseline "
      << baseline_fds << "), at the server's last read + write timeout " << early_ms << " .. +" << late_ms
      << " ms (" << read_after_setup << " last read after setup, " << unsampled << " unsampled; "
      << reads.samples << " samples, at most " << reads.max_interval.count()
      << " ms apart; relative to the client's last send " << client_early_ms << " .. +" << client_late_ms
      << " ms); fds back: " << (back ? std::to_string(back->count()) + " ms" : std::string("NO")));
  BOOST_TEST(all_blocked, "some stalled clients were still sending after 30 s");
  BOOST_TEST(blocked == stalled_n);
  BOOST_TEST(stalled_fds == baseline_fds + stalled_n);
  BOOST_TEST(loaded_while_stalled,
             "the loaded measurement ended " << window_overrun_ms << " ms past the first write timeout");
  BOOST_TEST(rss_max <= bound_kib);
  BOOST_TEST(unloaded.failures + unloaded.mismatches == 0U);
  BOOST_TEST(loaded.failures + loaded.mismatches == 0U);
  BOOST_TEST(!loaded.rtt_us.empty());
  BOOST_TEST(unloaded_after.failures + unloaded_after.mismatches == 0U);
  BOOST_TEST(p99_loaded <= 2 * std::max(p99_unloaded, p99_unloaded_after));
  BOOST_TEST(all_closed, "server sockets still open:\n" << still_open);
  BOOST_TEST(closed_n == blocked);
  BOOST_TEST(out_of_window == 0U);
  BOOST_TEST(unsampled == 0U);
  BOOST_TEST(back.has_value());
  stop_server(svc);
}

// 5. Slowloris: 2,000 connections, half silent, half sending one byte a second three times and
// then nothing: each closed at the idle timeout (after its last progress) +- 1 s, never while it
// still trickles; 50 normal full-duplex clients running across the timeout are unaffected.
BOOST_AUTO_TEST_CASE(slowloris) {
  constexpr auto idle_timeout = 3s;
  constexpr std::size_t n = 2000;
  constexpr int trickle_bytes = 3;
  echo_svc_process svc({"--idle-timeout", "3s"});
  const pid_t pid = svc.child->pid();
  const std::size_t baseline_fds = st::open_fds(pid);

  echo::test::load_options normal;
  normal.port = svc.port;
  normal.connections = 50;
  normal.max_write = 16 * 1024;
  normal.max_outstanding = 256 * 1024;
  normal.seed = 55;
  normal.send_for = idle_timeout + 4s;
  normal.timeout = idle_timeout + 4s + 30s;
  auto normal_run = std::async(std::launch::async, [normal] { return echo::test::run_echo_load(normal); });

  struct conn {
    echo::test::unique_fd fd;
    bool trickle = false;
    bool connected = false;
    int sent = 0, echoed = 0;
    st::clock::time_point last_progress{}, closed_at{};
    bool closed = false, early = false, reset = false, bad_byte = false;
  };
  std::vector<conn> conns(n);
  for (std::size_t i = 0; i < n; ++i) {
    conns[i].trickle = i % 2 == 1;
    conns[i].fd = echo::test::unique_fd(st::connect_nonblocking("127.0.0.1", svc.port));
  }
  const auto deadline = st::clock::now() + trickle_bytes * 1s + idle_timeout + 10s;
  std::vector<pollfd> p;
  std::vector<std::size_t> idx;
  std::size_t open = n;
  while (open > 0 && st::clock::now() < deadline) {
    p.clear();
    idx.clear();
    for (std::size_t i = 0; i < n; ++i) {
      auto& c = conns[i];
      if (c.closed || !c.fd) continue;
      p.push_back({c.fd.get(), static_cast<short>(c.connected ? POLLIN : POLLOUT), 0});
      idx.push_back(i);
    }
    ::poll(p.data(), p.size(), 20);
    const auto now = st::clock::now();
    for (std::size_t k = 0; k < p.size(); ++k) {
      auto& c = conns[idx[k]];
      if (!c.connected && p[k].revents != 0) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        c.connected = err == 0;
        c.last_progress = now;
        if (err != 0) {
          c.closed = c.reset = true;
          c.closed_at = now;
          --open;
        }
        continue;
      }
      if (p[k].revents != 0) {
        char b = 0;
        const ssize_t r = ::recv(c.fd.get(), &b, 1, 0);
        if (r == 1) {
          if (b != static_cast<char>('0' + c.echoed)) c.bad_byte = true;
          ++c.echoed;
          c.last_progress = now;
        } else if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) {
          c.closed = true;
          c.reset = r < 0;
          c.closed_at = now;
          c.early = c.trickle && c.sent < trickle_bytes;
          --open;
          continue;
        }
      }
      // One byte a second while trickling; the next only after the previous came back.
      if (c.connected && c.trickle && c.sent < trickle_bytes && c.echoed == c.sent &&
          now - c.last_progress >= 1s) {
        const char b = static_cast<char>('0' + c.sent);
        if (::send(c.fd.get(), &b, 1, MSG_NOSIGNAL) == 1) ++c.sent;
      }
    }
  }
  const auto normal_result = normal_run.get();

  std::size_t closed[2] = {0, 0}, out_of_window[2] = {0, 0}, early = 0, resets = 0, bad = 0,
              short_trickle = 0;
  double lo[2] = {1e9, 1e9}, hi[2] = {-1e9, -1e9};
  for (auto& c : conns) {
    const int g = c.trickle ? 1 : 0;
    if (c.early) ++early;
    if (c.reset) ++resets;
    if (c.bad_byte) ++bad;
    if (c.trickle && c.echoed != trickle_bytes) ++short_trickle;
    if (c.closed) {
      ++closed[g];
      const double d =
          std::chrono::duration<double, std::milli>(c.closed_at - c.last_progress - idle_timeout).count();
      lo[g] = std::min(lo[g], d);
      hi[g] = std::max(hi[g], d);
      if (d < -1000 || d > 1000) ++out_of_window[g];
    }
    c.fd.reset();
  }
  const auto back = st::wait_fds_at_most(pid, baseline_fds, 2s);
  STRESS_FIGURE("slowloris: " << n << " conns; silent closed " << closed[0] << "/" << n / 2
                              << " at idle timeout " << lo[0] << " .. " << hi[0] << " ms; trickle closed "
                              << closed[1] << "/" << n / 2 << " at " << lo[1] << " .. " << hi[1]
                              << " ms after last echo; closed while trickling " << early << ", resets "
                              << resets << ", wrong bytes " << bad << ", trickles short " << short_trickle
                              << "; normal clients: completed " << normal_result.completed << "/"
                              << normal.connections << ", mismatches " << normal_result.mismatches
                              << ", resets " << normal_result.resets << ", "
                              << normal_result.bytes_verified / (1024 * 1024) << " MiB verified; fds back: "
                              << (back ? std::to_string(back->count()) + " ms" : std::string("NO")));
  BOOST_TEST(closed[0] == n / 2);
  BOOST_TEST(closed[1] == n / 2);
  BOOST_TEST(out_of_window[0] == 0U);
  BOOST_TEST(out_of_window[1] == 0U);
  BOOST_TEST(early == 0U);
  BOOST_TEST(resets == 0U);
  BOOST_TEST(bad == 0U);
  BOOST_TEST(short_trickle == 0U);
  BOOST_TEST(normal_result.completed == normal.connections, normal_result.first_problem);
  BOOST_TEST(back.has_value());
  stop_server(svc);
}

// 9. RST storm: 5,000 clients abort mid-stream with SO_LINGER 0, 100 of them while the server's
// echo write is pending; 50 verifying clients run alongside: no crash, fds back to baseline,
// the others byte-exact.
BOOST_AUTO_TEST_CASE(rst_storm) {
  constexpr std::size_t total = 5000, stalled_n = 100, wave = 700;
  echo_svc_process svc({"--threads", "2"});
  const pid_t pid = svc.child->pid();
  const std::size_t baseline_fds = st::open_fds(pid);

  echo::test::load_options normal;
  normal.port = svc.port;
  normal.connections = 50;
  normal.bytes_per_connection = 16 * 1024 * 1024;
  normal.seed = 99;
  normal.timeout = 120s;
  auto normal_run = std::async(std::launch::async, [normal] { return echo::test::run_echo_load(normal); });

  const auto start = st::clock::now();
  std::size_t stalled_blocked = 0;
  bool all_blocked = false;
  {
    st::stall_pump pump("127.0.0.1", svc.port, stalled_n, 256 * 1024);
    all_blocked = pump.wait_blocked(300ms, 30s);
    for (const auto& s : pump.snapshot()) stalled_blocked += s.blocked ? 1U : 0U;
    pump.abort_all();
  }
  std::size_t aborted = stalled_n, mid_stream = 0, connect_failures = 0;
  echo::test::rng rnd(9);
  std::vector<std::byte> buf(256 * 1024);
  while (aborted < total) {
    const std::size_t n = std::min(wave, total - aborted);
    struct conn {
      echo::test::unique_fd fd;
      std::size_t to_send, sent = 0, got = 0;
      bool connected = false;
    };
    std::vector<conn> conns;
    for (std::size_t i = 0; i < n; ++i)
      conns.push_back({echo::test::unique_fd(st::connect_nonblocking("127.0.0.1", svc.port)),
                       rnd.between(1, buf.size())});
    // Each sends its bytes; abort once some echo came back (mid-stream) or at the wave deadline.
    const auto deadline = st::clock::now() + 3s;
    std::vector<pollfd> p;
    std::vector<std::size_t> idx;
    for (;;) {
      p.clear();
      idx.clear();
      for (std::size_t i = 0; i < conns.size(); ++i) {
        auto& c = conns[i];
        if (!c.fd || c.got > 0) continue;
        p.push_back({c.fd.get(), static_cast<short>(POLLIN | (c.sent < c.to_send ? POLLOUT : 0)), 0});
        idx.push_back(i);
      }
      if (p.empty() || st::clock::now() >= deadline) break;
      ::poll(p.data(), p.size(), 20);
      for (std::size_t k = 0; k < p.size(); ++k) {
        auto& c = conns[idx[k]];
        if (p[k].revents & (POLLERR | POLLHUP)) {
          ++connect_failures;
          c.got = 1;  // resolved; aborted below like the rest
          continue;
        }
        if (p[k].revents & POLLIN) {
          const ssize_t r = ::recv(c.fd.get(), buf.data(), 1, 0);
          if (r > 0) c.got = 1;
        }
        if ((p[k].revents & POLLOUT) && c.sent < c.to_send) {
          const ssize_t w = ::send(c.fd.get(), buf.data(), c.to_send - c.sent, MSG_NOSIGNAL);
          if (w > 0) c.sent += static_cast<std::size_t>(w);
        }
      }
    }
    for (auto& c : conns) {
      if (!c.fd) {
        ++connect_failures;
        continue;
      }
      if (c.got > 0) ++mid_stream;
      st::abort_close(std::move(c.fd));
    }
    aborted += n;
  }
  const double storm_s = st::elapsed_ms(start) / 1000;
  const auto normal_result = normal_run.get();
  const bool alive = !svc.child->wait(0ms).has_value();
  const auto back = st::wait_fds_at_most(pid, baseline_fds, 2s);
  std::vector<st::probe_conn> fresh;
  st::open_probes(fresh, 1, "127.0.0.1", svc.port);
  st::run_probes(fresh, 5s);
  const bool fresh_ok = st::count_outcome(fresh, st::outcome::served) == 1;
  st::close_probes(fresh);

  STRESS_FIGURE("rst_storm: " << aborted << " aborts in " << storm_s << " s (" << stalled_blocked << "/"
                              << stalled_n << " with the server's write pending, " << mid_stream
                              << " after their first echo byte, " << connect_failures
                              << " connect failures); server alive " << alive << ", fds " << st::open_fds(pid)
                              << " vs baseline " << baseline_fds << " (back: "
                              << (back ? std::to_string(back->count()) + " ms" : std::string("NO"))
                              << "); normal clients completed " << normal_result.completed << "/"
                              << normal.connections << ", mismatches " << normal_result.mismatches
                              << ", resets " << normal_result.resets << "; fresh client served " << fresh_ok);
  BOOST_TEST(alive);
  BOOST_TEST(all_blocked, "some stalled clients were still sending after 30 s");
  BOOST_TEST(stalled_blocked == stalled_n);
  BOOST_TEST(connect_failures == 0U);
  BOOST_TEST(mid_stream >= total - stalled_n - total / 10);
  BOOST_TEST(normal_result.completed == normal.connections);
  BOOST_TEST(normal_result.mismatches == 0U);
  BOOST_TEST(back.has_value());
  BOOST_TEST(fresh_ok);
  stop_server(svc);
}
