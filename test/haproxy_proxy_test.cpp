#define BOOST_TEST_MODULE haproxy_proxy
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "detail/proxy_reader.hpp"
#include "haproxy_process.hpp"
#include "skip.hpp"
#include "socket_util.hpp"
#include "unique_fd.hpp"

// Real haproxy relays a loopback client to an acceptor in this test, and the PROXY header it
// sends is read with echo-svc's peek reader: the client's own address and port must come out,
// and the payload must follow untouched.

namespace echo::detail {
std::ostream& operator<<(std::ostream& os, proxy_reader::status s) { return os << to_string(s); }
std::ostream& operator<<(std::ostream& os, proxy_error e) { return os << to_string(e); }
}  // namespace echo::detail

namespace {

namespace ip = boost::asio::ip;
using echo::detail::proxy_reader;
using echo::test::haproxy_process;
using echo::test::unique_fd;

constexpr auto deadline_after = std::chrono::seconds(10);

std::string haproxy_missing() {
  return echo::test::find_haproxy().empty() ? "haproxy is not installed (apt-get install haproxy)" : "";
}

ip::tcp::endpoint local_endpoint(int fd) {
  sockaddr_in addr{};
  socklen_t len = sizeof addr;
  BOOST_TEST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  return {ip::address_v4(ntohl(addr.sin_addr.s_addr)), ntohs(addr.sin_port)};
}

// A listening socket on 127.0.0.1 at a port the kernel picks.
unique_fd loopback_listener() {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  BOOST_TEST_REQUIRE(fd.get() >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_TEST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_TEST_REQUIRE(::listen(fd.get(), 8) == 0);
  return fd;
}

// A client bound to 127.0.0.1 first, so its source address and port are known before it
// connects to haproxy's frontend.
unique_fd connect_client(std::uint16_t port) {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  BOOST_TEST_REQUIRE(fd.get() >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_TEST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  addr.sin_port = htons(port);
  const int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  BOOST_TEST_REQUIRE((rc == 0 || errno == EINPROGRESS));
  pollfd p{fd.get(), POLLOUT, 0};
  BOOST_TEST_REQUIRE(::poll(&p, 1, 10'000) == 1);
  int err = 0;
  socklen_t len = sizeof err;
  BOOST_TEST_REQUIRE(::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0);
  BOOST_TEST_REQUIRE(err == 0);
  return fd;
}

bool wait_readable(int fd, std::chrono::steady_clock::time_point deadline) {
  pollfd p{fd, POLLIN, 0};
  for (;;) {
    const int ms = echo::test::poll_timeout_ms(deadline, 1000);
    if (ms == 0) return false;
    const int r = ::poll(&p, 1, ms);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return false;
  }
}

struct relayed {
  proxy_reader::status status;
  echo::detail::proxy_result header;
  ip::tcp::endpoint client;    ///< the client's own address, as it bound it
  ip::tcp::endpoint frontend;  ///< haproxy's
  std::string payload;         ///< what the acceptor read after the header
};

// One connection through haproxy: the client sends `message` and half-closes; the acceptor
// reads the header with the peek reader, then the rest until EOF.
relayed relay(haproxy_process::header kind, echo::proxy_protocol accepted, const std::string& message) {
  const auto backend = loopback_listener();
  haproxy_process proxy("127.0.0.1", local_endpoint(backend.get()).port(), kind);
  BOOST_TEST_MESSAGE("haproxy frontend on 127.0.0.1:" << proxy.port());
  const auto client = connect_client(proxy.port());
  relayed out{proxy_reader::status::need_more,
              {},
              local_endpoint(client.get()),
              {ip::make_address_v4("127.0.0.1"), proxy.port()},
              {}};
  BOOST_TEST_REQUIRE(::send(client.get(), message.data(), message.size(), MSG_NOSIGNAL) ==
                     static_cast<ssize_t>(message.size()));
  ::shutdown(client.get(), SHUT_WR);

  const auto deadline = std::chrono::steady_clock::now() + deadline_after;
  BOOST_TEST_REQUIRE(wait_readable(backend.get(), deadline),
                     "haproxy never connected; its stderr: " << proxy.stderr_text());
  const unique_fd conn(::accept4(backend.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
  BOOST_TEST_REQUIRE(conn.get() >= 0);
  proxy_reader reader(accepted);
  for (int calls = 0; calls < 1000; ++calls) {
    out.status = reader.read(conn.get());
    if (out.status != proxy_reader::status::need_more || !wait_readable(conn.get(), deadline)) break;
  }
  out.header = reader.header();
  if (out.status != proxy_reader::status::done) return out;
  char buf[4096];
  while (wait_readable(conn.get(), deadline)) {
    const ssize_t n = ::recv(conn.get(), buf, sizeof buf, 0);
    if (n > 0) {
      out.payload.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0 || errno != EAGAIN) {
      break;
    }
  }
  return out;
}

void check_relayed(const relayed& r, std::uint8_t version, const std::string& message) {
  BOOST_TEST_REQUIRE(r.status == proxy_reader::status::done);
  BOOST_TEST_MESSAGE("header of " << r.header.length << " bytes from " << r.header.addresses->source);
  BOOST_TEST(r.header.version == version);
  BOOST_TEST_REQUIRE(r.header.addresses.has_value());
  BOOST_TEST(r.header.addresses->source == r.client);
  BOOST_TEST(r.header.addresses->destination == r.frontend);
  BOOST_TEST(r.payload == message);
}

}  // namespace

BOOST_AUTO_TEST_CASE(haproxy_send_proxy_v1, *echo::test::skip_if(haproxy_missing)) {
  const std::string message = "hello through haproxy, v1\r\n";
  const auto r = relay(haproxy_process::header::v1, echo::proxy_protocol::v1, message);
  check_relayed(r, 1, message);
}

BOOST_AUTO_TEST_CASE(haproxy_send_proxy_v2, *echo::test::skip_if(haproxy_missing)) {
  const std::string message = "hello through haproxy, v2";
  const auto r = relay(haproxy_process::header::v2, echo::proxy_protocol::any, message);
  check_relayed(r, 2, message);
  BOOST_TEST(r.header.length == 16U + 12U);
}

BOOST_AUTO_TEST_CASE(haproxy_send_proxy_v2_with_tlvs, *echo::test::skip_if(haproxy_missing)) {
  const std::string message(10000, 'x');
  const auto r = relay(haproxy_process::header::v2_tlvs, echo::proxy_protocol::v2, message);
  check_relayed(r, 2, message);
  // The TLVs were there, and skipped.
  BOOST_TEST(r.header.length > 16U + 12U);
}

BOOST_AUTO_TEST_CASE(haproxy_v2_rejected_where_only_v1_is_accepted, *echo::test::skip_if(haproxy_missing)) {
  const auto r = relay(haproxy_process::header::v2, echo::proxy_protocol::v1, "x");
  BOOST_TEST(r.status == proxy_reader::status::invalid);
  BOOST_TEST(r.header.reason == echo::detail::proxy_error::not_v1);
}
