#define BOOST_TEST_MODULE tls_session
#include <boost/test/unit_test.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "detail/session_context.hpp"
#include "detail/tls_context.hpp"
#include "detail/tls_session.hpp"
#include "echo/config.hpp"
#include "echo/setup_error.hpp"
#include "skip.hpp"
#include "test_certs.hpp"

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;
using namespace std::chrono_literals;
using echo::detail::tls_failure;

namespace {

using clock_type = std::chrono::steady_clock;

// One set of certificates for the whole run: generating them is the slow part.
const echo::test::test_certs& certs() {
  static const echo::test::test_certs c;
  return c;
}

echo::tls_settings server_settings() {
  echo::tls_settings s;
  s.cert_file = certs().server.cert;
  s.key_file = certs().server.key;
  return s;
}

/// Accepts on 127.0.0.1:0 and builds tls_sessions the way tcp_listener builds tcp_sessions
/// (reserve, count in the listener, add, start), run by `threads` threads, with the server's
/// deadline sweep.
class tls_server {
 public:
  explicit tls_server(echo::tls_settings settings, unsigned threads = 1, echo::config cfg = {})
      : io_(static_cast<int>(threads)),
        context_(std::make_shared<echo::detail::session_context>(threads > 1, cfg)),
        listener_(context_->add_listener()),
        tls_(std::make_shared<echo::detail::tls_context>(std::move(settings))),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)),
        sweep_(io_),
        strands_(threads > 1) {
#if ECHO_POOLED_READ
    // What echo::server does for its sessions: the pooled read queues on this reactor.
    context_->reads.reactor = &asio::use_service<asio::detail::reactor>(io_);
#endif
    do_accept();
    do_sweep();
    for (unsigned i = 0; i < threads; ++i)
      runs_.push_back(std::async(std::launch::async, [this] { io_.run(); }));
  }
  tls_server(const tls_server&) = delete;
  tls_server& operator=(const tls_server&) = delete;
  ~tls_server() {
    asio::post(io_, [this] {
      stopped_ = true;
      error_code ignored;
      acceptor_.close(ignored);
      sweep_.cancel();
      for (auto& s : context_->registry.snapshot()) s->close();
    });
    for (auto& r : runs_) {
      if (r.wait_for(10s) != std::future_status::ready) {
        BOOST_ERROR("the server's threads did not finish within 10 s");
        io_.stop();
        r.wait();
      }
    }
  }

  std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
  echo::detail::tls_context& tls() { return *tls_; }
  echo::detail::tls_stats& stats() { return tls_->stats(); }
  echo::detail::session_context& context() { return *context_; }
  /// Graceful end for every live session, as a SIGTERM would ask.
  void drain_all() {
    for (auto& s : context_->registry.snapshot()) s->drain();
  }

 private:
  void do_accept() {
    if (strands_) {
      acceptor_.async_accept(asio::make_strand(io_),
                             [this](const error_code& ec, auto socket) { on_accept(ec, std::move(socket)); });
    } else {
      acceptor_.async_accept(io_.get_executor(),
                             [this](const error_code& ec, auto socket) { on_accept(ec, std::move(socket)); });
    }
  }
  template <class Socket>
  void on_accept(const error_code& ec, Socket socket) {
    if (ec || stopped_) return;
    if (context_->registry.reserve() == echo::detail::session_registry::admission::admitted) {
      const auto id = context_->counters.accepted.fetch_add(1) + 1;
      using session_type = echo::detail::tls_session<typename Socket::executor_type>;
      auto session = std::make_shared<session_type>(std::move(socket), tls_, context_, id);
      session->count_in_listener(listener_);
      if (context_->registry.add(*session)) session->start();
    }
    do_accept();
  }
  void do_sweep() {
    sweep_.expires_after(echo::detail::session_context::tick);
    sweep_.async_wait([this](const error_code& ec) {
      if (ec || stopped_) return;
      const auto now = context_->now_tick.fetch_add(1) + 1;
      std::vector<std::shared_ptr<echo::detail::session_base>> due;
      context_->registry.select([&](const echo::detail::session_base& s) {
        return s.deadline() != 0 && now >= s.deadline() ? &due : nullptr;
      });
      for (auto& s : due) s->expire();
      do_sweep();
    });
  }

  asio::io_context io_;
  std::shared_ptr<echo::detail::session_context> context_;
  std::uint16_t listener_;
  std::shared_ptr<echo::detail::tls_context> tls_;
  tcp::acceptor acceptor_;
  asio::steady_timer sweep_;
  const bool strands_;
  bool stopped_ = false;
  std::vector<std::future<void>> runs_;
};

