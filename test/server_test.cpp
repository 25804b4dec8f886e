#define BOOST_TEST_MODULE server
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "detail/buffer_pool.hpp"
#include "echo/config_error.hpp"
#include "echo/server.hpp"
#include "echo/stats.hpp"
#include "echo_client.hpp"
#include "echo_load.hpp"
#include "server_fixture.hpp"
#include "skip.hpp"
#include "test_plans.hpp"
#include "unique_fd.hpp"

using namespace std::chrono_literals;
using echo::test::echo_client;
using echo::test::load_options;
using echo::test::run_echo_load;
using echo::test::server_fixture;
using echo::test::sessions_drop_to;

namespace {

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;

void require_clean(const echo::test::load_result& r, std::size_t expected) {
  BOOST_TEST_MESSAGE("completed=" << r.completed << " mismatches=" << r.mismatches << " resets=" << r.resets
                                  << " short=" << r.short_echoes << " extra=" << r.extra_bytes
                                  << " connect_failures=" << r.connect_failures << " timeouts=" << r.timeouts
                                  << " bytes=" << r.bytes_verified);
  BOOST_TEST(r.mismatches == 0U);
  BOOST_TEST(r.resets == 0U);
  BOOST_TEST(r.short_echoes == 0U);
  BOOST_TEST(r.extra_bytes == 0U);
  BOOST_TEST(r.connect_failures == 0U);
  BOOST_TEST(r.timeouts == 0U);
  BOOST_TEST(r.completed == expected);
}

}  // namespace

BOOST_AUTO_TEST_CASE(single_round_trip) {
  server_fixture f;
  echo_client c("127.0.0.1", f.port());
  c.send_all("hello, echo\n");
  BOOST_TEST(c.recv_exact(12) == "hello, echo\n");
  c.shutdown_write();
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
  const auto& s = f.server().counters();
  BOOST_TEST(echo::stats::get(s.accepted) == 1U);
  BOOST_TEST(f.server().bytes().received == 12U);
  BOOST_TEST(f.server().bytes().sent == 12U);
  BOOST_TEST(echo::stats::get(s.session_errors) == 0U);
}

namespace {

// Empty if [::1] can be bound here. Only "this machine has no IPv6" skips (no address
// family, no ::1 address); any other error lets the case run and fail on it.
std::string no_ipv6_loopback() {
  const echo::test::unique_fd fd(::socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) {
    if (errno == EAFNOSUPPORT) return "no IPv6 here (socket: EAFNOSUPPORT)";
    return {};
  }
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno == EADDRNOTAVAIL)
    return "no IPv6 loopback address here (bind [::1]: EADDRNOTAVAIL)";
  return {};
}

}  // namespace

BOOST_AUTO_TEST_CASE(ipv6_loopback_round_trip, *echo::test::skip_if(no_ipv6_loopback)) {
  auto cfg = server_fixture::default_config();
  cfg.listeners.front().address = boost::asio::ip::make_address("::1");
  server_fixture f(1, cfg);
  echo_client c("::1", f.port());
  c.send_all("v6");
  BOOST_TEST(c.recv_exact(2) == "v6");
}

BOOST_AUTO_TEST_CASE(dual_stack_default_serves_ipv4) {
  echo::config cfg;  // bind unset: the default [::] dual-stack (or 0.0.0.0 without IPv6)
  cfg.listeners.front().port = 0;
  cfg.level = echo::log_level::warn;
  server_fixture f(1, cfg);
  echo_client c("127.0.0.1", f.port());
  c.send_all("v4 via default");
  BOOST_TEST(c.recv_exact(14) == "v4 via default");
}

BOOST_AUTO_TEST_CASE(stream_64_mib_random_writes) {
  server_fixture f;
  load_options o;
  o.port = f.port();
  o.bytes_per_connection = 64 * MiB;
  o.max_write = 64 * KiB;
  o.seed = 64;
  o.timeout = 120s;
  const auto r = run_echo_load(o);
  require_clean(r, 1);
  BOOST_TEST(r.bytes_verified == 64 * MiB);
}

