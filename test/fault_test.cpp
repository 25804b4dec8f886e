#define BOOST_TEST_MODULE fault
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <numeric>
#include <string>
#include <thread>
#include <vector>

#include "echo/config_error.hpp"
#include "echo/fault_spec.hpp"
#include "echo/server.hpp"
#include "echo_client.hpp"
#include "server_fixture.hpp"
#include "socket_util.hpp"

using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;
using echo::test::echo_client;
using echo::test::server_fixture;

namespace {

echo::config with_faults(const std::vector<std::string>& specs, bool allow_corruption = false) {
  auto cfg = server_fixture::default_config();
  for (const auto& s : specs) cfg.faults.push_back(echo::parse_fault_spec(s));
  cfg.allow_corruption = allow_corruption;
  cfg.seed = 1;
  return cfg;
}

char pattern_byte(std::size_t i, unsigned salt) { return static_cast<char>(i * 31 + (i >> 8) + salt); }

std::string pattern(std::size_t n, unsigned salt = 0) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = pattern_byte(i, salt);
  return s;
}

double ms_since(clock_type::time_point t) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t).count();
}

std::uint64_t fired(server_fixture& f, std::string_view fault) {
  std::uint64_t n = 0;
  for (const auto& c : f.server().faults_fired())
    if (c.fault == fault) n += c.count;
  return n;
}

// Reads until `n` bytes came or `timeout` passed; records every read's size.
std::string read_recording(int fd, std::size_t n, std::chrono::milliseconds timeout,
                           std::vector<std::size_t>& sizes) {
  std::string out;
  const auto deadline = clock_type::now() + timeout;
  char buf[65536];
  while (out.size() < n) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, echo::test::poll_timeout_ms(deadline, 1000)) <= 0) {
      if (clock_type::now() >= deadline) break;
      continue;
    }
    const auto r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (r <= 0) break;
    sizes.push_back(static_cast<std::size_t>(r));
    out.append(buf, static_cast<std::size_t>(r));
  }
  return out;
}

// How a connection attempt ends, seen from the client: "refused", "timeout" (connect),
// "reset" (during or right after the handshake), "eof", "data" (the echo of one byte, or
// anything the server sent first), "silent" (connected, nothing came in `wait`).
std::string attempt(std::uint16_t port, std::chrono::milliseconds connect_timeout,
                    std::chrono::milliseconds wait) {
  const int fd = echo::test::connect_nonblocking("127.0.0.1", port);
  if (fd < 0) return -fd == ECONNREFUSED ? "refused" : "error";
  struct closer {
    int fd;
    ~closer() { ::close(fd); }
  } guard{fd};
  pollfd p{fd, POLLOUT, 0};
  if (::poll(&p, 1, static_cast<int>(connect_timeout.count())) == 0) return "timeout";
  int err = 0;
  socklen_t len = sizeof err;
  ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len);
  if (err == ECONNREFUSED) return "refused";
  if (err == ECONNRESET) return "reset";
  if (err != 0) return "error";
  (void)::send(fd, "x", 1, MSG_NOSIGNAL);
  pollfd r{fd, POLLIN, 0};
  if (::poll(&r, 1, static_cast<int>(wait.count())) == 0) return "silent";
  char c;
  const auto n = ::recv(fd, &c, 1, MSG_DONTWAIT);
  if (n == 1) return "data";
  if (n == 0) return "eof";
  return errno == ECONNRESET ? "reset" : "error";
}

// Retries `attempt` until it gives `wanted` (a listener fault takes hold on the server's
// thread, a moment after it is set); returns the last outcome.
std::string attempt_until(const std::string& wanted, std::uint16_t port,
                          std::chrono::milliseconds connect_timeout) {
  std::string last;
  for (const auto until = clock_type::now() + 5s; last != wanted && clock_type::now() < until;)
    last = attempt(port, connect_timeout, 2s);
  return last;
}