/// Polls `done` until it holds or `limit` passes (never a bare sleep as synchronisation).
bool eventually(const std::function<bool()>& done, std::chrono::milliseconds limit = 10s) {
  const auto until = clock_type::now() + limit;
  for (;;) {
    if (done()) return true;
    if (clock_type::now() >= until) return false;
    std::this_thread::sleep_for(5ms);
  }
}

struct client_options {
  std::string ca = certs().ca;
  std::optional<echo::test::test_certs::pair> cert;
  int max_version = 0;  ///< 0: any
  std::vector<std::string> alpn;
};

ssl::context client_context(const client_options& o) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(o.ca);
  ctx.set_verify_mode(ssl::verify_peer);
  if (o.cert) {
    ctx.use_certificate_chain_file(o.cert->cert);
    ctx.use_private_key_file(o.cert->key, ssl::context::pem);
  }
  if (o.max_version != 0) SSL_CTX_set_max_proto_version(ctx.native_handle(), o.max_version);
  if (!o.alpn.empty()) {
    std::string wire;
    for (const auto& p : o.alpn) wire += static_cast<char>(p.size()) + p;
    SSL_CTX_set_alpn_protos(ctx.native_handle(), reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  return ctx;
}

/// Runs `io` until `done` or `limit`; false on timeout (the caller's check then fails).
bool run_until(asio::io_context& io, const bool& done, std::chrono::milliseconds limit = 20s) {
  io.restart();
  const auto until = clock_type::now() + limit;
  while (!done && clock_type::now() < until) io.run_one_for(until - clock_type::now());
  return done;
}

/// One verifying TLS client, driven step by step with a deadline on each step.
struct tls_client {
  tls_client(asio::io_context& io, std::uint16_t port, const client_options& o = {})
      : ctx(client_context(o)), stream(io, ctx) {
    stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
    stream.next_layer().connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  }

  error_code handshake(asio::io_context& io) {
    bool done = false;
    error_code result;
    stream.async_handshake(ssl::stream_base::client, [&](const error_code& ec) {
      result = ec;
      done = true;
    });
    if (!run_until(io, done)) return asio::error::timed_out;
    return result;
  }
  error_code write(asio::io_context& io, const std::string& data) {
    bool done = false;
    error_code result;
    asio::async_write(stream, asio::buffer(data), [&](const error_code& ec, std::size_t) {
      result = ec;
      done = true;
    });
    if (!run_until(io, done)) return asio::error::timed_out;
    return result;
  }
  error_code read(asio::io_context& io, std::string& out, std::size_t n) {
    bool done = false;
    error_code result;
    out.assign(n, '\0');
    asio::async_read(stream, asio::buffer(out), [&](const error_code& ec, std::size_t got) {
      out.resize(got);
      result = ec;
      done = true;
    });
    if (!run_until(io, done)) return asio::error::timed_out;
    return result;
  }
  error_code shutdown(asio::io_context& io) {
    bool done = false;
    error_code result;
    stream.async_shutdown([&](const error_code& ec) {
      result = ec;
      done = true;
    });
    if (!run_until(io, done)) return asio::error::timed_out;
    return result;
  }
  long peer_serial() {
    X509* cert = SSL_get1_peer_certificate(stream.native_handle());
    if (cert == nullptr) return -1;
    const long serial = ASN1_INTEGER_get(X509_get0_serialNumber(cert));
    X509_free(cert);
    return serial;
  }

  ssl::context ctx;
  ssl::stream<tcp::socket> stream;
};

/// Echo round trip over an established client; true if the bytes came back unchanged.
bool round_trip(asio::io_context& io, tls_client& c, const std::string& text) {
  std::string back;
  return !c.write(io, text) && !c.read(io, back, text.size()) && back == text;
}

/// Deterministic bytes, different at every offset modulo a prime (catches shifts and losses).
char pattern(std::uint64_t i) { return static_cast<char>((i * 131 + i / 251) & 0xff); }

/// A raw TCP connection with receive and send timeouts (for the non-TLS and half-close cases).
int raw_connect(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  BOOST_REQUIRE(fd >= 0);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  return fd;
}

/// Reads until EOF or an error; returns 0 for EOF, errno for a reset, -1 on timeout.
int read_to_end(int fd) {
  char buf[4096];
  for (int i = 0; i < 10000; ++i) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n == 0) return 0;
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? -1 : errno;
  }
  return -1;
}