BOOST_AUTO_TEST_CASE(half_close_returns_everything_then_fin) {
  server_fixture f;
  for (const std::size_t pending : {std::size_t{0}, std::size_t{1}, 64 * KiB, 16 * MiB}) {
    BOOST_TEST_CONTEXT("pending=" << pending) {
      load_options o;
      o.port = f.port();
      o.bytes_per_connection = pending;
      o.half_close = true;  // completed only if exactly `pending` bytes then EOF (an RST counts as reset)
      o.seed = pending + 1;
      o.timeout = 60s;
      require_clean(run_echo_load(o), 1);
    }
  }
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
}

BOOST_AUTO_TEST_CASE(half_close_after_blocking_writes) {
  // The peer sends everything before reading anything: the server's write stalls on a full
  // peer buffer, and the FIN must still come after the last echoed byte.
  server_fixture f;
  echo_client c("127.0.0.1", f.port());
  const std::string payload(256 * KiB, 'x');
  c.send_all(payload);
  c.shutdown_write();
  BOOST_TEST(c.recv_exact(payload.size(), 10s) == payload);
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
}

BOOST_AUTO_TEST_CASE(concurrent_500_clients_one_thread) {
  server_fixture f(1);
  load_options o;
  o.port = f.port();
  o.connections = 500;
  o.bytes_per_connection = 64 * KiB;
  o.max_write = 8 * KiB;
  o.seed = 500;
  o.timeout = 120s;
  require_clean(run_echo_load(o), 500);
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
  BOOST_TEST(echo::stats::get(f.server().counters().accepted) == 500U);
}

BOOST_AUTO_TEST_CASE(concurrent_500_clients_four_threads) {
  server_fixture f(4);
  load_options o;
  o.port = f.port();
  o.connections = 500;
  o.bytes_per_connection = 64 * KiB;
  o.max_write = 8 * KiB;
  o.seed = 504;
  o.timeout = 120s;
  require_clean(run_echo_load(o), 500);
  BOOST_TEST(sessions_drop_to(f, 0, 5s));
  BOOST_TEST(echo::stats::get(f.server().counters().session_errors) == 0U);
}

BOOST_AUTO_TEST_CASE(shutdown_sends_fin_to_idle_clients) {
  for (const unsigned threads : {1U, 4U}) {
    server_fixture f(threads);
    std::vector<echo_client> clients;
    for (int i = 0; i < 20; ++i) {
      clients.emplace_back("127.0.0.1", f.port());
      clients.back().send_all("ping");
      BOOST_TEST(clients.back().recv_exact(4) == "ping");
    }
    const auto start = std::chrono::steady_clock::now();
    // The clients close as soon as they see the FIN, so the server need not wait out the grace.
    // (Boost.Test assertions are not thread-safe: the helper thread only counts.)
    auto clean_ends = std::async(std::launch::async, [&] {
      std::size_t eofs = 0;
      for (auto& c : clients) {
        if (c.wait_end(5s) == echo_client::end::eof) ++eofs;
        c.close();
      }
      return eofs;
    });
    BOOST_TEST(f.stop(10s, 10s));
    BOOST_TEST(clean_ends.get() == clients.size());
    BOOST_TEST((std::chrono::steady_clock::now() - start < 5s));
    BOOST_TEST(echo::stats::get(f.server().counters().forced_closes) == 0U);
    // New connections are refused once the server stopped listening.
    BOOST_CHECK_THROW(echo_client("127.0.0.1", f.port(), 1s), std::runtime_error);
  }
}

BOOST_AUTO_TEST_CASE(shutdown_forces_unresponsive_clients_at_deadline) {
  for (const unsigned threads : {1U, 4U}) {
    server_fixture f(threads);
    echo_client stubborn("127.0.0.1", f.port());
    stubborn.send_all("x");
    BOOST_TEST(stubborn.recv_exact(1) == "x");
    const auto start = std::chrono::steady_clock::now();
    // This client never closes: the server must give up at the 300 ms grace.
    BOOST_TEST(f.stop(300ms, 10s));
    const auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST((took >= 250ms));
    BOOST_TEST((took < 5s));
    BOOST_TEST(echo::stats::get(f.server().counters().forced_closes) == 1U);
    BOOST_TEST((stubborn.wait_end(1s) != echo_client::end::timeout));
  }
}

