#define BOOST_TEST_MODULE proxy_listener
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "detail/proxy_header.hpp"
#include "detail/session_state.hpp"
#include "echo/config.hpp"
#include "echo/listen_url.hpp"
#include "echo/listener.hpp"
#include "echo/stats.hpp"
#include "echo_client.hpp"
#include "server_fixture.hpp"
#include "socket_util.hpp"
#include "test_certs.hpp"
#include "unique_fd.hpp"

// A listener with proxy-protocol on, end to end through a real server: the header is taken
// off and never echoed, the payload behind it is echoed byte for byte however the header
// arrives, and every refusal closes the connection and is counted under its reason.

using namespace std::chrono_literals;
using echo::detail::end_reason;
using echo::detail::proxy_error;
using echo::test::echo_client;
using echo::test::server_fixture;
using echo::test::unique_fd;

namespace {

using clock_type = std::chrono::steady_clock;

// ---- headers ------------------------------------------------------------------------------

// The client the headers speak for, and the address it connected to (TEST-NET-1).
constexpr const char* client_ip = "192.0.2.10";
constexpr std::uint16_t client_port = 51000;
constexpr const char* destination_ip = "192.0.2.20";
constexpr std::uint16_t destination_port = 7007;

std::string v1_header() {
  return "PROXY TCP4 " + std::string(client_ip) + " " + destination_ip + " " + std::to_string(client_port) +
         " " + std::to_string(destination_port) + "\r\n";
}

std::string v2_signature() { return std::string("\r\n\r\n\0\r\nQUIT\n", 12); }

void append_be16(std::string& s, std::uint16_t v) {
  s.push_back(static_cast<char>(v >> 8));
  s.push_back(static_cast<char>(v & 0xFF));
}

void append_v4(std::string& s, const char* text) {
  in_addr a{};
  BOOST_TEST_REQUIRE(::inet_pton(AF_INET, text, &a) == 1);
  s.append(reinterpret_cast<const char*>(&a.s_addr), 4);  // network order already
}

// PROXY over INET STREAM, 16 + 12 bytes.
std::string v2_header() {
  std::string h = v2_signature();
  h.push_back('\x21');  // version 2, PROXY
  h.push_back('\x11');  // INET, STREAM
  append_be16(h, 12);
  append_v4(h, client_ip);
  append_v4(h, destination_ip);
  append_be16(h, client_port);
  append_be16(h, destination_port);
  return h;
}

// LOCAL, as a proxy's own health check sends it: no addresses.
std::string v2_local_header() {
  std::string h = v2_signature();
  h.push_back('\x20');  // version 2, LOCAL
  h.push_back('\x00');  // UNSPEC
  append_be16(h, 0);
  return h;
}

// ---- servers and clients --------------------------------------------------------------------

echo::config config_for(const std::string& url) {
  auto cfg = server_fixture::default_config();
  cfg.listeners = {echo::parse_listen_url(url)};
  return cfg;
}

std::string tcp_url(const char* mode) { return std::string("tcp://127.0.0.1:0?proxy-protocol=") + mode; }

const echo::listener_stats& counters(server_fixture& f) {
  const auto* c = f.server().listeners().front()->counters();
  BOOST_TEST_REQUIRE(c != nullptr);
  return *c;
}

std::uint64_t get(const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); }

std::uint64_t closed_by(server_fixture& f, end_reason why) {
  return get(counters(f).closed_by[static_cast<std::size_t>(why)]);
}

std::uint64_t refused_for(server_fixture& f, proxy_error why) {
  return get(counters(f).proxy_errors[static_cast<std::size_t>(why)]);
}

std::uint64_t refused_total(server_fixture& f) {
  std::uint64_t n = 0;
  for (const auto& c : counters(f).proxy_errors) n += get(c);
  return n;
}

