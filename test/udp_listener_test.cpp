#define BOOST_TEST_MODULE udp_listener
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "detail/chargen_pattern.hpp"
#include "detail/session_context.hpp"
#include "detail/source_budget.hpp"
#include "detail/udp_listener.hpp"
#include "echo/config.hpp"
#include "echo/runtime.hpp"
#include "echo/setup_error.hpp"
#include "skip.hpp"
#include "socket_util.hpp"
#include "unique_fd.hpp"

using namespace std::chrono_literals;
using echo::detail::chargen_pattern;
using echo::detail::source_budget;
using echo::detail::udp_limits;
using echo::detail::udp_listener;
using echo::detail::udp_listener_stats;
using echo::test::unique_fd;
using clock_type = std::chrono::steady_clock;

namespace {

std::uint64_t get(const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); }

/// A UDP listener built directly on its own runtime, run on a thread until destruction.
struct udp_fixture {
  explicit udp_fixture(std::optional<std::string> host = "127.0.0.1", udp_limits limits = {},
                       echo::service_kind service = echo::service_kind::echo, unsigned threads = 1)
      : rt(threads) {
    echo::listener_spec spec;
    spec.kind = echo::transport::udp;
    if (host) spec.address = boost::asio::ip::make_address(*host);
    spec.port = 0;
    spec.service = service;
    echo::config cfg;
    cfg.listeners = {spec};
    context = std::make_shared<echo::detail::session_context>(rt.multi_threaded(), cfg);
    listener = std::make_unique<udp_listener>(rt.context(), spec, context, rt.multi_threaded(), limits);
    listener->start();
    done = std::async(std::launch::async, [this] { rt.run(); });
  }
  udp_fixture(const udp_fixture&) = delete;
  udp_fixture& operator=(const udp_fixture&) = delete;
  ~udp_fixture() { finish(); }

  /// Stops the listener and waits for run() to return (it has no other work).
  bool finish() {
    if (!done.valid()) return true;
    if (listener) listener->stop();
    if (done.wait_for(10s) != std::future_status::ready) {
      BOOST_ERROR("run() did not return after stop(); stopping the io_context");
      rt.stop();
      if (done.wait_for(5s) != std::future_status::ready) std::abort();
      done.get();
      return false;
    }
    done.get();
    return true;
  }

  std::uint16_t port() const { return listener->port(); }
  const udp_listener_stats& dgrams() const { return listener->datagram_counters(); }
  /// Every datagram received is accounted for exactly once.
  std::uint64_t accounted() const {
    const auto& s = dgrams();
    return get(s.sent) + get(s.discarded) + get(s.dropped_source_port) + get(s.dropped_source_address) +
           get(s.dropped_destination) + get(s.dropped_budget) + get(s.dropped_truncated) + get(s.send_errors);
  }

  echo::runtime rt;
  std::shared_ptr<echo::detail::session_context> context;
  std::unique_ptr<udp_listener> listener;
  std::future<void> done;
};

/// Polls `ready` until it holds or `limit` passes.
bool eventually(const std::function<bool()>& ready, std::chrono::milliseconds limit = 5s) {
  const auto deadline = clock_type::now() + limit;
  while (!ready()) {
    if (clock_type::now() >= deadline) return false;
    std::this_thread::yield();
  }
  return true;
}

struct datagram {
  std::string data;
  std::string from;  ///< "address" (no port)
  std::uint16_t port = 0;
};

std::string address_of(const sockaddr_storage& a) {
  char text[INET6_ADDRSTRLEN] = {};
  if (a.ss_family == AF_INET) {
    sockaddr_in v4{};
    std::memcpy(&v4, &a, sizeof v4);
    ::inet_ntop(AF_INET, &v4.sin_addr, text, sizeof text);
  } else {
    sockaddr_in6 v6{};
    std::memcpy(&v6, &a, sizeof v6);
    ::inet_ntop(AF_INET6, &v6.sin6_addr, text, sizeof text);
  }
  return text;
}