BOOST_AUTO_TEST_CASE(drain_echoes_bytes_in_flight_before_fin) {
  // A client that is mid-stream when shutdown starts still gets back every byte the server
  // read, then FIN; bytes it sent after our FIN are discarded without an RST.
  server_fixture f;
  echo_client c("127.0.0.1", f.port());
  const std::string part(100 * KiB, 'a');
  c.send_all(part);
  std::string got;
  BOOST_TEST(c.try_recv_exact(part.size(), 10s, got));
  BOOST_TEST(got == part);
  auto stopped = std::async(std::launch::async, [&] { return f.stop(5s, 10s); });
  BOOST_TEST((c.wait_end(5s) == echo_client::end::eof));
  c.send_all("late bytes");  // after our FIN: read and discarded by the lingering server
  c.shutdown_write();
  BOOST_TEST(stopped.get());
  BOOST_TEST(echo::stats::get(f.server().counters().forced_closes) == 0U);
}

BOOST_AUTO_TEST_CASE(start_stop_many_times) {
  for (int i = 0; i < 50; ++i) {
    server_fixture f(i % 2 == 0 ? 1 : 2);
    echo_client c("127.0.0.1", f.port());
    c.send_all("again");
    BOOST_TEST(c.recv_exact(5) == "again");
    BOOST_TEST(f.stop(100ms, 10s));
  }
}

BOOST_AUTO_TEST_CASE(idle_timeout_closes_quiet_sessions_only) {
  auto cfg = server_fixture::default_config();
  cfg.idle_timeout = 700ms;
  server_fixture f(1, cfg);
  echo_client quiet("127.0.0.1", f.port());
  echo_client chatty("127.0.0.1", f.port());
  quiet.send_all("q");
  BOOST_TEST(quiet.recv_exact(1) == "q");
  const auto start = std::chrono::steady_clock::now();
  // The chatty client makes progress every 200 ms and must outlive the quiet one.
  std::size_t rounds = 0;
  while (std::chrono::steady_clock::now() - start < 1500ms) {
    chatty.send_all("c");
    BOOST_TEST(chatty.recv_exact(1) == "c");
    ++rounds;
    // Paces the rounds 200 ms apart, and checks that no stray byte follows the echo.
    std::string none;
    BOOST_TEST(!chatty.try_recv_exact(1, 200ms, none), "unexpected bytes after the echo: " << none);
  }
  BOOST_TEST((quiet.wait_end(2s) == echo_client::end::eof));
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST_MESSAGE("quiet session closed after ~"
                     << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                     << " ms (limit 700 ms); chatty rounds " << rounds);
  chatty.send_all("still here");
  BOOST_TEST(chatty.recv_exact(10) == "still here");
  BOOST_TEST(echo::stats::get(f.server().counters().idle_timeouts) == 1U);
}