/// Polls `done` until it holds or `limit` passes.
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto until = clock_type::now() + limit;
  for (;;) {
    if (done()) return true;
    if (clock_type::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
}

std::uint16_t local_port(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  BOOST_TEST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return ntohs(addr.sin_port);
}

// A name in Linux's abstract namespace, unique to this process and call.
std::string abstract_name() {
  static int serial = 0;
  return "@echo-proxy-listener-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial);
}

// A connected client of the unix stream socket at `name` ("@..." abstract).
echo_client unix_client(const std::string& name) {
  unique_fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  BOOST_TEST_REQUIRE(fd.get() >= 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  BOOST_TEST_REQUIRE(name.size() < sizeof addr.sun_path);
  std::memcpy(addr.sun_path, name.data(), name.size());
  if (name.front() == '@') addr.sun_path[0] = '\0';
  const auto len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name.size());
  // A unix stream connect completes at once or fails (backlog full would be EAGAIN).
  BOOST_TEST_REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  return echo_client(fd.release());
}

/// Sends `out` while reading, until `expect` bytes came back or the deadline passed: a
/// large echo cannot deadlock on full buffers when both directions move.
std::string exchange(int fd, const std::string& out, std::size_t expect,
                     std::chrono::milliseconds limit = 10s) {
  const auto deadline = clock_type::now() + limit;
  std::string in;
  std::size_t sent = 0;
  std::vector<char> buf(64 * 1024);
  while (in.size() < expect) {
    const bool sending = sent < out.size();
    pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
    const int ms = echo::test::poll_timeout_ms(deadline, 1000);
    if (ms == 0) break;
    if (::poll(&p, 1, ms) <= 0) continue;
    if (sending && (p.revents & POLLOUT)) {
      const ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
      if (n > 0) sent += static_cast<std::size_t>(n);
      else if (n < 0 && errno != EAGAIN && errno != EINTR) break;
    }
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      const ssize_t n = ::recv(fd, buf.data(), std::min(buf.size(), expect - in.size()), 0);
      if (n > 0) in.append(buf.data(), static_cast<std::size_t>(n));
      else if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;
    }
  }
  return in;
}

/// The whole exchange of a good connection: `header + payload` in one write, exactly
/// `payload` back, then our FIN is answered by the server's with nothing more: so not one
/// header byte was echoed, before the payload or after it.
void check_echoes_only_payload(echo_client& c, const std::string& header, const std::string& payload) {
  const auto back = exchange(c.fd(), header + payload, payload.size());
  BOOST_TEST_REQUIRE(back.size() == payload.size());
  BOOST_TEST((back == payload));
  c.shutdown_write();
  BOOST_TEST((c.wait_end(5s) == echo_client::end::eof));
}

/// A refused connection ends (EOF, or RST since the refused bytes are still unread) and
/// never echoes.
void check_closed_without_echo(echo_client& c) {
  const auto end = c.wait_end(5s);
  BOOST_TEST((end == echo_client::end::eof || end == echo_client::end::reset),
             "expected EOF or RST, got " << (end == echo_client::end::data ? "echoed data" : "a timeout"));
}

/// Sends `bytes` on a fresh connection and checks it is refused and counted: once under
/// `why`, under no other reason, and once as a proxy_header close.
void check_refused(server_fixture& f, echo_client c, const std::string& bytes, proxy_error why) {
  BOOST_TEST_INFO_SCOPE("reason " << echo::detail::to_string(why));
  const auto before_reason = refused_for(f, why);
  const auto before_total = refused_total(f);
  const auto before_closed = closed_by(f, end_reason::proxy_header);
  c.send_all(bytes);
  check_closed_without_echo(c);
  // The close is counted as the session is destroyed, which may come just after the FIN.
  BOOST_TEST(eventually([&] { return closed_by(f, end_reason::proxy_header) == before_closed + 1; }));
  BOOST_TEST(closed_by(f, end_reason::proxy_header) == before_closed + 1);
  BOOST_TEST(refused_for(f, why) == before_reason + 1);
  BOOST_TEST(refused_total(f) == before_total + 1);
}

// The server's receive queue for the connection from 127.0.0.1:`peer_port` to our listener
// on `server_port`: bytes that arrived and the server has not taken yet (/proc/net/tcp).
std::optional<unsigned long> server_unread(std::uint16_t server_port, std::uint16_t peer_port) {
  std::ifstream in("/proc/net/tcp");
  std::string line;
  std::getline(in, line);  // the column names
  char local[32], remote[32];
  std::snprintf(local, sizeof local, "0100007F:%04X", server_port);
  std::snprintf(remote, sizeof remote, "0100007F:%04X", peer_port);
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string slot, local_address, remote_address, state, queues;
    fields >> slot >> local_address >> remote_address >> state >> queues;
    if (local_address != local || remote_address != remote) continue;
    const auto colon = queues.find(':');
    if (colon == std::string::npos) return std::nullopt;
    return std::stoul(queues.substr(colon + 1), nullptr, 16);
  }
  return std::nullopt;
}