/// A plain UDP client socket, optionally bound to `local:port`.
class udp_client {
 public:
  explicit udp_client(int family = AF_INET) : fd_(::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) {
    BOOST_TEST_REQUIRE(fd_.get() >= 0, "socket: " << std::strerror(errno));
  }
  /// -errno on failure.
  int bind(const std::string& host, std::uint16_t port) {
    sockaddr_storage a{};
    const auto len = echo::test::make_sockaddr(host, port, a);
    return ::bind(fd_.get(), reinterpret_cast<const sockaddr*>(&a), len) == 0 ? 0 : -errno;
  }
  void set(int level, int name, int value) {
    BOOST_TEST_REQUIRE(::setsockopt(fd_.get(), level, name, &value, sizeof value) == 0);
  }
  /// 0, or the errno of a refused send.
  int send_to(const std::string& host, std::uint16_t port, const std::string& data) {
    sockaddr_storage a{};
    const auto len = echo::test::make_sockaddr(host, port, a);
    const auto n =
        ::sendto(fd_.get(), data.data(), data.size(), 0, reinterpret_cast<const sockaddr*>(&a), len);
    if (n < 0) return errno;
    BOOST_TEST_REQUIRE(static_cast<std::size_t>(n) == data.size());
    return 0;
  }
  /// The next datagram, or nothing once `limit` passes.
  std::optional<datagram> receive(std::chrono::milliseconds limit = 5s) {
    const auto deadline = clock_type::now() + limit;
    for (;;) {
      pollfd p{fd_.get(), POLLIN, 0};
      const int r = ::poll(&p, 1, echo::test::poll_timeout_ms(deadline, 1000));
      if (r > 0) break;
      if (clock_type::now() >= deadline) return std::nullopt;
    }
    std::string buffer(70000, '\0');
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const auto n = ::recvfrom(fd_.get(), buffer.data(), buffer.size(), MSG_DONTWAIT,
                              reinterpret_cast<sockaddr*>(&from), &from_len);
    BOOST_TEST_REQUIRE(n >= 0, "recvfrom: " << std::strerror(errno));
    buffer.resize(static_cast<std::size_t>(n));
    std::uint16_t port = 0;
    if (from.ss_family == AF_INET) port = ntohs(reinterpret_cast<const sockaddr_in&>(from).sin_port);
    else port = ntohs(reinterpret_cast<const sockaddr_in6&>(from).sin6_port);
    return datagram{std::move(buffer), address_of(from), port};
  }
  /// True if a datagram is waiting now.
  bool pending() {
    char c = 0;
    return ::recv(fd_.get(), &c, 1, MSG_DONTWAIT | MSG_PEEK) >= 0;
  }
  int fd() const { return fd_.get(); }

 private:
  unique_fd fd_;
};

std::string payload(std::size_t size, std::size_t seed) {
  std::string s(size, '\0');
  for (std::size_t i = 0; i < size; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + i / 251) & 0xff);
  return s;
}

std::string no_ipv6_loopback() {
  const unique_fd fd(::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!fd) return errno == EAFNOSUPPORT ? "no IPv6 here (socket: EAFNOSUPPORT)" : "";
  sockaddr_in6 addr{};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_loopback;
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 && errno == EADDRNOTAVAIL)
    return "no IPv6 loopback address here (bind [::1]: EADDRNOTAVAIL)";
  return {};
}

std::string cannot_bind_port_7() {
  udp_client c;
  if (const int e = c.bind("127.0.0.1", 7); e != 0)
    return std::string("cannot bind 127.0.0.1:7 (needs root or CAP_NET_BIND_SERVICE): ") + std::strerror(-e);
  return {};
}