BOOST_AUTO_TEST_CASE(idle_timeout_fires_on_time) {
  auto cfg = server_fixture::default_config();
  cfg.idle_timeout = 1s;
  server_fixture f(2, cfg);
  echo_client c("127.0.0.1", f.port());
  const auto start = std::chrono::steady_clock::now();
  BOOST_TEST((c.wait_end(5s) == echo_client::end::eof));
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST_MESSAGE("closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                     << " ms");
  BOOST_TEST((took >= 1s));
  BOOST_TEST((took < 1s + 600ms));
}

BOOST_AUTO_TEST_CASE(max_connections_accepts_and_closes_the_excess) {
  auto cfg = server_fixture::default_config();
  cfg.max_connections = 3;
  server_fixture f(1, cfg);
  std::vector<echo_client> admitted;
  for (int i = 0; i < 3; ++i) {
    admitted.emplace_back("127.0.0.1", f.port());
    admitted.back().send_all("a");
    BOOST_TEST(admitted.back().recv_exact(1) == "a");
  }
  for (int i = 0; i < 2; ++i) {
    echo_client extra("127.0.0.1", f.port());
    BOOST_TEST((extra.wait_end(2s) == echo_client::end::eof));  // closed at once, no data
  }
  BOOST_TEST(echo::stats::get(f.server().counters().rejected) == 2U);
  for (auto& c : admitted) {  // existing sessions untouched
    c.send_all("b");
    BOOST_TEST(c.recv_exact(1) == "b");
  }
  admitted.pop_back();  // a slot frees: the next client is served
  BOOST_TEST(sessions_drop_to(f, 2, 5s));
  echo_client next("127.0.0.1", f.port());
  next.send_all("n");
  BOOST_TEST(next.recv_exact(1) == "n");
}

// A read that drains the socket tells the reactor not to retry (pooled_read_op), so an end
// that reaches the server in the same readiness event as the last bytes must be caught
// otherwise: a FIN through TCP_INQ, an RST through the echo failing. The idle timeout is
// 5 min here, so a missed end would leave its session behind.
BOOST_AUTO_TEST_CASE(ends_arriving_with_the_last_bytes_are_seen) {
  for (const unsigned threads : {1U, 2U}) {
    server_fixture f(threads);
    constexpr std::size_t n = 300;
    std::vector<echo_client> finished;
    for (std::size_t i = 0; i < n; ++i) {
      finished.emplace_back("127.0.0.1", f.port());
      finished.back().send_all("last words");
      finished.back().shutdown_write();
      echo_client aborted("127.0.0.1", f.port());
      aborted.send_all(std::string(1 + i, 'r'));
      const linger reset_on_close{1, 0};
      BOOST_REQUIRE(
          ::setsockopt(aborted.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close) == 0);
      aborted.close();
    }
    for (auto& c : finished) {
      BOOST_TEST(c.recv_exact(10) == "last words");
      BOOST_TEST((c.wait_end() == echo_client::end::eof));
    }
    BOOST_TEST(sessions_drop_to(f, 0, 5s));
    BOOST_TEST(echo::stats::get(f.server().counters().accepted) == 2 * n);
    BOOST_TEST(echo::stats::get(f.server().counters().idle_timeouts) == 0U);
    BOOST_TEST(echo::stats::get(f.server().counters().session_errors) == 0U);
  }
}

BOOST_AUTO_TEST_CASE(idle_sessions_hold_no_buffer) {
  for (const unsigned threads : {1U, 2U}) {
    server_fixture f(threads);
    const auto before = echo::detail::buffer_pool::allocated();
    // 300 sessions that each echoed 64 KiB (a full buffer) and then wait for their peer.
    std::vector<echo_client> clients;
    const std::string chunk(64 * KiB, 'x');
    for (int i = 0; i < 300; ++i) {
      clients.emplace_back("127.0.0.1", f.port());
      clients.back().send_all(chunk);
      BOOST_TEST(clients.back().recv_exact(chunk.size()) == chunk);
    }
    // Reading goes through the threads' pools, not one buffer per session. One thread reuses
    // one hot buffer; with two, a buffer taken on one thread is sometimes given back on the
    // other, so each thread's cache can fill up (at most cache_limit each).
    const auto held = echo::detail::buffer_pool::allocated() - before;
    BOOST_TEST_MESSAGE(threads << " thread(s): " << held << " buffers for 300 idle sessions");
    BOOST_TEST(held <= (threads == 1 ? 2U : threads * echo::detail::buffer_pool::cache_limit));
    load_options o;  // and they all still echo, next to a verified stream
    o.port = f.port();
    o.bytes_per_connection = 4 * MiB;
    o.seed = 77;
    require_clean(run_echo_load(o), 1);
    for (auto& c : clients) {
      c.send_all("after");
      BOOST_TEST(c.recv_exact(5) == "after");
    }
  }
}

// A config built in code gets the validator's typed error, not an internal error.
BOOST_AUTO_TEST_CASE(bad_config_in_code_is_a_config_error) {
  boost::asio::io_context io;
  auto cfg = server_fixture::default_config();
  cfg.buffer_size = 100;
  BOOST_CHECK_THROW(echo::server(io, cfg, false), echo::config_error);
  cfg = server_fixture::default_config();
  cfg.listeners.clear();
  BOOST_CHECK_THROW(echo::server(io, cfg, false), echo::config_error);
}

// The step-plan seam over real sockets: every echo split into 1-byte writes is still
// byte-exact.
BOOST_AUTO_TEST_CASE(step_plan_splits_every_echo_into_single_bytes) {
  for (const unsigned threads : {1U, 2U}) {
    server_fixture f(threads, server_fixture::default_config(),
                     [](std::uint64_t) { return std::make_unique<echo::test::split_plan>(1); });
    std::string message(8 * KiB, '\0');
    for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>(i * 7 + (i >> 9));
    echo_client c("127.0.0.1", f.port());
    c.send_all(message);
    BOOST_TEST(c.recv_exact(message.size()) == message);
    c.shutdown_write();
    BOOST_TEST((c.wait_end() == echo_client::end::eof));
    BOOST_TEST(sessions_drop_to(f, 0, 5s));
    BOOST_TEST(f.server().bytes().sent == message.size());
  }
}

// The step-plan seam over real sockets: exactly N bytes echoed, then our FIN (the client
// reads EOF) or an RST (the client reads ECONNRESET).
BOOST_AUTO_TEST_CASE(step_plan_ends_the_connection_after_n_bytes) {
  for (const bool reset : {false, true}) {
    constexpr std::size_t n = 1000;
    server_fixture f(1, server_fixture::default_config(),
                     [=](std::uint64_t) { return std::make_unique<echo::test::end_after_plan>(n, reset); });
    std::string message(3 * n, '\0');
    for (std::size_t i = 0; i < message.size(); ++i) message[i] = static_cast<char>(i * 13 + 1);
    echo_client c("127.0.0.1", f.port());
    c.send_all(message);
    BOOST_TEST(c.recv_exact(n) == message.substr(0, n), "reset=" << reset);
    BOOST_TEST((c.wait_end() == (reset ? echo_client::end::reset : echo_client::end::eof)),
               "reset=" << reset);
    c.close();
    BOOST_TEST(sessions_drop_to(f, 0, 5s));
    BOOST_TEST(f.server().bytes().sent == n);
  }
}

// Two listeners accepting on two threads share one connection cap: the check and the slot
// are one atomic step, so the cap is never exceeded and every connection is either admitted
// (and echoes) or rejected.
BOOST_AUTO_TEST_CASE(two_listeners_share_the_connection_cap) {
  constexpr std::size_t cap = 40;
  constexpr int per_listener = 100;
  auto cfg = server_fixture::default_config();
  cfg.listeners.push_back(cfg.listeners.front());
  cfg.max_connections = cap;
  server_fixture f(2, cfg);
  const auto& listeners = f.server().listeners();
  BOOST_REQUIRE(listeners.size() == 2U);
  BOOST_TEST(listeners[0]->port() != listeners[1]->port());
  const auto lines = f.server().ready_lines();
  BOOST_REQUIRE(lines.size() == 2U);
  for (std::size_t i = 0; i < 2; ++i)
    BOOST_TEST(lines[i] == "listening on 127.0.0.1:" + std::to_string(listeners[i]->port()));

  std::atomic<std::size_t> max_seen{0};
  std::atomic<bool> sampling{true};
  std::thread sampler([&] {
    while (sampling) {
      const auto n = f.server().session_count();
      auto seen = max_seen.load();
      while (n > seen && !max_seen.compare_exchange_weak(seen, n)) {
      }
      std::this_thread::yield();
    }
  });
  const auto connect_all = [&](std::uint16_t port) {
    std::vector<echo_client> v;
    for (int i = 0; i < per_listener; ++i) v.emplace_back("127.0.0.1", port);
    return v;
  };
  auto a = std::async(std::launch::async, connect_all, listeners[0]->port());
  auto b = std::async(std::launch::async, connect_all, listeners[1]->port());
  auto clients = a.get();
  for (auto& c : b.get()) clients.push_back(std::move(c));
  std::size_t echoed = 0;
  for (auto& c : clients) {
    try {
      c.send_all("x");
      std::string got;
      if (c.try_recv_exact(1, 2s, got) && got == "x") ++echoed;
    } catch (const std::exception&) {
      // rejected: accepted and closed at once (EOF or RST)
    }
  }
  sampling = false;
  sampler.join();
  const auto& s = f.server().counters();
  BOOST_TEST_MESSAGE("admitted " << echoed << ", rejected " << echo::stats::get(s.rejected)
                                 << ", most at once " << max_seen.load());
  BOOST_TEST(echoed == cap);
  BOOST_TEST(echo::stats::get(s.accepted) == cap);
  BOOST_TEST(echo::stats::get(s.rejected) == 2 * per_listener - cap);
  BOOST_TEST(max_seen.load() <= cap);
}

namespace {

// A client with a 4 KiB receive buffer (set before connect, so the window stays small) that
// sends `bytes` and then never reads: the server's writes complete into its own send queue
// and the echo sits there.
echo::test::unique_fd connect_non_reader(std::uint16_t port, std::size_t bytes) {
  echo::test::unique_fd fd(::socket(AF_INET, SOCK_STREAM, 0));
  BOOST_REQUIRE(fd.get() >= 0);
  const int rcvbuf = 4096;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(fd.get(), reinterpret_cast<const sockaddr*>(&to), sizeof to) == 0);
  const std::string chunk(64 * KiB, 'w');
  for (std::size_t sent = 0; sent < bytes;) {
    const auto n = ::send(fd.get(), chunk.data(), std::min(chunk.size(), bytes - sent), MSG_NOSIGNAL);
    BOOST_REQUIRE(n > 0);
    sent += static_cast<std::size_t>(n);
  }
  return fd;
}

}  // namespace