/// Writes `header` one byte per send, each only once the server has taken the one before
/// off its socket: the reader must see every prefix of the header on its own, and consume
/// it (a reader that only peeked would leave the byte queued and this would time out).
void send_byte_by_byte(server_fixture& f, echo_client& c, const std::string& header) {
  const auto peer = local_port(c.fd());
  for (std::size_t i = 0; i < header.size(); ++i) {
    c.send_all(header.data() + i, 1);
    const bool taken = eventually(
        [&] {
          const auto unread = server_unread(f.port(), peer);
          return unread && *unread == 0;
        },
        5s);
    BOOST_TEST_REQUIRE(taken, "the server did not take header byte " << i << " of " << header.size());
  }
}

struct mode_case {
  const char* mode;
  std::vector<std::string> headers;  ///< valid headers of the versions it accepts
};

std::vector<mode_case> every_mode() {
  return {{"v1", {v1_header()}}, {"v2", {v2_header()}}, {"auto", {v1_header(), v2_header()}}};
}

// ---- TLS ---------------------------------------------------------------------------------

// One set of certificates for the whole run: generating them is the slow part.
const echo::test::test_certs& certs() {
  static const echo::test::test_certs c;
  return c;
}

std::string openssl_errors() {
  std::string s;
  while (const unsigned long e = ::ERR_get_error()) {
    char buf[256];
    ::ERR_error_string_n(e, buf, sizeof buf);
    s += std::string(buf) + "; ";
  }
  return s;
}

struct ssl_ctx_free {
  void operator()(SSL_CTX* c) const noexcept { ::SSL_CTX_free(c); }
};
struct ssl_free {
  void operator()(SSL* s) const noexcept { ::SSL_free(s); }
};

// A blocking socket whose every receive and send gives up after `limit`: OpenSSL's blocking
// calls on it then fail instead of hanging.
unique_fd blocking_client(std::uint16_t port, std::chrono::seconds limit) {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  BOOST_TEST_REQUIRE(fd.get() >= 0);
  timeval tv{static_cast<time_t>(limit.count()), 0};
  BOOST_TEST_REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  BOOST_TEST_REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
  sockaddr_storage addr{};
  const socklen_t len = echo::test::make_sockaddr("127.0.0.1", port, addr);
  // SO_SNDTIMEO bounds a blocking connect too.
  BOOST_TEST_REQUIRE(::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), len) == 0);
  return fd;
}

}  // namespace

BOOST_AUTO_TEST_CASE(valid_header_and_payload_in_one_write_echo_the_payload_only) {
  // Two threads as well: the header is then read on the session's strand.
  for (const unsigned threads : {1U, 2U}) {
    for (const auto& m : every_mode()) {
      BOOST_TEST_CONTEXT("proxy-protocol=" << m.mode << ", threads " << threads) {
        server_fixture f(threads, config_for(tcp_url(m.mode)));
        for (const auto& header : m.headers) {
          BOOST_TEST_CONTEXT("header version " << (header.front() == 'P' ? 1 : 2)) {
            echo_client c("127.0.0.1", f.port());
            check_echoes_only_payload(c, header, "payload after the header\r\n");
          }
        }
        BOOST_TEST(refused_total(f) == 0U);
        BOOST_TEST(eventually([&] { return closed_by(f, end_reason::eof) == m.headers.size(); }));
        BOOST_TEST(closed_by(f, end_reason::proxy_header) == 0U);
      }
    }
  }
}

BOOST_AUTO_TEST_CASE(header_split_byte_by_byte_then_payload_echoes_the_payload) {
  for (const auto& m : every_mode()) {
    BOOST_TEST_CONTEXT("proxy-protocol=" << m.mode) {
      server_fixture f(1, config_for(tcp_url(m.mode)));
      for (const auto& header : m.headers) {
        BOOST_TEST_CONTEXT("header version " << (header.front() == 'P' ? 1 : 2)) {
          echo_client c("127.0.0.1", f.port());
          send_byte_by_byte(f, c, header);
          check_echoes_only_payload(c, "", "slow header, then this");
        }
      }
      BOOST_TEST(refused_total(f) == 0U);
    }
  }
}