/// Why figures of resident memory mean nothing in this build (empty: they do).
std::string under_sanitizer() {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  return "a sanitizer's shadow memory and quarantine swamp the figure";
#else
  return {};
#endif
}

}  // namespace

BOOST_AUTO_TEST_SUITE(tls_session_suite)

BOOST_AUTO_TEST_CASE(round_trip_and_alpn) {
  auto settings = server_settings();
  settings.alpn = {"echo", "other"};
  tls_server server(settings);
  asio::io_context io;
  client_options o;
  o.alpn = {"nope", "echo"};
  tls_client c(io, server.port(), o);
  BOOST_REQUIRE(!c.handshake(io));
  BOOST_TEST(c.peer_serial() == echo::test::test_certs::server_serial);
  const unsigned char* proto = nullptr;
  unsigned len = 0;
  SSL_get0_alpn_selected(c.stream.native_handle(), &proto, &len);
  BOOST_TEST(std::string(reinterpret_cast<const char*>(proto), len) == "echo");
  BOOST_TEST(round_trip(io, c, "hello over tls"));
  BOOST_TEST(round_trip(io, c, std::string(100000, 'x')));
  BOOST_TEST(!c.shutdown(io));  // our close_notify, answered by the server's
  BOOST_TEST(eventually([&] { return server.context().registry.size() == 0; }));
  BOOST_TEST(server.stats().handshakes.load() == 1u);
}

BOOST_AUTO_TEST_CASE(alpn_mismatch_is_refused) {
  auto settings = server_settings();
  settings.alpn = {"echo"};
  tls_server server(settings);
  asio::io_context io;
  client_options o;
  o.alpn = {"h2"};
  tls_client c(io, server.port(), o);
  BOOST_TEST(c.handshake(io).failed());
  BOOST_TEST(eventually([&] { return server.stats().failures(tls_failure::protocol) == 1; }));
}

BOOST_AUTO_TEST_CASE(echo_64_mib_verified) {
  tls_server server(server_settings());
  asio::io_context io;
  tls_client c(io, server.port());
  BOOST_REQUIRE(!c.handshake(io));
  constexpr std::uint64_t total = 64ull << 20;
  constexpr std::size_t chunk = 256 * 1024;
  std::vector<char> out(chunk), in(chunk);
  std::uint64_t sent = 0, received = 0;
  bool mismatch = false, write_done = false, read_done = false;
  error_code failure;
  // One write and one read in flight at once: Asio's ssl::stream allows exactly that.
  std::function<void()> do_write = [&] {
    if (sent == total) {
      write_done = true;
      return;
    }
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - sent));
    for (std::size_t i = 0; i < n; ++i) out[i] = pattern(sent + i);
    asio::async_write(c.stream, asio::buffer(out.data(), n), [&, n](const error_code& ec, std::size_t) {
      if (ec) {
        failure = ec;
        write_done = read_done = true;
        return;
      }
      sent += n;
      do_write();
    });
  };
  std::function<void()> do_read = [&] {
    if (received == total) {
      read_done = true;
      return;
    }
    c.stream.async_read_some(asio::buffer(in), [&](const error_code& ec, std::size_t n) {
      if (ec) {
        failure = ec;
        write_done = read_done = true;
        return;
      }
      for (std::size_t i = 0; i < n && !mismatch; ++i) mismatch = in[i] != pattern(received + i);
      received += n;
      do_read();
    });
  };
  do_write();
  do_read();
  bool both = false;
  io.restart();
  const auto until = clock_type::now() + 120s;
  while (!(write_done && read_done) && clock_type::now() < until) io.run_one_for(until - clock_type::now());
  both = write_done && read_done;
  BOOST_TEST(both);
  BOOST_TEST(!failure, failure.message());
  BOOST_TEST(received == total);
  BOOST_TEST(!mismatch);
  BOOST_TEST(!c.shutdown(io));
}