// The kernel took the whole echo, so no write of ours is pending: only the unsent queue
// shows the peer stopped reading, and the write timeout (not the far longer idle timeout)
// must close it.
BOOST_AUTO_TEST_CASE(write_timeout_sees_an_echo_stuck_in_the_send_queue) {
  auto cfg = server_fixture::default_config();
  cfg.write_timeout = 1s;
  cfg.idle_timeout = 60s;
  server_fixture f(1, cfg);
  const auto start = std::chrono::steady_clock::now();
  const auto fd = connect_non_reader(f.port(), 1 * MiB);
  const auto& c = f.server().counters();
  // Every byte must have been read (and so echoed into the queue) for the case to be the
  // one under test.
  const auto deadline = start + 5s;
  while (echo::stats::get(c.write_timeouts) == 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(10ms);
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST_MESSAGE("closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                     << " ms (write timeout 1 s, idle timeout 60 s)");
  BOOST_TEST(f.server().bytes().received == 1 * MiB);
  BOOST_TEST(echo::stats::get(c.write_timeouts) == 1U);
  BOOST_TEST(echo::stats::get(c.idle_timeouts) == 0U);
  BOOST_TEST((took < 2500ms));
  BOOST_TEST(sessions_drop_to(f, 0, 2s));
}

// A peer that took every byte of the echo is idle, not stuck: the write timeout must not
// close it, the idle timeout must.
BOOST_AUTO_TEST_CASE(write_timeout_spares_a_peer_that_read_the_echo) {
  auto cfg = server_fixture::default_config();
  cfg.write_timeout = 500ms;
  cfg.idle_timeout = 2s;
  server_fixture f(1, cfg);
  echo_client c("127.0.0.1", f.port());
  const std::string payload(256 * KiB, 'r');
  c.send_all(payload);
  BOOST_TEST(c.recv_exact(payload.size()) == payload);
  const auto start = std::chrono::steady_clock::now();
  BOOST_TEST((c.wait_end(5s) == echo_client::end::eof));
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST_MESSAGE("closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                     << " ms (write timeout 500 ms, idle timeout 2 s)");
  BOOST_TEST((took >= 1500ms));
  BOOST_TEST(echo::stats::get(f.server().counters().write_timeouts) == 0U);
  BOOST_TEST(echo::stats::get(f.server().counters().idle_timeouts) == 1U);
}
