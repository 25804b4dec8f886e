#define BOOST_TEST_MODULE tls_listener
#include <boost/test/unit_test.hpp>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "echo/config.hpp"
#include "echo/config_error.hpp"
#include "echo/listen_url.hpp"
#include "echo/server.hpp"
#include "server_fixture.hpp"
#include "socket_util.hpp"
#include "test_certs.hpp"

using namespace std::chrono_literals;
using echo::test::server_fixture;

namespace {

const echo::test::test_certs& certs() {
  static const echo::test::test_certs c;
  return c;
}

echo::config tls_config(const char* url) {
  auto cfg = server_fixture::default_config();
  cfg.listeners = {echo::parse_listen_url(url)};
  cfg.tls.cert_file = certs().server.cert;
  cfg.tls.key_file = certs().server.key;
  return cfg;
}

// A blocking TLS client over a TCP socket with 5 s receive and send timeouts, so no test
// can hang on it. Verifies the server against the test CA.
class tls_client {
 public:
  explicit tls_client(std::uint16_t port) {
    ctx_.reset(SSL_CTX_new(TLS_client_method()));
    if (!ctx_ || SSL_CTX_load_verify_locations(ctx_.get(), certs().ca.c_str(), nullptr) != 1)
      throw std::runtime_error("client context");
    SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    sockaddr_storage addr{};
    const auto len = echo::test::make_sockaddr("127.0.0.1", port, addr);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), len) != 0)
      throw std::runtime_error("connect");
    ssl_.reset(SSL_new(ctx_.get()));
    SSL_set_fd(ssl_.get(), fd_);
    SSL_set1_host(ssl_.get(), "127.0.0.1");
    if (SSL_connect(ssl_.get()) != 1) throw std::runtime_error("handshake failed");
  }
  tls_client(const tls_client&) = delete;
  tls_client& operator=(const tls_client&) = delete;
  ~tls_client() {
    ssl_.reset();
    if (fd_ >= 0) ::close(fd_);
  }

  std::string echo(const std::string& text) {
    if (SSL_write(ssl_.get(), text.data(), static_cast<int>(text.size())) != static_cast<int>(text.size()))
      throw std::runtime_error("write failed");
    std::string got;
    while (got.size() < text.size()) {
      char buf[16384];
      const int n = SSL_read(ssl_.get(), buf, sizeof buf);
      if (n <= 0) throw std::runtime_error("read failed");
      got.append(buf, static_cast<std::size_t>(n));
    }
    return got;
  }

  long server_serial() const {
    X509* peer = SSL_get1_peer_certificate(ssl_.get());
    const long serial = peer ? ASN1_INTEGER_get(X509_get0_serialNumber(peer)) : -1;
    X509_free(peer);
    return serial;
  }

 private:
  struct free_ctx {
    void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
  };
  struct free_ssl {
    void operator()(SSL* s) const { SSL_free(s); }
  };
  std::unique_ptr<SSL_CTX, free_ctx> ctx_;
  std::unique_ptr<SSL, free_ssl> ssl_;
  int fd_ = -1;
};

}  // namespace

BOOST_AUTO_TEST_CASE(a_tls_listener_echoes_and_names_itself) {
  server_fixture f(1, tls_config("tls://127.0.0.1:0"));
  const auto& l = *f.server().listeners().front();
  BOOST_TEST(l.name() == "tls://127.0.0.1:" + std::to_string(l.port()));
  BOOST_TEST(f.server().ready_lines().front() == "listening on " + l.name());
  tls_client c(l.port());
  BOOST_TEST(c.echo("hello over tls\n") == "hello over tls\n");
  BOOST_TEST(c.server_serial() == echo::test::test_certs::server_serial);
}

BOOST_AUTO_TEST_CASE(five_hundred_tls_clients_at_once) {
  server_fixture f(2, tls_config("tls://127.0.0.1:0"));
  std::vector<std::unique_ptr<tls_client>> clients;
  for (int i = 0; i < 500; ++i) clients.push_back(std::make_unique<tls_client>(f.port()));
  std::size_t ok = 0;
  for (std::size_t i = 0; i < clients.size(); ++i) {
    const auto text = "client " + std::to_string(i) + std::string(i % 97, 'x');
    ok += clients[i]->echo(text) == text ? 1U : 0U;
  }
  BOOST_TEST(ok == 500U);
  BOOST_TEST(f.server().session_count() == 500U);
}

// A reload swaps the certificate for new handshakes; the session already streaming keeps
// going on the old one; a broken file keeps what is in use.
BOOST_AUTO_TEST_CASE(reload_while_a_session_streams) {
  const auto dir = std::filesystem::path(certs().dir) / "reload";
  std::filesystem::create_directories(dir);
  const auto cert = (dir / "cert.pem").string(), key = (dir / "key.pem").string();
  const auto opts = std::filesystem::copy_options::overwrite_existing;
  std::filesystem::copy_file(certs().server.cert, cert, opts);
  std::filesystem::copy_file(certs().server.key, key, opts);
  auto cfg = tls_config("tls://127.0.0.1:0");
  cfg.tls.cert_file = cert;
  cfg.tls.key_file = key;
  server_fixture f(2, cfg);
  tls_client old_session(f.port());
  BOOST_TEST(old_session.echo("before") == "before");
  std::filesystem::copy_file(certs().server2.cert, cert, opts);
  std::filesystem::copy_file(certs().server2.key, key, opts);
  BOOST_TEST(f.server().reload_tls().empty());
  for (int i = 0; i < 20; ++i)
    BOOST_TEST(old_session.echo(std::string(10000, static_cast<char>('a' + i % 26))).size() == 10000U);
  BOOST_TEST(old_session.server_serial() == echo::test::test_certs::server_serial);
  tls_client fresh(f.port());
  BOOST_TEST(fresh.server_serial() == echo::test::test_certs::server2_serial);
  std::filesystem::copy_file(certs().broken, cert, opts);
  const auto why = f.server().reload_tls();
  BOOST_TEST(!why.empty());
  BOOST_TEST_MESSAGE(why);
  tls_client after_bad(f.port());
  BOOST_TEST(after_bad.server_serial() == echo::test::test_certs::server2_serial);
  BOOST_TEST(old_session.echo("still here") == "still here");
}

// The mirror of plain bytes on the TLS port: a TLS client on a plain echo port gets its own
// ClientHello back, which is no ServerHello, and its handshake fails rather than hangs.
BOOST_AUTO_TEST_CASE(tls_to_a_plain_port_fails_the_handshake) {
  server_fixture f(1, tls_config("tcp://127.0.0.1:0"));
  BOOST_CHECK_THROW(tls_client c(f.port()), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(a_tls_listener_without_a_certificate_is_a_config_error) {
  auto cfg = tls_config("tls://127.0.0.1:0");
  cfg.tls.cert_file.clear();
  BOOST_CHECK_THROW(echo::validate(cfg), echo::config_error);
  cfg = tls_config("tls://127.0.0.1:0");
  cfg.tls.key_file.clear();
  BOOST_CHECK_THROW(echo::validate(cfg), echo::config_error);
}