// Streams `total` bytes of a salted pattern through the connected-or-connecting non-blocking
// `fd` while reading the echo back, full duplex, so the session always has bytes waiting and
// never pauses between reads; true when every byte came back once and in order. `echoed`
// counts the bytes checked, for the caller to see progress.
bool stream_full_duplex(int fd, std::size_t total, unsigned salt, std::atomic<std::size_t>& echoed,
                        std::chrono::seconds timeout) {
  std::vector<char> out(16 * 1024);
  std::vector<char> in(64 * 1024);
  std::size_t sent = 0;
  std::size_t received = 0;
  const auto deadline = clock_type::now() + timeout;
  while (received < total) {
    if (clock_type::now() >= deadline) return false;
    pollfd p{fd, static_cast<short>(POLLIN | (sent < total ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, echo::test::poll_timeout_ms(deadline, 1000)) <= 0) continue;
    if ((p.revents & (POLLIN | POLLOUT)) == 0) return false;  // POLLERR/POLLHUP alone
    if (sent < total && (p.revents & POLLOUT) != 0) {
      const std::size_t n = std::min(out.size(), total - sent);
      for (std::size_t i = 0; i < n; ++i) out[i] = pattern_byte(sent + i, salt);
      const auto w = ::send(fd, out.data(), n, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (w > 0) sent += static_cast<std::size_t>(w);
      else if (w < 0 && errno != EAGAIN) return false;
    }
    if ((p.revents & POLLIN) != 0) {
      const auto r = ::recv(fd, in.data(), in.size(), MSG_DONTWAIT);
      if (r == 0 || (r < 0 && errno != EAGAIN)) return false;
      for (std::size_t i = 0; r > 0 && i < static_cast<std::size_t>(r); ++i)
        if (in[i] != pattern_byte(received + i, salt)) return false;
      if (r > 0) {
        received += static_cast<std::size_t>(r);
        echoed += static_cast<std::size_t>(r);
      }
    }
  }
  return true;
}

}  // namespace

// latency:delay=50ms holds each echo back by the delay: the mean round trip over 100 is
// within 10 % of it.
BOOST_AUTO_TEST_CASE(latency_holds_each_echo_back_within_ten_percent) {
  server_fixture f(1, with_faults({"latency:delay=50ms"}));
  echo_client c("127.0.0.1", f.port());
  std::vector<double> rtt;
  const auto msg = pattern(32);
  for (int i = 0; i < 100; ++i) {
    const auto t0 = clock_type::now();
    c.send_all(msg);
    BOOST_TEST_REQUIRE(c.recv_exact(msg.size(), 2s) == msg);
    rtt.push_back(ms_since(t0));
  }
  std::sort(rtt.begin(), rtt.end());
  const double mean = std::accumulate(rtt.begin(), rtt.end(), 0.0) / static_cast<double>(rtt.size());
  BOOST_TEST_MESSAGE("latency 50ms: mean " << mean << " ms, p50 " << rtt[50] << " ms, p99 " << rtt[98]
                                           << " ms");
  BOOST_TEST(mean >= 45.0);
  BOOST_TEST(mean <= 55.0);
  BOOST_TEST(rtt.front() >= 49.0);  // never early
}

// bandwidth:rate=256KiB paces a connection's echo: 512 KiB take 2 s, within 10 %.
BOOST_AUTO_TEST_CASE(bandwidth_paces_the_echo_within_ten_percent) {
  server_fixture f(1, with_faults({"bandwidth:rate=256KiB"}));
  echo_client c("127.0.0.1", f.port());
  const auto msg = pattern(512 * 1024);
  const auto t0 = clock_type::now();
  c.send_all(msg);
  BOOST_TEST_REQUIRE(c.recv_exact(msg.size(), 10s) == msg);
  const double rate = static_cast<double>(msg.size()) / (ms_since(t0) / 1000.0);
  BOOST_TEST_MESSAGE("bandwidth 256KiB/s: measured " << rate / 1024 << " KiB/s");
  BOOST_TEST(rate >= 0.9 * 256 * 1024);
  BOOST_TEST(rate <= 1.1 * 256 * 1024);
}

// slice:size=1-64,delay=2ms: a reader that records its read sizes sees pieces of at most 64
// bytes, in order and byte-exact (a read may join two pieces when the reader falls behind).
BOOST_AUTO_TEST_CASE(slice_splits_each_echo_into_the_sizes_asked) {
  server_fixture f(1, with_faults({"slice:size=1-64,delay=2ms"}));
  echo_client c("127.0.0.1", f.port());
  const auto msg = pattern(4096, 3);
  c.send_all(msg);
  std::vector<std::size_t> sizes;
  BOOST_TEST_REQUIRE(read_recording(c.fd(), msg.size(), 10s, sizes) == msg);
  const auto small = std::count_if(sizes.begin(), sizes.end(), [](std::size_t n) { return n <= 64; });
  BOOST_TEST_MESSAGE("slice 1-64: " << sizes.size() << " reads, " << small << " of at most 64 bytes, largest "
                                    << *std::max_element(sizes.begin(), sizes.end()));
  BOOST_TEST(sizes.size() >= msg.size() / 64);
  BOOST_TEST(static_cast<double>(small) >= 0.8 * static_cast<double>(sizes.size()));
  BOOST_TEST(*std::min_element(sizes.begin(), sizes.end()) < 64U);  // the sizes vary
}

// close-after:bytes=N ends with a FIN after exactly N bytes (the client reads EOF);
// reset-after:bytes=N with an RST after exactly N (the client reads ECONNRESET).
BOOST_AUTO_TEST_CASE(close_after_and_reset_after_are_exact_to_the_byte) {
  for (const bool reset : {false, true}) {
    server_fixture f(1, with_faults({reset ? "reset-after:bytes=1000" : "close-after:bytes=1000"}));
    echo_client c("127.0.0.1", f.port());
    const auto msg = pattern(3000, 5);
    c.send_all(msg);
    BOOST_TEST(c.recv_exact(1000) == msg.substr(0, 1000), "reset=" << reset);
    BOOST_TEST((c.wait_end(5s) == (reset ? echo_client::end::reset : echo_client::end::eof)),
               "reset=" << reset);
    BOOST_TEST(f.server().bytes().sent == 1000U);
  }
}

// close-after:time=T and reset-after:time=T end a connection whose client is waiting for
// a read, at T.
BOOST_AUTO_TEST_CASE(close_after_time_ends_a_waiting_connection_on_time) {
  for (const bool reset : {false, true}) {
    server_fixture f(1, with_faults({reset ? "reset-after:time=300ms" : "close-after:time=300ms"}));
    const auto t0 = clock_type::now();
    echo_client c("127.0.0.1", f.port());
    c.send_all("ping");
    BOOST_TEST(c.recv_exact(4) == "ping");
    BOOST_TEST((c.wait_end(5s) == (reset ? echo_client::end::reset : echo_client::end::eof)),
               "reset=" << reset);
    const auto took = ms_since(t0);
    BOOST_TEST_MESSAGE("time=300ms: ended after " << took << " ms");
    BOOST_TEST(took >= 290.0);
    BOOST_TEST(took <= 1500.0);
  }
}

// stall:after-bytes=N echoes N bytes then neither reads nor writes: the client's read times
// out while the connection stays open. blackhole reads and never answers: the same timeout,
// while the client's writes keep going through.
BOOST_AUTO_TEST_CASE(stall_and_blackhole_make_the_client_time_out) {
  {
    server_fixture f(1, with_faults({"stall:after-bytes=100"}));
    echo_client c("127.0.0.1", f.port());
    const auto msg = pattern(1000, 7);
    c.send_all(msg);
    BOOST_TEST(c.recv_exact(100) == msg.substr(0, 100));
    std::string more;
    BOOST_TEST(!c.try_recv_exact(1, 300ms, more));
    BOOST_TEST((c.wait_end(100ms) == echo_client::end::timeout));
    BOOST_TEST(fired(f, "stall") == 1U);
    // A drain still ends the hold.
    BOOST_TEST(f.stop(200ms, 5s));
  }
  {
    server_fixture f(1, with_faults({"blackhole"}));
    echo_client c("127.0.0.1", f.port());
    for (int i = 0; i < 10; ++i) c.send_all(pattern(10'000, static_cast<unsigned>(i)));
    std::string got;
    BOOST_TEST(!c.try_recv_exact(1, 300ms, got));
    BOOST_TEST(got.empty());
  }
}

// slow-read: a small receive buffer read at 1 KiB/s: a client writing 16 MiB blocks and
// its write times out.
BOOST_AUTO_TEST_CASE(slow_read_blocks_the_clients_writes) {
  server_fixture f(1, with_faults({"slow-read:rate=1KiB"}));
  const int fd = echo::test::connect_nonblocking("127.0.0.1", f.port(), 0, 16 * 1024);
  BOOST_TEST_REQUIRE(fd >= 0);
  pollfd connected{fd, POLLOUT, 0};
  BOOST_TEST_REQUIRE(::poll(&connected, 1, 5000) == 1);
  const auto chunk = pattern(64 * 1024);
  std::size_t sent = 0;
  bool timed_out = false;
  const auto deadline = clock_type::now() + 10s;
  while (sent < 16 * 1024 * 1024 && clock_type::now() < deadline) {
    const auto n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
      continue;
    }
    BOOST_TEST_REQUIRE((n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)));
    pollfd p{fd, POLLOUT, 0};
    if (::poll(&p, 1, 500) == 0) {  // the client's write timeout
      timed_out = true;
      break;
    }
  }
  ::close(fd);
  BOOST_TEST_MESSAGE("slow-read: the client's writes blocked after " << sent << " bytes");
  BOOST_TEST(timed_out);
  BOOST_TEST(sent < 16U * 1024 * 1024);
}

// no-accept: connects time out (the queue is full); refuse: connects fail with
// ECONNREFUSED. Removing the fault serves the same port again.
BOOST_AUTO_TEST_CASE(no_accept_times_out_and_refuse_refuses_connects) {
  for (const char* spec : {"no-accept", "refuse"}) {
    server_fixture f(1, with_faults({spec}));
    const bool refuse = std::string_view(spec) == "refuse";
    const std::string expected = refuse ? "refused" : "timeout";
    BOOST_TEST(attempt_until(expected, f.port(), 300ms) == expected, spec);
    for (int i = 0; i < 3; ++i) BOOST_TEST(attempt(f.port(), 200ms, 1s) == expected, spec);
    f.server().set_faults({});
    BOOST_TEST(attempt_until("data", f.port(), 1s) == "data", spec);
    BOOST_TEST(fired(f, spec) == 1U);
  }
}

// accept-delay: the connection is accepted, then nothing happens for the delay: the
// client's first echo comes after it.
BOOST_AUTO_TEST_CASE(accept_delay_holds_the_first_read) {
  server_fixture f(1, with_faults({"accept-delay:delay=300ms"}));
  const auto t0 = clock_type::now();
  echo_client c("127.0.0.1", f.port(), 1s);
  const auto connect_ms = ms_since(t0);
  c.send_all("hello");
  BOOST_TEST(c.recv_exact(5, 3s) == "hello");
  const auto first = ms_since(t0);
  BOOST_TEST_MESSAGE("accept-delay 300ms: connect " << connect_ms << " ms, first echo " << first << " ms");
  BOOST_TEST(connect_ms < 250.0);
  BOOST_TEST(first >= 295.0);
  BOOST_TEST(first < 1500.0);
}

// after=2,count=3: connections 3, 4 and 5 are reset at once, the others echo.
BOOST_AUTO_TEST_CASE(after_and_count_hit_exactly_the_intended_connections) {
  server_fixture f(1, with_faults({"reset-after:bytes=0,after=2,count=3"}));
  for (int i = 1; i <= 7; ++i) {
    const bool faulted = i >= 3 && i <= 5;
    BOOST_TEST(attempt(f.port(), 2s, 5s) == (faulted ? "reset" : "data"), "connection " << i);
  }
  BOOST_TEST(fired(f, "reset-after") == 3U);
}

// probability=0 never fires, over 10,000 real connections; the fault beside it (always)
// fires on every one, so each was decided.
BOOST_AUTO_TEST_CASE(probability_zero_never_fires_over_ten_thousand_connections) {
  server_fixture f(1, with_faults({"reset-after:bytes=0,probability=0", "banner:text=+"}));
  int ok = 0;
  for (int i = 0; i < 10'000; ++i) {
    echo_client c("127.0.0.1", f.port());
    if (c.recv_exact(1) == "+") ++ok;
  }
  BOOST_TEST(ok == 10'000);
  BOOST_TEST(fired(f, "banner") == 10'000U);
  BOOST_TEST(fired(f, "reset-after") == 0U);
}

// The server speaks first; the echo follows as usual.
BOOST_AUTO_TEST_CASE(banner_comes_before_any_echo) {
  server_fixture f(1, with_faults({"banner:text=220 ready\\r\\n"}));
  echo_client c("127.0.0.1", f.port());
  BOOST_TEST(c.recv_exact(11) == "220 ready\r\n");
  c.send_all("abc");
  BOOST_TEST(c.recv_exact(3) == "abc");
}

// early-fin: our FIN after N bytes while we still read: the client reads N bytes and EOF,
// and may go on writing without error. slow-close: our FIN comes the delay after the
// client's. hold-close-wait: it never comes, until the server drains.
BOOST_AUTO_TEST_CASE(early_fin_slow_close_and_hold_close_wait) {
  {
    server_fixture f(1, with_faults({"early-fin:after-bytes=10"}));
    echo_client c("127.0.0.1", f.port());
    const auto msg = pattern(100);
    c.send_all(msg);
    BOOST_TEST(c.recv_exact(10) == msg.substr(0, 10));
    BOOST_TEST((c.wait_end(2s) == echo_client::end::eof));
    for (int i = 0; i < 5; ++i) c.send_all(pattern(1000));  // still read: no RST
    c.shutdown_write();
    BOOST_TEST(fired(f, "early-fin") == 1U);
  }
  {
    server_fixture f(1, with_faults({"slow-close:delay=300ms"}));
    echo_client c("127.0.0.1", f.port());
    c.send_all("bye");
    BOOST_TEST(c.recv_exact(3) == "bye");
    const auto t0 = clock_type::now();
    c.shutdown_write();
    BOOST_TEST((c.wait_end(3s) == echo_client::end::eof));
    BOOST_TEST(ms_since(t0) >= 290.0);
  }
  {
    server_fixture f(1, with_faults({"hold-close-wait"}));
    echo_client c("127.0.0.1", f.port());
    c.send_all("bye");
    BOOST_TEST(c.recv_exact(3) == "bye");
    c.shutdown_write();
    BOOST_TEST((c.wait_end(300ms) == echo_client::end::timeout));
    BOOST_TEST(f.stop(200ms, 5s));  // the drain ends the hold with our FIN
    BOOST_TEST((c.wait_end(2s) == echo_client::end::eof));
  }
}

// The integrity faults, allowed: each breaks the echo in its own recorded way.
BOOST_AUTO_TEST_CASE(integrity_faults_corrupt_garbage_and_amplify) {
  BOOST_CHECK_THROW(server_fixture(1, with_faults({"amplify:factor=2"})), echo::config_error);
  {
    server_fixture f(1, with_faults({"corrupt:rate=0.01"}, true));
    echo_client c("127.0.0.1", f.port());
    const auto msg = pattern(20'000);
    c.send_all(msg);
    const auto got = c.recv_exact(msg.size());
    std::size_t flipped = 0;
    for (std::size_t i = 0; i < msg.size(); ++i) flipped += got[i] != msg[i];
    BOOST_TEST_MESSAGE("corrupt rate=0.01: " << flipped << " of " << msg.size() << " bytes flipped");
    BOOST_TEST(flipped > 100U);
    BOOST_TEST(flipped < 400U);
  }
  {
    server_fixture f(1, with_faults({"garbage-then-close:bytes=100"}, true));
    echo_client c("127.0.0.1", f.port());
    c.send_all(pattern(500));
    BOOST_TEST(c.recv_exact(100).size() == 100U);
    BOOST_TEST((c.wait_end(2s) == echo_client::end::eof));
  }
  {
    server_fixture f(1, with_faults({"amplify:factor=3"}, true));
    echo_client c("127.0.0.1", f.port());
    c.send_all("abc");
    BOOST_TEST(c.recv_exact(9) == "abcabcabc");
  }
}

// A live change reaches an open connection at its next step, and reset_faults() goes back
// to the configured set.
BOOST_AUTO_TEST_CASE(a_live_change_reaches_open_connections) {
  server_fixture f(1, with_faults({}));
  echo_client c("127.0.0.1", f.port());
  c.send_all("one");
  BOOST_TEST(c.recv_exact(3) == "one");
  f.server().set_faults({echo::parse_fault_spec("latency:delay=300ms")});
  BOOST_TEST(f.server().faults().size() == 1U);
  // The change reaches the session on the server's thread; wait for it, bounded.
  double took = 0;
  for (const auto until = clock_type::now() + 5s; took < 290.0 && clock_type::now() < until;) {
    const auto t0 = clock_type::now();
    c.send_all("two");
    BOOST_TEST_REQUIRE(c.recv_exact(3, 3s) == "two");
    took = ms_since(t0);
  }
  BOOST_TEST(took >= 290.0);
  f.server().reset_faults();
  BOOST_TEST(f.server().faults().empty());
  c.send_all("three");  // this read still waits out the delay chosen at its step
  BOOST_TEST(c.recv_exact(5, 3s) == "three");
  const auto t0 = clock_type::now();
  c.send_all("four");
  BOOST_TEST(c.recv_exact(4, 3s) == "four");
  BOOST_TEST(ms_since(t0) < 250.0);
  BOOST_CHECK_THROW(f.server().set_faults({echo::parse_fault_spec("latency:delay=1ms,listener=1")}),
                    echo::config_error);
}

// match= picks clients by address; listener= by listener.
BOOST_AUTO_TEST_CASE(match_and_listener_pick_the_connections) {
  {
    server_fixture f(
        1, with_faults({"reset-after:bytes=0,match=10.0.0.0/8", "banner:text=!,match=127.0.0.0/8"}));
    echo_client c("127.0.0.1", f.port());
    BOOST_TEST(c.recv_exact(1) == "!");
    c.send_all("ok");
    BOOST_TEST(c.recv_exact(2) == "ok");
  }
  {
    auto cfg = with_faults({});
    cfg.listeners.push_back(cfg.listeners.front());
    server_fixture f(1, cfg);
    const auto second = f.server().listeners()[1]->port();
    f.server().set_faults({echo::parse_fault_spec("banner:text=2,listener=" + std::to_string(second))});
    echo_client a("127.0.0.1", f.port()), b("127.0.0.1", second);
    BOOST_TEST(b.recv_exact(1) == "2");
    a.send_all("a");
    BOOST_TEST(a.recv_exact(1) == "a");
  }
}

// The catalogue: ten listeners, each showing its behaviour; its table names them.
BOOST_AUTO_TEST_CASE(the_catalogue_serves_each_behaviour_on_its_port) {
  auto cfg = with_faults({});
  cfg.catalogue = echo::listener_spec{boost::asio::ip::make_address("127.0.0.1"), 0};
  cfg.listeners.clear();
  server_fixture f(1, cfg);
  const auto table = f.server().catalogue_table();
  BOOST_TEST_REQUIRE(table.size() == 10U);
  for (const auto& row : table) BOOST_TEST_MESSAGE(row);
  const auto port = [&](std::size_t i) { return f.server().listeners()[i]->port(); };
  {
    echo_client plain("127.0.0.1", port(0));
    plain.send_all("x");
    BOOST_TEST(plain.recv_exact(1) == "x");
  }
  BOOST_TEST(attempt(port(0), 1s, 2s) == "data");
  BOOST_TEST(attempt_until("refused", port(1), 300ms) == "refused");
  BOOST_TEST(attempt_until("timeout", port(2), 300ms) == "timeout");
  BOOST_TEST(attempt(port(3), 1s, 2s) == "eof");
  BOOST_TEST(attempt(port(4), 1s, 2s) == "reset");
  BOOST_TEST(attempt(port(5), 1s, 300ms) == "silent");
  BOOST_TEST(attempt(port(6), 1s, 300ms) == "silent");
  BOOST_TEST(attempt(port(7), 1s, 2s) == "data");
}

// With several threads each session runs on its own strand: faults still keep every echo
// byte-exact, and a live change reaches sessions on every thread.
BOOST_AUTO_TEST_CASE(faults_keep_echoes_exact_on_several_threads) {
  server_fixture f(2, with_faults({"slice:size=1-512", "latency:delay=1ms,jitter=1ms,probability=0.5"}));
  std::atomic<int> exact{0};
  std::vector<std::thread> clients;
  for (unsigned i = 0; i < 8; ++i) {
    clients.emplace_back([&, i] {
      try {
        echo_client c("127.0.0.1", f.port());
        for (int round = 0; round < 2; ++round) {
          const auto msg = pattern(32 * 1024, i * 2 + static_cast<unsigned>(round));
          c.send_all(msg);
          if (c.recv_exact(msg.size(), 10s) != msg) return;
          if (round == 0 && i == 0) f.server().set_faults({echo::parse_fault_spec("slice:size=7")});
        }
        ++exact;
      } catch (const std::exception&) {
      }
    });
  }
  for (auto& t : clients) t.join();
  BOOST_TEST(exact.load() == 8);
  BOOST_TEST(fired(f, "slice") >= 8U);
}

// A fault set changed while every session echoes through a pipe (the splice path, forced):
// each live session takes the plan at its next step, and the bytes in its pipe at that
// moment are echoed before any planned step, so none is lost, doubled or reordered.
BOOST_AUTO_TEST_CASE(a_fault_set_while_echoes_are_spliced_takes_hold_byte_exact) {
  auto cfg = with_faults({});
  cfg.splice = echo::splice_mode::always;
  server_fixture f(2, cfg);
  constexpr std::size_t total = 8 << 20;
  constexpr unsigned clients = 4;
  std::atomic<std::size_t> echoed{0};
  std::atomic<unsigned> exact{0};
  std::vector<std::thread> threads;
  for (unsigned i = 0; i < clients; ++i) {
    threads.emplace_back([&, i] {
      const int fd = echo::test::connect_nonblocking("127.0.0.1", f.port());
      if (fd < 0) return;
      if (stream_full_duplex(fd, total, i, echoed, 60s)) ++exact;
      ::close(fd);
    });
  }
  // A quarter of the bytes back: every session is in mid-stream, most of it spliced.
  for (const auto until = clock_type::now() + 30s;
       echoed.load() < clients * total / 4 && clock_type::now() < until;)
    std::this_thread::sleep_for(1ms);
  BOOST_TEST(echoed.load() < clients * total / 2);
  f.server().set_faults({echo::parse_fault_spec("slice:size=1-4096"),
                         echo::parse_fault_spec("latency:delay=1ms,probability=0.2")});
  for (auto& t : threads) t.join();
  BOOST_TEST(exact.load() == clients);
  BOOST_TEST(fired(f, "slice") >= clients);  // every live session took the plan
}

// The same seed and connection order give the same decisions over real connections: which
// of 40 connections a probability=0.5 fault resets is the same twice, and another seed
// picks others.
BOOST_AUTO_TEST_CASE(the_same_seed_resets_the_same_connections_twice) {
  const auto outcomes = [](std::uint64_t seed) {
    auto cfg = with_faults({"reset-after:bytes=0,probability=0.5"});
    cfg.seed = seed;
    server_fixture f(1, cfg);
    std::string seen;
    for (int i = 0; i < 40; ++i) seen += attempt(f.port(), 2s, 5s) == "reset" ? 'R' : '.';
    return seen;
  };
  const auto a = outcomes(2024), b = outcomes(2024), c = outcomes(4202);
  BOOST_TEST_MESSAGE("seed 2024: " << a << ", seed 4202: " << c);
  BOOST_TEST(a == b);
  BOOST_TEST(a != c);
  BOOST_TEST(a.find('R') != std::string::npos);
  BOOST_TEST(a.find('.') != std::string::npos);
}