BOOST_AUTO_TEST_CASE(v2_local_header_is_accepted) {
  for (const char* mode : {"v2", "auto"}) {
    BOOST_TEST_CONTEXT("proxy-protocol=" << mode) {
      server_fixture f(1, config_for(tcp_url(mode)));
      echo_client c("127.0.0.1", f.port());
      check_echoes_only_payload(c, v2_local_header(), "health check");
      BOOST_TEST(refused_total(f) == 0U);
    }
  }
}

BOOST_AUTO_TEST_CASE(payload_without_a_header_is_refused) {
  for (const char* mode : {"v1", "v2", "auto"}) {
    BOOST_TEST_CONTEXT("proxy-protocol=" << mode) {
      server_fixture f(1, config_for(tcp_url(mode)));
      check_refused(f, echo_client("127.0.0.1", f.port()), "hello, no header here\r\n",
                    proxy_error::bad_signature);
    }
  }
}

BOOST_AUTO_TEST_CASE(v1_header_with_a_bad_port_is_refused) {
  const std::string bad_port = "PROXY TCP4 192.0.2.10 192.0.2.20 99999 7007\r\npayload";
  for (const char* mode : {"v1", "auto"}) {
    BOOST_TEST_CONTEXT("proxy-protocol=" << mode) {
      server_fixture f(1, config_for(tcp_url(mode)));
      check_refused(f, echo_client("127.0.0.1", f.port()), bad_port, proxy_error::bad_port);
    }
  }
  // Where only v2 is accepted, the first byte already decides.
  server_fixture f(1, config_for(tcp_url("v2")));
  check_refused(f, echo_client("127.0.0.1", f.port()), bad_port, proxy_error::not_v2);
}

BOOST_AUTO_TEST_CASE(v2_header_where_only_v1_is_accepted_is_refused) {
  server_fixture f(1, config_for(tcp_url("v1")));
  check_refused(f, echo_client("127.0.0.1", f.port()), v2_header() + "payload", proxy_error::not_v1);
  check_refused(f, echo_client("127.0.0.1", f.port()), v2_local_header() + "payload", proxy_error::not_v1);
}

BOOST_AUTO_TEST_CASE(v1_line_longer_than_107_bytes_is_refused) {
  // UNKNOWN lets anything follow up to the CRLF, so only the length can be wrong.
  const std::string long_line = "PROXY UNKNOWN " + std::string(200, 'x') + "\r\npayload";
  for (const char* mode : {"v1", "auto"}) {
    BOOST_TEST_CONTEXT("proxy-protocol=" << mode) {
      server_fixture f(1, config_for(tcp_url(mode)));
      check_refused(f, echo_client("127.0.0.1", f.port()), long_line, proxy_error::too_long);
      // The same, arriving in pieces smaller than the limit: the reader holds the start.
      echo_client slow("127.0.0.1", f.port());
      const auto before = refused_for(f, proxy_error::too_long);
      slow.send_all(long_line.substr(0, 60));
      check_refused(f, std::move(slow), long_line.substr(60), proxy_error::too_long);
      BOOST_TEST(refused_for(f, proxy_error::too_long) == before + 1);
    }
  }
}

BOOST_AUTO_TEST_CASE(unix_listener_echoes_after_a_valid_header_and_refuses_a_missing_one) {
  const auto name = abstract_name();
  server_fixture f(1, config_for("unix:" + name + "?proxy-protocol=v1"));
  BOOST_TEST(f.server().listeners().front()->reads_proxy_header());
  {
    auto c = unix_client(name);
    check_echoes_only_payload(c, v1_header(), "over a unix socket");
  }
  check_refused(f, unix_client(name), "no header over a unix socket", proxy_error::bad_signature);
}