void check_echo_sizes(const std::string& host, int family) {
  udp_fixture f(host);
  udp_client c(family);
  std::uint64_t bytes = 0;
  std::size_t seed = 0;
  for (const std::size_t size : {0UL, 1UL, 1472UL, 1473UL, 8192UL, 65507UL}) {
    BOOST_TEST_CONTEXT("size " << size) {
      const auto sent = payload(size, ++seed);
      BOOST_TEST_REQUIRE(c.send_to(host, f.port(), sent) == 0);
      const auto reply = c.receive();
      BOOST_TEST_REQUIRE(reply.has_value());
      BOOST_TEST(reply->data.size() == size);
      BOOST_TEST((reply->data == sent));
      BOOST_TEST(reply->from == host);
      BOOST_TEST(reply->port == f.port());
      bytes += size;
    }
  }
  BOOST_TEST(get(f.dgrams().received) == 6U);
  // The server counts a reply after sendmmsg returns, which can be after the client has it.
  BOOST_TEST(eventually([&] { return get(f.dgrams().sent) == 6U; }));
  BOOST_TEST(get(f.listener->counters()->bytes_received) == bytes);
  BOOST_TEST(eventually([&] { return get(f.listener->counters()->bytes_sent) == bytes; }));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(chargen)

BOOST_AUTO_TEST_CASE(pattern_lines_match_rfc_864) {
  // The RFC's ring: the 95 printable characters from ' '; line N starts at character N.
  const std::string line0 = " !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefg\r\n";
  const std::string line1 = "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefgh\r\n";
  const std::string line2 = "\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghi\r\n";
  // Line 94 starts with the last character and wraps round to the first.
  const std::string line94 = "~ !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdef\r\n";
  BOOST_TEST_REQUIRE(line0.size() == chargen_pattern::line_size);
  BOOST_TEST_REQUIRE(line94.size() == chargen_pattern::line_size);

  std::string out(3 * chargen_pattern::line_size, '\0');
  chargen_pattern::fill(out, 0);
  BOOST_TEST(out == line0 + line1 + line2);

  std::string one(chargen_pattern::line_size, '\0');
  chargen_pattern::fill(one, 94 * chargen_pattern::line_size);
  BOOST_TEST(one == line94);
  // The stream repeats after 95 lines, at any offset.
  chargen_pattern::fill(one, chargen_pattern::period);
  BOOST_TEST(one == line0);
  chargen_pattern::fill(one, 7 * chargen_pattern::period + chargen_pattern::line_size);
  BOOST_TEST(one == line1);
}

BOOST_AUTO_TEST_CASE(pattern_at_any_offset_is_the_same_stream) {
  // Across the period boundary, from odd offsets, and in pieces: always one stream.
  std::string whole(2 * chargen_pattern::period + 100, '\0');
  chargen_pattern::fill(whole, 0);
  BOOST_TEST(whole.substr(70, 6) == "fg\r\n!\"");
  for (const std::uint64_t offset : {0UL, 1UL, 71UL, 72UL, 73UL, 74UL, 7029UL, 7030UL, 7031UL, 9999UL}) {
    std::string piece(1000, '\0');
    chargen_pattern::fill(piece, offset);
    BOOST_TEST(piece == whole.substr(offset, piece.size()), "offset " << offset);
  }
  std::string empty;
  chargen_pattern::fill(empty, 5);  // nothing to write, nothing written
  BOOST_TEST(empty.empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(budget)

source_budget::address_key key(std::uint8_t n) {
  source_budget::address_key k{};
  k[10] = k[11] = 0xff;
  k[15] = n;
  return k;
}

BOOST_AUTO_TEST_CASE(each_source_gets_its_own_budget) {
  source_budget b(udp_limits{10, 0});
  const std::int64_t t0 = 1'000'000'000'000;
  for (std::uint8_t s = 1; s <= 3; ++s) {
    int admitted = 0;
    for (int i = 0; i < 100; ++i) admitted += b.admit(key(s), 10, t0) ? 1 : 0;
    BOOST_TEST(admitted == 10, "source " << int{s});
  }
  // A tenth of a second refills one datagram.
  BOOST_TEST(b.admit(key(1), 10, t0 + 100'000'000));
  BOOST_TEST(!b.admit(key(1), 10, t0 + 100'000'000));
}

BOOST_AUTO_TEST_CASE(bytes_budget_limits_reply_bytes) {
  source_budget b(udp_limits{0, 1000});
  const std::int64_t t0 = 5'000'000'000;
  int admitted = 0;
  for (int i = 0; i < 100; ++i) admitted += b.admit(key(1), 100, t0) ? 1 : 0;
  BOOST_TEST(admitted == 10);
  BOOST_TEST(!b.admit(key(2), 1001, t0), "a reply larger than a second's bytes never goes");
}

BOOST_AUTO_TEST_CASE(eviction_never_resets_a_drained_budget) {
  // One set of four: a fifth source cannot take over a drained entry, so the drained
  // sources stay drained, and newcomers share the overflow budget.
  source_budget b(udp_limits{5, 0}, source_budget::ways);
  const std::int64_t t0 = 1'000'000'000'000;
  for (std::uint8_t s = 1; s <= 4; ++s)
    while (b.admit(key(s), 1, t0)) {
    }
  BOOST_TEST(b.used() == 4U);
  int newcomers = 0;
  for (std::uint8_t s = 5; s < 200; ++s) newcomers += b.admit(key(s), 1, t0) ? 1 : 0;
  BOOST_TEST(newcomers == 5, "195 new sources share one budget while the set is busy");
  for (std::uint8_t s = 1; s <= 4; ++s)
    BOOST_TEST(!b.admit(key(s), 1, t0), "source " << int{s} << " stays drained");
  // A second later every entry is full again, and only then may a newcomer take one over.
  const auto t1 = t0 + source_budget::burst_ns;
  int fresh = 0;
  for (int i = 0; i < 10; ++i) fresh += b.admit(key(250), 1, t1) ? 1 : 0;
  BOOST_TEST(fresh == 5);
  BOOST_TEST(b.used() == 4U);
}

BOOST_AUTO_TEST_CASE(unlimited_keeps_no_table) {
  source_budget b(udp_limits{});
  for (int i = 0; i < 1000; ++i) BOOST_TEST_REQUIRE(b.admit(key(1), 65507, 0));
  BOOST_TEST(b.used() == 0U);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_CASE(echo_every_size_boundary_ipv4) {
  check_echo_sizes("127.0.0.1", AF_INET);
  // One byte past the IPv4 limit: the sender's own kernel refuses it.
  udp_client c;
  BOOST_TEST(c.send_to("127.0.0.1", 9, std::string(65508, 'x')) == EMSGSIZE);
}

BOOST_AUTO_TEST_CASE(echo_every_size_boundary_ipv6, *echo::test::skip_if(no_ipv6_loopback)) {
  check_echo_sizes("::1", AF_INET6);
}

BOOST_AUTO_TEST_CASE(larger_than_the_buffer_is_dropped_not_truncated,
                     *echo::test::skip_if(no_ipv6_loopback)) {
  // IPv6 carries up to 65,527 bytes: more than the listener echoes, so it must not send back
  // a truncated copy.
  udp_fixture f("::1");
  udp_client c(AF_INET6);
  BOOST_TEST_REQUIRE(c.send_to("::1", f.port(), std::string(65527, 'x')) == 0);
  BOOST_TEST_REQUIRE(c.send_to("::1", f.port(), "after") == 0);
  const auto reply = c.receive();
  BOOST_TEST_REQUIRE(reply.has_value());
  BOOST_TEST(reply->data == "after");
  BOOST_TEST(get(f.dgrams().dropped_truncated) == 1U);
  BOOST_TEST(eventually([&] { return get(f.dgrams().sent) == 1U; }));
}

BOOST_AUTO_TEST_CASE(reply_leaves_from_the_address_sent_to) {
  // 127.0.0.0/8 is all local: a socket on 0.0.0.0 gets the datagram sent to 127.0.0.2 and,
  // without pktinfo, would answer from 127.0.0.1 (the route's preferred source).
  udp_fixture f("0.0.0.0");
  udp_client c;
  for (const std::string to : {"127.0.0.2", "127.0.0.1", "127.0.0.3"}) {
    BOOST_TEST_REQUIRE(c.send_to(to, f.port(), "where from?") == 0);
    const auto reply = c.receive();
    BOOST_TEST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->from == to);
    BOOST_TEST(reply->data == "where from?");
  }
}

BOOST_AUTO_TEST_CASE(dual_stack_reply_leaves_from_the_address_sent_to) {
  // No address: [::] with IPv4 served as mapped addresses (or 0.0.0.0 without IPv6).
  udp_fixture f(std::nullopt);
  BOOST_TEST(f.listener->name() == "udp://[::]:" + std::to_string(f.port()));
  udp_client c;
  for (const std::string to : {"127.0.0.2", "127.0.0.1"}) {
    BOOST_TEST_REQUIRE(c.send_to(to, f.port(), "v4 via v6") == 0);
    const auto reply = c.receive();
    BOOST_TEST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->from == to);
  }
  if (no_ipv6_loopback().empty()) {
    udp_client c6(AF_INET6);
    BOOST_TEST_REQUIRE(c6.send_to("::1", f.port(), "v6") == 0);
    const auto reply = c6.receive();
    BOOST_TEST_REQUIRE(reply.has_value());
    BOOST_TEST(reply->from == "::1");
  }
}

BOOST_AUTO_TEST_CASE(source_ports_of_answering_services_are_dropped,
                     *echo::test::skip_if(cannot_bind_port_7)) {
  udp_fixture f;
  udp_client from7;
  udp_client from19;
  udp_client from_ours;
  BOOST_TEST_REQUIRE(from7.bind("127.0.0.1", 7) == 0);
  BOOST_TEST_REQUIRE(from19.bind("127.0.0.1", 19) == 0);
  BOOST_TEST_REQUIRE(from7.send_to("127.0.0.1", f.port(), "loop?") == 0);
  BOOST_TEST_REQUIRE(from19.send_to("127.0.0.1", f.port(), "loop?") == 0);
  std::uint64_t expected = 2;
  // Our own port from another address: what a spoofed "reply to yourself" looks like.
  if (from_ours.bind("127.0.0.2", f.port()) == 0) {
    BOOST_TEST_REQUIRE(from_ours.send_to("127.0.0.1", f.port(), "loop?") == 0);
    ++expected;
  }
  // Port 0 cannot be bound: write the UDP header by hand on a raw socket (checksum 0 = none).
  const unique_fd raw(::socket(AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_UDP));
  if (raw) {
    unsigned char packet[8 + 4] = {0, 0, 0, 0, 0, 12, 0, 0, 'z', 'e', 'r', 'o'};
    packet[2] = static_cast<unsigned char>(f.port() >> 8);
    packet[3] = static_cast<unsigned char>(f.port() & 0xff);
    sockaddr_storage to{};
    const auto len = echo::test::make_sockaddr("127.0.0.1", 0, to);
    BOOST_TEST_REQUIRE(::sendto(raw.get(), packet, sizeof packet, 0, reinterpret_cast<const sockaddr*>(&to),
                                len) == static_cast<ssize_t>(sizeof packet));
    ++expected;
  } else {
    std::cout << "note: no raw socket (" << std::strerror(errno) << "): source port 0 not tried\n";
  }
  BOOST_TEST_REQUIRE(eventually([&] { return get(f.dgrams().dropped_source_port) == expected; }));
  BOOST_TEST(get(f.dgrams().received) == expected);
  BOOST_TEST(get(f.dgrams().sent) == 0U);
  BOOST_TEST(!from7.pending());
  BOOST_TEST(!from19.pending());
  // The same listener still answers an ordinary port.
  udp_client ok;
  BOOST_TEST_REQUIRE(ok.send_to("127.0.0.1", f.port(), "fine") == 0);
  BOOST_TEST(ok.receive().has_value());
}

BOOST_AUTO_TEST_CASE(broadcast_destination_is_dropped) {
  udp_fixture f("0.0.0.0");
  udp_client c;
  c.set(SOL_SOCKET, SO_BROADCAST, 1);
  // 127.255.255.255 is the loopback network's broadcast address.
  BOOST_TEST_REQUIRE(c.send_to("127.255.255.255", f.port(), "everyone?") == 0);
  BOOST_TEST_REQUIRE(eventually([&] { return get(f.dgrams().dropped_destination) == 1U; }));
  BOOST_TEST(get(f.dgrams().sent) == 0U);
  BOOST_TEST(!c.pending());
}

BOOST_AUTO_TEST_CASE(budget_caps_replies_to_one_source) {
  constexpr std::uint32_t n = 10;
  udp_fixture f("127.0.0.1", udp_limits{n, 0});
  udp_client c;
  const auto started = clock_type::now();
  for (std::uint32_t i = 0; i < 10 * n; ++i)
    BOOST_TEST_REQUIRE(c.send_to("127.0.0.1", f.port(), "burst") == 0);
  const auto took = clock_type::now() - started;
  BOOST_TEST_REQUIRE(
      eventually([&] { return get(f.dgrams().received) == 10 * n && f.accounted() == 10 * n; }));
  const auto sent = get(f.dgrams().sent);
  // A second's burst, plus what refilled while the burst was being sent.
  const auto refill =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(took).count()) * n /
          1000 +
      1;
  BOOST_TEST(sent >= n);
  BOOST_TEST(sent <= n + refill);
  BOOST_TEST(get(f.dgrams().dropped_budget) == 10 * n - sent);
  std::uint64_t replies = 0;
  while (c.receive(replies < sent ? 5000ms : 200ms)) ++replies;
  BOOST_TEST(replies == sent);
  // Another source has its own budget.
  udp_client other;
  BOOST_TEST_REQUIRE(other.bind("127.0.0.2", 0) == 0);
  BOOST_TEST_REQUIRE(other.send_to("127.0.0.1", f.port(), "me too") == 0);
  BOOST_TEST(other.receive().has_value());
}

BOOST_AUTO_TEST_CASE(discard_sends_nothing) {
  udp_fixture f("127.0.0.1", {}, echo::service_kind::discard);
  udp_client c;
  for (int i = 0; i < 5; ++i) BOOST_TEST_REQUIRE(c.send_to("127.0.0.1", f.port(), payload(100, 1)) == 0);
  BOOST_TEST_REQUIRE(eventually([&] { return get(f.dgrams().discarded) == 5U; }));
  BOOST_TEST(get(f.listener->counters()->bytes_received) == 500U);
  BOOST_TEST(get(f.dgrams().sent) == 0U);
  BOOST_TEST(!c.receive(200ms).has_value());
}

BOOST_AUTO_TEST_CASE(chargen_replies_with_the_pattern) {
  udp_fixture f("127.0.0.1", {}, echo::service_kind::chargen);
  udp_client c;
  std::size_t longest = 0;
  for (int i = 0; i < 20; ++i) {
    BOOST_TEST_REQUIRE(c.send_to("127.0.0.1", f.port(), "input is ignored") == 0);
    const auto reply = c.receive();
    BOOST_TEST_REQUIRE(reply.has_value());
    const auto& d = reply->data;
    BOOST_TEST(d.size() <= 512U);
    longest = std::max(longest, d.size());
    if (d.empty()) continue;
    // Each reply starts a line; its first character says which.
    const auto line = static_cast<std::size_t>(static_cast<unsigned char>(d[0]) - ' ');
    BOOST_TEST_REQUIRE(line < chargen_pattern::ring_size);
    std::string expected(d.size(), '\0');
    chargen_pattern::fill(expected, line * chargen_pattern::line_size);
    BOOST_TEST((d == expected));
  }
  BOOST_TEST(longest > 0U, "20 replies of random length 0-512, all empty");
}

BOOST_AUTO_TEST_CASE(five_hundred_clients_at_once) {
  udp_fixture f("127.0.0.1", {}, echo::service_kind::echo, 2);
  constexpr int clients = 500;
  constexpr int rounds = 3;
  std::vector<std::unique_ptr<udp_client>> c;
  std::vector<int> next(clients, 0);
  std::vector<clock_type::time_point> sent_at(clients);
  const auto message = [](int i, int round) {
    return "client " + std::to_string(i) + " round " + std::to_string(round);
  };
  for (int i = 0; i < clients; ++i) {
    c.push_back(std::make_unique<udp_client>());
    BOOST_TEST_REQUIRE(c.back()->send_to("127.0.0.1", f.port(), message(i, 0)) == 0);
    sent_at[static_cast<std::size_t>(i)] = clock_type::now();
  }
  // Lock-step per client, all clients at once; a datagram the kernel dropped under the load
  // is sent again, as any UDP client would.
  int finished = 0;
  std::uint64_t resent = 0;
  const auto deadline = clock_type::now() + 30s;
  std::vector<pollfd> fds(clients);
  while (finished < clients && clock_type::now() < deadline) {
    for (int i = 0; i < clients; ++i)
      fds[static_cast<std::size_t>(i)] = {c[static_cast<std::size_t>(i)]->fd(), POLLIN, 0};
    ::poll(fds.data(), fds.size(), 100);
    const auto now = clock_type::now();
    for (int i = 0; i < clients; ++i) {
      const auto k = static_cast<std::size_t>(i);
      if (next[k] == rounds) continue;
      if ((fds[k].revents & POLLIN) != 0) {
        const auto reply = c[k]->receive(0ms);
        BOOST_TEST_REQUIRE(reply.has_value());
        if (reply->data != message(i, next[k])) continue;  // a late duplicate of a resent round
        if (++next[k] == rounds) {
          ++finished;
          continue;
        }
        BOOST_TEST_REQUIRE(c[k]->send_to("127.0.0.1", f.port(), message(i, next[k])) == 0);
        sent_at[k] = now;
      } else if (now - sent_at[k] > 500ms) {
        BOOST_TEST_REQUIRE(c[k]->send_to("127.0.0.1", f.port(), message(i, next[k])) == 0);
        sent_at[k] = now;
        ++resent;
      }
    }
  }
  BOOST_TEST(finished == clients);
  std::cout << "500 clients x 3 rounds: " << resent << " datagrams resent\n";
  BOOST_TEST(
      eventually([&] { return get(f.dgrams().sent) >= static_cast<std::uint64_t>(clients * rounds); }));
  BOOST_TEST(get(f.dgrams().send_errors) == 0U);
}

BOOST_AUTO_TEST_CASE(stop_while_traffic_flows) {
  for (const unsigned threads : {1U, 2U}) {
    BOOST_TEST_CONTEXT("threads " << threads) {
      auto f = std::make_unique<udp_fixture>("127.0.0.1", udp_limits{}, echo::service_kind::echo, threads);
      const auto port = f->port();
      std::atomic<bool> quit{false};
      // Plain sockets here: Boost.Test's checks (udp_client uses them) are not thread-safe.
      auto blaster = std::async(std::launch::async, [&] {
        const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_storage addr{};
        const auto len = echo::test::make_sockaddr("127.0.0.1", port, addr);
        const auto deadline = clock_type::now() + 20s;
        std::uint64_t n = 0;
        char sink[64];
        while (!quit.load() && clock_type::now() < deadline && n < 50'000'000) {
          (void)::sendto(fd, "flood", 5, 0, reinterpret_cast<const sockaddr*>(&addr), len);
          ++n;
          while (::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
          }
        }
        ::close(fd);
      });
      BOOST_TEST_REQUIRE(eventually([&] { return get(f->dgrams().sent) > 1000; }, 10s));
      f->listener->stop();
      f->listener->stop();  // idempotent
      // The listener was the runtime's only work: run() returns once it has stopped.
      BOOST_TEST((f->done.wait_for(10s) == std::future_status::ready));
      const auto after = get(f->dgrams().received);
      BOOST_TEST(!eventually([&] { return get(f->dgrams().received) != after; }, 200ms));
      quit = true;
      blaster.get();
      f.reset();
    }
  }
}

BOOST_AUTO_TEST_CASE(destroyed_while_running) {
  // The listener object goes away while its handlers are still queued on other threads:
  // they hold the loop's state, never the listener.
  echo::runtime rt(2);
  echo::listener_spec spec{boost::asio::ip::make_address("127.0.0.1"), 0};
  spec.kind = echo::transport::udp;
  echo::config cfg;
  cfg.listeners = {spec};
  auto context = std::make_shared<echo::detail::session_context>(true, cfg);
  auto l = std::make_unique<udp_listener>(rt.context(), spec, context, true, udp_limits{});
  const auto port = l->port();
  l->start();
  auto done = std::async(std::launch::async, [&] { rt.run(); });
  udp_client c;
  for (int i = 0; i < 200; ++i) (void)c.send_to("127.0.0.1", port, "x");
  BOOST_TEST(c.receive().has_value());
  l.reset();
  BOOST_TEST((done.wait_for(10s) == std::future_status::ready));
  if (done.wait_for(0s) != std::future_status::ready) {
    rt.stop();
    done.wait();
  }
}

BOOST_AUTO_TEST_CASE(bind_failure_names_the_listener) {
  udp_client holder;
  BOOST_TEST_REQUIRE(holder.bind("127.0.0.1", 0) == 0);
  sockaddr_in a{};
  socklen_t len = sizeof a;
  BOOST_TEST_REQUIRE(::getsockname(holder.fd(), reinterpret_cast<sockaddr*>(&a), &len) == 0);
  const auto port = ntohs(a.sin_port);
  echo::runtime rt(1);
  echo::listener_spec spec{boost::asio::ip::make_address("127.0.0.1"), port};
  spec.kind = echo::transport::udp;
  echo::config cfg;
  cfg.listeners = {spec};
  auto context = std::make_shared<echo::detail::session_context>(false, cfg);
  try {
    udp_listener l(rt.context(), spec, context, false, udp_limits{});
    BOOST_ERROR("bind to a port in use succeeded");
  } catch (const echo::setup_error& e) {
    BOOST_TEST(std::string(e.what()).find("udp://127.0.0.1:" + std::to_string(port)) != std::string::npos,
               e.what());
    BOOST_TEST((e.code() == std::errc::address_in_use));
  }
  BOOST_TEST(context->listeners_added == 0U, "a failed bind takes no counters");
}

// A throughput figure, not a check of correctness: run explicitly with
//   udp_listener_test --run_test=throughput_figure
BOOST_AUTO_TEST_CASE(throughput_figure, *boost::unit_test::disabled()) {
  for (const std::size_t size : {64UL, 1472UL}) {
    udp_fixture f;
    constexpr int window =
        64;  // datagrams in flight: enough to keep batches full, few enough not to overflow
    udp_client c;
    c.set(SOL_SOCKET, SO_RCVBUF, 4 << 20);
    const auto data = payload(size, 3);
    std::uint64_t replies = 0;
    std::uint64_t sent = 0;
    const auto started = clock_type::now();
    const auto stop_at = started + 3s;
    for (; sent < window; ++sent) BOOST_TEST_REQUIRE(c.send_to("127.0.0.1", f.port(), data) == 0);
    char buffer[2048];
    while (clock_type::now() < stop_at) {
      pollfd p{c.fd(), POLLIN, 0};
      if (::poll(&p, 1, 100) <= 0) {
        // A lost datagram shrinks the window: top it up.
        BOOST_TEST_REQUIRE(c.send_to("127.0.0.1", f.port(), data) == 0);
        ++sent;
        continue;
      }
      while (::recv(c.fd(), buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
        ++replies;
        BOOST_TEST_REQUIRE(c.send_to("127.0.0.1", f.port(), data) == 0);
        ++sent;
      }
    }
    const double seconds = std::chrono::duration<double>(clock_type::now() - started).count();
    std::cout << "udp echo, " << size << " B, window " << window
              << ", 1 server thread: " << static_cast<double>(replies) / seconds << " datagrams/s ("
              << replies << " in " << seconds << " s; server received " << get(f.dgrams().received) << ")\n";
    BOOST_TEST(replies > 0U);
  }
}
