#define BOOST_TEST_MODULE proxy_process
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/json/object.hpp>

#include "child_process.hpp"
#include "echo_client.hpp"
#include "echo_svc_process.hpp"
#include "haproxy_process.hpp"
#include "json_lines.hpp"
#include "skip.hpp"
#include "unique_fd.hpp"

// The echo-svc binary behind a real haproxy: with proxy-protocol on, the connection's log
// record names the client that connected to haproxy, not haproxy.

using namespace std::chrono_literals;
using echo::test::child_process;
using echo::test::echo_client;
using echo::test::haproxy_process;
using echo::test::unique_fd;

namespace {

using clock_type = std::chrono::steady_clock;

std::string haproxy_missing() {
  return echo::test::find_haproxy().empty() ? "haproxy is not installed (apt-get install haproxy)" : "";
}

/// echo-svc serving only `url`, logging every connection as JSON on stderr.
struct service {
  explicit service(const std::string& url)
      : child(std::vector<std::string>{echo::test::echo_svc_path(), "--listen", url, "--log-level", "debug",
                                       "--log-format", "json"}) {
    const auto line = child.read_line(10s);
    BOOST_TEST_REQUIRE(line.has_value(), "no ready line; stderr: " << child.stderr_text());
    std::string address;
    BOOST_TEST_REQUIRE(echo::test::parse_ready_line(*line, address, port), "ready line: " << *line);
    BOOST_TEST_REQUIRE(address == "127.0.0.1");
  }

  child_process child;
  std::uint16_t port = 0;
};

// A client bound to 127.0.0.1 at a port the kernel picks, read back before it connects, so
// the test knows the address haproxy will see; connected to 127.0.0.1:`port`.
echo_client bound_client(std::uint16_t port, std::uint16_t& own_port) {
  unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  BOOST_TEST_REQUIRE(fd.get() >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_TEST_REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  BOOST_TEST_REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  own_port = ntohs(addr.sin_port);
  BOOST_TEST_REQUIRE(own_port != 0);
  addr.sin_port = htons(port);
  const int rc = ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  BOOST_TEST_REQUIRE((rc == 0 || errno == EINPROGRESS));
  pollfd p{fd.get(), POLLOUT, 0};
  BOOST_TEST_REQUIRE(::poll(&p, 1, 10'000) == 1);
  int err = 0;
  len = sizeof err;
  BOOST_TEST_REQUIRE(::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) == 0);
  BOOST_TEST_REQUIRE(err == 0);
  return echo_client(fd.release());
}

// The complete JSON lines of `text` (a line still being written is left for later).
std::vector<boost::json::object> complete_lines(const std::string& text) {
  const auto end = text.rfind('\n');
  if (end == std::string::npos) return {};
  return echo::test::parse_json_lines(text.substr(0, end + 1));
}

// Waits, up to `limit`, for the conn_close events to include one; returns them all.
std::vector<boost::json::object> close_events(const child_process& svc, std::chrono::milliseconds limit) {
  const auto until = clock_type::now() + limit;
  for (;;) {
    auto closes = echo::test::events_named(complete_lines(svc.stderr_text()), "conn_close");
    if (!closes.empty() || clock_type::now() >= until) return closes;
    std::this_thread::sleep_for(20ms);
  }
}

/// One connection through haproxy to echo-svc: the payload comes back, and the one close
/// record names the client's own address.
void check_logged_peer(const std::string& url, haproxy_process::header kind) {
  service svc(url);
  haproxy_process proxy("127.0.0.1", svc.port, kind);
  std::uint16_t own_port = 0;
  const std::string payload = "through haproxy to echo-svc\n";
  {
    auto c = bound_client(proxy.port(), own_port);
    c.send_all(payload);
    BOOST_TEST(c.recv_exact(payload.size(), 10s) == payload,
               "echo-svc stderr: " << svc.child.stderr_text() << "\nhaproxy stderr: " << proxy.stderr_text());
    c.shutdown_write();
    BOOST_TEST((c.wait_end(10s) == echo_client::end::eof));
  }
  const std::string client = "127.0.0.1:" + std::to_string(own_port);
  BOOST_TEST_MESSAGE("client " << client << ", haproxy frontend 127.0.0.1:" << proxy.port()
                               << ", echo-svc 127.0.0.1:" << svc.port);

  const auto closes = close_events(svc.child, 10s);
  BOOST_TEST_REQUIRE(closes.size() == 1U, "echo-svc stderr:\n" << svc.child.stderr_text());
  const auto* peer = closes[0].if_contains("peer");
  BOOST_TEST_REQUIRE(peer != nullptr);
  BOOST_TEST_REQUIRE(peer->is_string());
  // haproxy's own connection comes from another port of 127.0.0.1: only the header could
  // have told echo-svc this one.
  BOOST_TEST(std::string(peer->as_string()) == client);

  svc.child.signal(SIGTERM);
  BOOST_TEST(svc.child.wait(10s).value_or(-1) == 0);
}

}  // namespace

BOOST_AUTO_TEST_CASE(logged_peer_is_the_client_behind_haproxy_send_proxy,
                     *echo::test::skip_if(haproxy_missing)) {
  check_logged_peer("tcp://127.0.0.1:0?proxy-protocol=v1", haproxy_process::header::v1);
}

BOOST_AUTO_TEST_CASE(logged_peer_is_the_client_behind_haproxy_send_proxy_v2,
                     *echo::test::skip_if(haproxy_missing)) {
  check_logged_peer("tcp://127.0.0.1:0?proxy-protocol=v2", haproxy_process::header::v2);
}

BOOST_AUTO_TEST_CASE(logged_peer_is_the_client_behind_haproxy_v2_with_tlvs_on_auto,
                     *echo::test::skip_if(haproxy_missing)) {
  check_logged_peer("tcp://127.0.0.1:0?proxy-protocol=auto", haproxy_process::header::v2_tlvs);
}