BOOST_AUTO_TEST_CASE(tls_listener_reads_a_v2_header_before_the_handshake) {
  auto cfg = config_for("tls://127.0.0.1:0?proxy-protocol=v2");
  cfg.tls.cert_file = certs().server.cert;
  cfg.tls.key_file = certs().server.key;
  server_fixture f(1, cfg);

  std::unique_ptr<SSL_CTX, ssl_ctx_free> ctx(::SSL_CTX_new(::TLS_client_method()));
  BOOST_TEST_REQUIRE(ctx != nullptr);
  BOOST_TEST_REQUIRE(::SSL_CTX_load_verify_locations(ctx.get(), certs().ca.c_str(), nullptr) == 1);
  ::SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);

  const auto fd = blocking_client(f.port(), 10s);
  // The header goes in the clear and alone, so the handshake starts on a socket whose
  // header has been taken: the TLS layer must find the ClientHello first.
  const auto header = v2_header();
  BOOST_TEST_REQUIRE(::send(fd.get(), header.data(), header.size(), MSG_NOSIGNAL) ==
                     static_cast<ssize_t>(header.size()));
  std::unique_ptr<SSL, ssl_free> ssl(::SSL_new(ctx.get()));
  BOOST_TEST_REQUIRE(ssl != nullptr);
  BOOST_TEST_REQUIRE(::SSL_set_fd(ssl.get(), fd.get()) == 1);
  BOOST_TEST_REQUIRE(::SSL_set1_host(ssl.get(), "localhost") == 1);
  BOOST_TEST_REQUIRE(::SSL_connect(ssl.get()) == 1, "handshake failed: " << openssl_errors());
  BOOST_TEST(::SSL_get_verify_result(ssl.get()) == X509_V_OK);

  const std::string payload = "inside TLS, behind a PROXY v2 header";
  BOOST_TEST_REQUIRE(::SSL_write(ssl.get(), payload.data(), static_cast<int>(payload.size())) ==
                     static_cast<int>(payload.size()));
  std::string back;
  char buf[256];
  // Each SSL_read is bounded by SO_RCVTIMEO; the loop by the payload's size.
  while (back.size() < payload.size()) {
    const int n = ::SSL_read(ssl.get(), buf, sizeof buf);
    if (n <= 0) break;
    back.append(buf, static_cast<std::size_t>(n));
  }
  BOOST_TEST((back == payload));
  ::SSL_shutdown(ssl.get());
  BOOST_TEST(refused_total(f) == 0U);
  BOOST_TEST(closed_by(f, end_reason::proxy_header) == 0U);
}

BOOST_AUTO_TEST_CASE(tls_listener_refuses_a_handshake_without_a_header) {
  auto cfg = config_for("tls://127.0.0.1:0?proxy-protocol=v2");
  cfg.tls.cert_file = certs().server.cert;
  cfg.tls.key_file = certs().server.key;
  server_fixture f(1, cfg);
  // A ClientHello starts with 0x16 (handshake record): not a PROXY header.
  check_refused(f, echo_client("127.0.0.1", f.port()), std::string("\x16\x03\x01\x00\x05hello", 10),
                proxy_error::bad_signature);
}

BOOST_AUTO_TEST_CASE(half_a_header_then_silence_is_closed_by_the_idle_timeout) {
  auto cfg = config_for(tcp_url("v2"));
  cfg.idle_timeout = 1s;
  server_fixture f(1, cfg);
  echo_client c("127.0.0.1", f.port());
  const auto header = v2_header();
  const auto start = clock_type::now();
  c.send_all(header.substr(0, header.size() / 2));
  const auto end = c.wait_end(10s);
  const auto took = clock_type::now() - start;
  BOOST_TEST((end == echo_client::end::eof || end == echo_client::end::reset));
  BOOST_TEST_MESSAGE("closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                     << " ms");
  // The sweep runs every 250 ms: the close comes between 0.75 s and 1.25 s after the last
  // progress; the upper bound leaves room for a loaded machine.
  BOOST_TEST((took >= 700ms));
  BOOST_TEST((took < 5s));
  BOOST_TEST(eventually([&] { return closed_by(f, end_reason::idle_timeout) == 1; }));
  BOOST_TEST(closed_by(f, end_reason::proxy_header) == 0U);
  BOOST_TEST(refused_total(f) == 0U);
}

BOOST_AUTO_TEST_CASE(a_64_kib_payload_in_the_headers_write_is_echoed_exactly) {
  std::string payload(64 * 1024, '\0');
  for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 131 + i / 251) & 0xFF);
  for (const auto& m : every_mode()) {
    BOOST_TEST_CONTEXT("proxy-protocol=" << m.mode) {
      server_fixture f(1, config_for(tcp_url(m.mode)));
      for (const auto& header : m.headers) {
        BOOST_TEST_CONTEXT("header version " << (header.front() == 'P' ? 1 : 2)) {
          echo_client c("127.0.0.1", f.port());
          check_echoes_only_payload(c, header, payload);
        }
      }
      BOOST_TEST(get(counters(f).bytes_received) == payload.size() * m.headers.size());
    }
  }
}