// The client sends close_notify right after its data and keeps reading: it must get every
// echoed byte, then the server's close_notify, then a FIN (never an RST). Written on the
// OpenSSL API with a blocking socket, because Asio's async_shutdown waits for the peer's
// close_notify and so cannot half-close.
BOOST_AUTO_TEST_CASE(half_close_gets_full_echo_then_close_notify) {
  tls_server server(server_settings());
  const int fd = raw_connect(server.port());
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BOOST_REQUIRE(SSL_CTX_load_verify_locations(ctx, certs().ca.c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  BOOST_REQUIRE(SSL_connect(ssl) == 1);
  // Small enough to sit in the socket buffers while nobody reads: this client is blocking.
  std::string data(48 * 1024, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = pattern(i);
  BOOST_REQUIRE(SSL_write(ssl, data.data(), static_cast<int>(data.size())) == static_cast<int>(data.size()));
  BOOST_REQUIRE(SSL_shutdown(ssl) == 0);  // close_notify sent, the server's not yet in
  std::string echoed;
  char buf[16384];
  int last = 0;
  for (int i = 0; i < 10000; ++i) {
    last = SSL_read(ssl, buf, sizeof buf);
    if (last <= 0) break;
    echoed.append(buf, static_cast<std::size_t>(last));
  }
  BOOST_TEST(SSL_get_error(ssl, last) == SSL_ERROR_ZERO_RETURN);  // the server's close_notify
  BOOST_TEST(echoed.size() == data.size());
  BOOST_TEST((echoed == data));
  BOOST_TEST(read_to_end(fd) == 0);  // then FIN, no reset
  SSL_free(ssl);
  SSL_CTX_free(ctx);
  ::close(fd);
  BOOST_TEST(eventually([&] { return server.context().registry.size() == 0; }));
  BOOST_TEST(server.context().counters.session_errors.load() == 0u);
}

BOOST_AUTO_TEST_CASE(drain_sends_close_notify_after_the_echo) {
  tls_server server(server_settings());
  asio::io_context io;
  tls_client c(io, server.port());
  BOOST_REQUIRE(!c.handshake(io));
  BOOST_REQUIRE(round_trip(io, c, "before the drain"));
  server.drain_all();
  std::string rest;
  const auto ec = c.read(io, rest, 1);
  BOOST_TEST((ec == asio::error::eof), ec.message());  // close_notify, not a truncation
  BOOST_TEST(!c.shutdown(io));
  BOOST_TEST(eventually([&] { return server.context().registry.size() == 0; }));
  BOOST_TEST(server.context().counters.session_errors.load() == 0u);
}

BOOST_AUTO_TEST_CASE(fifty_clients_in_parallel_on_two_threads) {
  tls_server server(server_settings(), 2);
  asio::io_context io;
  constexpr std::size_t clients = 50;
  constexpr std::size_t size = 64 * 1024;
  std::vector<std::unique_ptr<tls_client>> cs;
  std::vector<std::string> sent(clients), got(clients);
  std::size_t finished = 0, ok = 0;
  for (std::size_t i = 0; i < clients; ++i) {
    cs.push_back(std::make_unique<tls_client>(io, server.port()));
    sent[i].resize(size);
    for (std::size_t j = 0; j < size; ++j) sent[i][j] = pattern(j + i * 7);
    got[i].resize(size);
  }
  for (std::size_t i = 0; i < clients; ++i) {
    auto& c = *cs[i];
    c.stream.async_handshake(ssl::stream_base::client, [&, i](const error_code& ec) {
      if (ec) {
        ++finished;
        return;
      }
      asio::async_write(cs[i]->stream, asio::buffer(sent[i]), [](const error_code&, std::size_t) {});
      asio::async_read(cs[i]->stream, asio::buffer(got[i]), [&, i](const error_code& e, std::size_t) {
        ++finished;
        if (!e && got[i] == sent[i]) ++ok;
      });
    });
  }
  io.restart();
  const auto until = clock_type::now() + 60s;
  while (finished < clients && clock_type::now() < until) io.run_one_for(until - clock_type::now());
  BOOST_TEST(finished == clients);
  BOOST_TEST(ok == clients);
  BOOST_TEST(server.stats().handshakes.load() == clients);
}

BOOST_AUTO_TEST_CASE(client_trusting_another_ca_refuses_us) {
  tls_server server(server_settings());
  asio::io_context io;
  client_options o;
  o.ca = certs().other_ca;
  tls_client c(io, server.port(), o);
  const auto ec = c.handshake(io);
  BOOST_TEST(ec.failed());
  BOOST_TEST(ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_CERTIFICATE_VERIFY_FAILED,
             ec.message());
  BOOST_TEST(eventually([&] { return server.stats().failures(tls_failure::rejected_by_client) == 1; }));
  BOOST_TEST(server.context().counters.session_errors.load() == 0u);  // counted once, as TLS
}

BOOST_AUTO_TEST_CASE(expired_certificate_is_refused_by_the_client) {
  auto settings = server_settings();
  settings.cert_file = certs().expired.cert;
  settings.key_file = certs().expired.key;
  tls_server server(settings);
  asio::io_context io;
  tls_client c(io, server.port());
  const auto ec = c.handshake(io);
  BOOST_TEST(ec.failed());
  BOOST_TEST(SSL_get_verify_result(c.stream.native_handle()) == X509_V_ERR_CERT_HAS_EXPIRED);
  BOOST_TEST(eventually([&] { return server.stats().failures(tls_failure::rejected_by_client) == 1; }));
}

BOOST_AUTO_TEST_CASE(mtls_requires_a_client_certificate_from_our_ca) {
  auto settings = server_settings();
  settings.client_ca_file = certs().ca;
  tls_server server(settings);
  asio::io_context io;
  {
    client_options o;
    o.cert = certs().client;
    tls_client c(io, server.port(), o);
    BOOST_REQUIRE(!c.handshake(io));
    BOOST_TEST(round_trip(io, c, "with a certificate"));
  }
  {
    // In TLS 1.3 the client finishes its handshake before the server judges its
    // certificate: the refusal shows on the first read.
    tls_client c(io, server.port());
    std::string back;
    const bool refused =
        c.handshake(io).failed() || c.write(io, "x").failed() || c.read(io, back, 1).failed();
    BOOST_TEST(refused);
    BOOST_TEST(eventually([&] { return server.stats().failures(tls_failure::no_client_cert) == 1; }));
  }
  {
    client_options o;
    o.cert = certs().other_client;
    tls_client c(io, server.port(), o);
    std::string back;
    const bool refused =
        c.handshake(io).failed() || c.write(io, "x").failed() || c.read(io, back, 1).failed();
    BOOST_TEST(refused);
    BOOST_TEST(eventually([&] { return server.stats().failures(tls_failure::bad_client_cert) == 1; }));
  }
  BOOST_TEST(server.stats().handshakes.load() == 1u);
}

BOOST_AUTO_TEST_CASE(plain_bytes_are_not_tls) {
  tls_server server(server_settings());
  for (const std::string text : {"hello echo\n", "GET / HTTP/1.1\r\nHost: x\r\n\r\n"}) {
    const int fd = raw_connect(server.port());
    BOOST_REQUIRE(::send(fd, text.data(), text.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(text.size()));
    const int end = read_to_end(fd);
    BOOST_TEST((end == 0 || end == ECONNRESET), "connection closed: " << end);
    ::close(fd);
  }
  BOOST_TEST(eventually([&] { return server.stats().failures(tls_failure::not_tls) == 2; }));
  BOOST_TEST(server.stats().failures(tls_failure::other) == 0u);
}

BOOST_AUTO_TEST_CASE(silent_client_hits_the_handshake_timeout) {
  auto settings = server_settings();
  settings.handshake_timeout = 500ms;
  tls_server server(settings);
  const auto started = clock_type::now();
  const int fd = raw_connect(server.port());
  const int end = read_to_end(fd);  // the server closes it; SO_RCVTIMEO (10 s) bounds the wait
  const auto took = clock_type::now() - started;
  ::close(fd);
  BOOST_TEST(end == 0);
  BOOST_TEST(took >= 450ms);
  BOOST_TEST(took < 5s);
  BOOST_TEST(eventually([&] { return server.stats().failures(tls_failure::timeout) == 1; }));
  BOOST_TEST(server.context().counters.idle_timeouts.load() == 1u);
}

BOOST_AUTO_TEST_CASE(reload_swaps_certificates_for_new_handshakes_only) {
  namespace fs = std::filesystem;
  const std::string live_cert = certs().dir + "/live.pem", live_key = certs().dir + "/live-key.pem";
  fs::copy_file(certs().server.cert, live_cert, fs::copy_options::overwrite_existing);
  fs::copy_file(certs().server.key, live_key, fs::copy_options::overwrite_existing);
  auto settings = server_settings();
  settings.cert_file = live_cert;
  settings.key_file = live_key;
  tls_server server(settings);
  asio::io_context io;
  tls_client old_client(io, server.port());
  BOOST_REQUIRE(!old_client.handshake(io));
  BOOST_TEST(old_client.peer_serial() == echo::test::test_certs::server_serial);
  BOOST_REQUIRE(round_trip(io, old_client, std::string(200000, 'a')));

  fs::copy_file(certs().server2.cert, live_cert, fs::copy_options::overwrite_existing);
  fs::copy_file(certs().server2.key, live_key, fs::copy_options::overwrite_existing);
  BOOST_TEST(server.tls().reload() == "");
  BOOST_TEST(round_trip(io, old_client, std::string(200000, 'b')));  // still streaming
  {
    tls_client fresh(io, server.port());
    BOOST_REQUIRE(!fresh.handshake(io));
    BOOST_TEST(fresh.peer_serial() == echo::test::test_certs::server2_serial);
    BOOST_TEST(round_trip(io, fresh, "new certificate"));
  }

  // A broken certificate, then a certificate with someone else's key: both refused, the
  // context in use stays.
  fs::copy_file(certs().broken, live_cert, fs::copy_options::overwrite_existing);
  const std::string why = server.tls().reload();
  BOOST_TEST(why.find(live_cert) != std::string::npos, why);
  fs::copy_file(certs().server.cert, live_cert, fs::copy_options::overwrite_existing);
  BOOST_TEST(server.tls().reload().find(live_key) != std::string::npos);
  {
    tls_client fresh(io, server.port());
    BOOST_REQUIRE(!fresh.handshake(io));
    BOOST_TEST(fresh.peer_serial() == echo::test::test_certs::server2_serial);
  }
  BOOST_TEST(round_trip(io, old_client, "still the old one"));
  BOOST_TEST(old_client.peer_serial() == echo::test::test_certs::server_serial);
  BOOST_TEST(server.stats().reloads.load() == 1u);
  BOOST_TEST(server.stats().reload_failures.load() == 2u);
}

BOOST_AUTO_TEST_CASE(tls_1_3_minimum_refuses_a_1_2_client) {
  auto settings = server_settings();
  settings.min_version = echo::tls_settings::version::tls1_3;
  tls_server server(settings);
  asio::io_context io;
  client_options o;
  o.max_version = TLS1_2_VERSION;
  tls_client old(io, server.port(), o);
  BOOST_TEST(old.handshake(io).failed());
  BOOST_TEST(eventually([&] { return server.stats().failures(tls_failure::protocol) == 1; }));
  tls_client modern(io, server.port());
  BOOST_REQUIRE(!modern.handshake(io));
  BOOST_TEST(std::string(SSL_get_version(modern.stream.native_handle())) == "TLSv1.3");
}

BOOST_AUTO_TEST_CASE(tls_1_2_works_by_default) {
  tls_server server(server_settings());
  asio::io_context io;
  client_options o;
  o.max_version = TLS1_2_VERSION;
  tls_client c(io, server.port(), o);
  BOOST_REQUIRE(!c.handshake(io));
  BOOST_TEST(std::string(SSL_get_version(c.stream.native_handle())) == "TLSv1.2");
  BOOST_TEST(round_trip(io, c, std::string(70000, 'z')));
  BOOST_TEST(!c.shutdown(io));
}

// A TLS 1.3 KeyUpdate asking for ours: OpenSSL must answer it while the session reads, so
// the server has to write from inside a read. The echo must go on, under the new keys both
// ways, and the handshake counters must not count it as anything.
BOOST_AUTO_TEST_CASE(key_update_mid_stream_is_answered) {
  tls_server server(server_settings());
  asio::io_context io;
  tls_client c(io, server.port(), {});
  BOOST_REQUIRE(!c.handshake(io));
  BOOST_REQUIRE(std::string(SSL_get_version(c.stream.native_handle())) == "TLSv1.3");
  BOOST_REQUIRE(round_trip(io, c, "before"));
  for (int i = 0; i < 20; ++i) {
    BOOST_REQUIRE(SSL_key_update(c.stream.native_handle(), SSL_KEY_UPDATE_REQUESTED) == 1);
    BOOST_TEST(round_trip(
        io, c, std::string(20000 + static_cast<std::size_t>(i) * 997, static_cast<char>('a' + i))));
  }
  BOOST_TEST(!c.shutdown(io));
}

// Resident memory a connection costs the server once its handshake is done and it sits
// idle. The clients run in a child process (forked before the server starts any thread),
// so only the server's side is in our RSS.
BOOST_AUTO_TEST_CASE(idle_connection_memory, *echo::test::skip_if(under_sanitizer)) {
  constexpr std::size_t clients = 200;
  (void)certs();  // made once, before the fork, so both processes use the same files
  int to_child[2], from_child[2];
  BOOST_REQUIRE(::pipe(to_child) == 0 && ::pipe(from_child) == 0);
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    ::close(to_child[1]);
    ::close(from_child[0]);
    std::uint16_t port = 0;
    if (::read(to_child[0], &port, sizeof port) != sizeof port) ::_exit(2);
    asio::io_context io;
    std::vector<std::unique_ptr<tls_client>> cs;
    std::size_t done = 0, ok = 0;
    for (std::size_t i = 0; i < clients; ++i) {
      cs.push_back(std::make_unique<tls_client>(io, port));
      cs.back()->stream.async_handshake(ssl::stream_base::client, [&](const error_code& ec) {
        ++done;
        if (!ec) ++ok;
      });
    }
    const auto until = clock_type::now() + 60s;
    while (done < clients && clock_type::now() < until) io.run_one_for(until - clock_type::now());
    const char result = ok == clients ? 'y' : 'n';
    if (::write(from_child[1], &result, 1) != 1) ::_exit(2);
    char bye = 0;
    (void)!::read(to_child[0], &bye, 1);  // the parent has measured (or gave up: EOF)
    ::_exit(0);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  const auto rss = [] {
    std::ifstream statm("/proc/self/statm");
    long pages = 0, resident = 0;
    statm >> pages >> resident;
    return resident * ::sysconf(_SC_PAGESIZE);
  };
  long per_connection = -1;
  {
    tls_server server(server_settings());
    {  // one connection first: what every process pays once (OpenSSL tables, pools) is not per connection
      asio::io_context io;
      tls_client warm(io, server.port());
      BOOST_REQUIRE(!warm.handshake(io));
      BOOST_REQUIRE(round_trip(io, warm, "warm"));
      BOOST_REQUIRE(!warm.shutdown(io));
    }
    BOOST_REQUIRE(eventually([&] { return server.context().registry.size() == 0; }));
    const long before = rss();
    const std::uint16_t port = server.port();
    BOOST_REQUIRE(::write(to_child[1], &port, sizeof port) == sizeof port);
    char result = 0;
    BOOST_REQUIRE(::read(from_child[0], &result, 1) == 1);
    BOOST_TEST(result == 'y');
    BOOST_TEST(eventually([&] { return server.stats().handshakes.load() == clients + 1; }));
    const long after = rss();
    per_connection = (after - before) / static_cast<long>(clients);
    std::cout << "idle TLS connection: " << per_connection << " bytes resident on the server (" << clients
              << " connections, RSS " << before / 1024 << " -> " << after / 1024 << " KiB)\n";
    ::close(to_child[1]);
  }
  int status = 0;
  BOOST_TEST(eventually([&] { return ::waitpid(child, &status, WNOHANG) == child; }));
  ::close(from_child[0]);
  BOOST_TEST(per_connection > 0);
  BOOST_TEST(per_connection < 128 * 1024);
}

BOOST_AUTO_TEST_CASE(setup_errors_name_the_file) {
  auto settings = server_settings();
  settings.cert_file = certs().dir + "/missing.pem";
  try {
    echo::detail::tls_context ctx(settings);
    BOOST_ERROR("a missing certificate was accepted");
  } catch (const echo::setup_error& e) {
    BOOST_TEST(std::string(e.what()).find(settings.cert_file) != std::string::npos, e.what());
  }
  settings = server_settings();
  settings.key_file = certs().client.key;  // not the server certificate's key
  BOOST_CHECK_THROW(echo::detail::tls_context ctx(settings), echo::setup_error);
}

BOOST_AUTO_TEST_SUITE_END()
