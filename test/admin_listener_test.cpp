#define BOOST_TEST_MODULE admin_listener
#include <boost/test/unit_test.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include "detail/admin_listener.hpp"
#include "detail/admin_routes.hpp"
#include "detail/connections_json.hpp"
#include "detail/faults_json.hpp"
#include "detail/metrics_text.hpp"
#include "detail/process_metrics.hpp"
#include "detail/server_metrics.hpp"
#include "echo/config_error.hpp"
#include "echo/runtime.hpp"
#include "echo/server.hpp"
#include "echo/setup_error.hpp"
#include "echo/version.hpp"
#include "echo_client.hpp"
#include "http_client.hpp"
#include "server_fixture.hpp"

using namespace std::chrono_literals;
using echo::detail::admin_limits;
using echo::test::echo_client;
using echo::test::http_connection;
using echo::test::http_reply;
using echo::test::http_request;

namespace {

const std::string localhost = "127.0.0.1";

const std::string token = "s3cret-Token_1";

/// An echo server and an admin listener serving it on one runtime, both on 127.0.0.1 port 0,
/// wired as the service wires them: readiness taken from `ready` and held down by `held`,
/// connection records from the server, changes guarded by `admin_token` (empty: none).
struct admin_fixture {
  explicit admin_fixture(admin_limits limits = {},
                         echo::config cfg = echo::test::server_fixture::default_config(),
                         unsigned threads = 1, std::string admin_token = token)
      : rt(threads), srv(std::make_unique<echo::server>(rt.context(), with_admin(cfg), rt.multi_threaded())) {
    echo::detail::admin_routes::actions act;
    act.metrics = [this] {
      echo::detail::metrics_text out;
      echo::detail::write_server_metrics(out, *srv);
      echo::detail::write_process_metrics(out);
      return out.take();
    };
    act.ready = [this] { return ready.load() && !held.load(); };
    act.hold_unready = [this](bool hold) { held = hold; };
    act.connections = [this] { return echo::detail::connections_json(srv->connections()); };
    act.faults = [this] { return echo::detail::faults_json(*srv); };
    act.replace_faults = [this](std::string_view body) -> std::string {
      try {
        srv->set_faults(echo::detail::parse_faults_json(body));
      } catch (const echo::config_error& e) {
        return e.what();
      }
      return {};
    };
    act.reset_faults = [this] { srv->reset_faults(); };
    auto routes = std::make_shared<echo::detail::admin_routes>(std::move(act), std::move(admin_token));
    admin = std::make_unique<echo::detail::admin_listener>(
        rt.context(), echo::listener_spec{boost::asio::ip::make_address(localhost), 0}, rt.multi_threaded(),
        std::move(routes), limits);
    admin->start();
    srv->start();
    done = std::async(std::launch::async, [this] { rt.run(); });
  }
  admin_fixture(const admin_fixture&) = delete;
  admin_fixture& operator=(const admin_fixture&) = delete;

  ~admin_fixture() {
    // Both must stop for run() to return: the admin listener and its connections, the server.
    admin->stop();
    srv->shutdown(200ms);
    if (done.wait_for(10s) != std::future_status::ready) {
      BOOST_ERROR("run() did not return after stop; aborting");
      srv->abort();
      rt.stop();
      if (done.wait_for(5s) != std::future_status::ready) std::abort();
    }
  }

  std::uint16_t port() const { return admin->port(); }
  std::string metrics() const {
    const auto r = http_request(localhost, port(), "/metrics");
    BOOST_REQUIRE_EQUAL(r.status, 200);
    return r.body;
  }
  bool sessions_drop_to(std::size_t n, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (srv->session_count() != n) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(1ms);
    }
    return true;
  }

  // Records are kept for a server whose config has an admin listener.
  static echo::config with_admin(echo::config cfg) {
    if (!cfg.admin) cfg.admin = echo::listener_spec{boost::asio::ip::make_address(localhost), 0};
    return cfg;
  }

  std::atomic<bool> ready{true};
  std::atomic<bool> held{false};
  echo::runtime rt;
  std::unique_ptr<echo::server> srv;
  std::unique_ptr<echo::detail::admin_listener> admin;
  std::future<void> done;
};

// The value of the sample written exactly as `series` (name and labels); throws if absent.
std::string sample(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return line.substr(series.size() + 1);
  }
  throw std::runtime_error("no sample " + series + " in:\n" + text);
}

}  // namespace

BOOST_AUTO_TEST_CASE(get_and_head_on_every_route) {
  admin_fixture f;
  http_connection c(localhost, f.port());
  for (const std::string path : {"/metrics", "/healthz", "/readyz"}) {
    c.send_request("GET", path);
    const auto get = c.read_reply();
    BOOST_TEST(get.status == 200, path);
    BOOST_TEST(get.header("content-length") == std::to_string(get.body.size()));
    // HEAD: the same header, no body. The next request on the connection proves no body came.
    c.send_request("HEAD", path);
    const auto head = c.read_reply(true);
    BOOST_TEST(head.status == 200, path);
    BOOST_TEST(head.header("content-type") == get.header("content-type"));
    if (path != "/metrics") BOOST_TEST(head.header("content-length") == get.header("content-length"));
    else BOOST_TEST(std::stoul(head.header("content-length")) > 0U);
  }
  c.send_request("GET", "/healthz");
  const auto health = c.read_reply();
  BOOST_TEST(health.body == "ok\n");
  BOOST_TEST(health.header("content-type") == "text/plain; charset=utf-8");

  const auto m = http_request(localhost, f.port(), "/metrics?name[]=ignored");
  BOOST_TEST(m.status == 200);
  BOOST_TEST(m.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  BOOST_TEST(sample(m.body, std::string("echo_build_info{version=\"") + echo::version + "\"}") == "1");
  BOOST_TEST(m.body.find("# TYPE echo_received_bytes_total counter\n") != std::string::npos);
  BOOST_TEST(m.body.find("# TYPE process_open_fds gauge\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(readyz_follows_readiness_and_healthz_does_not) {
  admin_fixture f;
  BOOST_TEST(http_request(localhost, f.port(), "/readyz").status == 200);
  f.ready = false;
  const auto not_ready = http_request(localhost, f.port(), "/readyz");
  BOOST_TEST(not_ready.status == 503);
  BOOST_TEST(not_ready.body == "not ready\n");
  BOOST_TEST(http_request(localhost, f.port(), "/readyz", "HEAD").status == 503);
  BOOST_TEST(http_request(localhost, f.port(), "/healthz").status == 200);
  f.ready = true;
  BOOST_TEST(http_request(localhost, f.port(), "/readyz").status == 200);
}

BOOST_AUTO_TEST_CASE(other_methods_get_405_with_allow_unknown_paths_404) {
  admin_fixture f;
  http_connection c(localhost, f.port());
  for (const std::string method : {"POST", "PUT", "DELETE", "OPTIONS"}) {
    c.send_request(method, "/metrics");
    const auto r = c.read_reply();
    BOOST_TEST(r.status == 405, method);
    BOOST_TEST(r.header("allow") == "GET, HEAD");
  }
  c.send_request("GET", "/");
  BOOST_TEST(c.read_reply().status == 404);
  c.send_request("GET", "/metrics/extra");
  BOOST_TEST(c.read_reply().status == 404);
  c.send_request("POST", "/nowhere");
  BOOST_TEST(c.read_reply().status == 404);
  // Still the same keep-alive connection: none of these ends it.
  c.send_request("GET", "/healthz");
  BOOST_TEST(c.read_reply().status == 200);
}

BOOST_AUTO_TEST_CASE(malformed_requests_get_400_and_close) {
  admin_fixture f;
  const std::vector<std::string> bad{
      "BLAH\r\n\r\n",
      "GET /metrics HTTP/9.9\r\nHost: x\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11) + std::string(64, '\0') + "\r\n\r\n",
  };
  for (const auto& raw : bad) {
    http_connection c(localhost, f.port());
    c.send(raw);
    const auto r = c.read_reply();
    BOOST_TEST(r.status == 400, raw);
    BOOST_TEST(r.header("connection") == "close");
    BOOST_TEST(c.closed_within(3s));
  }
}

BOOST_AUTO_TEST_CASE(oversized_headers_get_431_and_close) {
  admin_fixture f;
  for (const std::size_t size : {9'000UL, 64'000UL}) {
    http_connection c(localhost, f.port());
    c.send("GET /metrics HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(size, 'a') + "\r\n\r\n");
    const auto r = c.read_reply();
    BOOST_TEST(r.status == 431, size);
    BOOST_TEST(c.closed_within(3s));
  }
  // Just under the limit is fine.
  http_connection c(localhost, f.port());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(7'000, 'a') + "\r\n\r\n");
  BOOST_TEST(c.read_reply().status == 200);
}

BOOST_AUTO_TEST_CASE(requests_with_a_body_get_413_and_close) {
  admin_fixture f;
  const std::vector<std::string> with_body{
      "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
      "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc",
      "POST /readyz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
      "PUT /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n" + std::string(100'000, 'x'),
  };
  for (const auto& raw : with_body) {
    http_connection c(localhost, f.port());
    c.send(raw);
    const auto r = c.read_reply();
    BOOST_TEST(r.status == 413, raw.substr(0, 40));
    BOOST_TEST(c.closed_within(3s));
  }
  // An explicit empty body is no body.
  http_connection c(localhost, f.port());
  c.send("GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
  BOOST_TEST(c.read_reply().status == 200);
}

BOOST_AUTO_TEST_CASE(keep_alive_is_bounded_by_requests_and_http_1_0_closes) {
  admin_limits limits;
  limits.max_requests = 3;
  admin_fixture f(limits);
  http_connection c(localhost, f.port());
  for (int i = 1; i <= 3; ++i) {
    c.send_request("GET", "/healthz");
    const auto r = c.read_reply();
    BOOST_TEST(r.status == 200);
    BOOST_TEST((r.header("connection") == "close") == (i == 3), "request " << i);
  }
  BOOST_TEST(c.closed_within(3s));

  http_connection old(localhost, f.port());
  old.send("GET /healthz HTTP/1.0\r\n\r\n");
  BOOST_TEST(old.read_reply().status == 200);
  BOOST_TEST(old.closed_within(3s));

  // Pipelined: both answered, in order.
  http_connection pipe(localhost, f.port());
  pipe.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
  BOOST_TEST(pipe.read_reply().status == 200);
  BOOST_TEST(pipe.read_reply().status == 404);
}

BOOST_AUTO_TEST_CASE(connections_above_the_cap_are_closed_at_once) {
  admin_limits limits;
  limits.max_connections = 2;
  admin_fixture f(limits, echo::test::server_fixture::default_config(), 4);
  auto first = std::make_unique<http_connection>(localhost, f.port());
  http_connection second(localhost, f.port());
  for (auto* c : {first.get(), &second}) {
    c->send_request("GET", "/healthz");
    BOOST_TEST(c->read_reply().status == 200);
  }
  http_connection third(localhost, f.port());
  BOOST_TEST(third.closed_within(3s));

  // A slot frees when a connection ends; the next one is served (once the server has seen
  // the end: retried, with a deadline).
  first.reset();
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  int status = 0;
  while (status == 0 && std::chrono::steady_clock::now() < deadline) {
    try {
      status = http_request(localhost, f.port(), "/healthz").status;
    } catch (const std::runtime_error&) {
      std::this_thread::sleep_for(10ms);  // closed at the cap: the old session is not gone yet
    }
  }
  BOOST_TEST(status == 200);
  second.send_request("GET", "/readyz");
  BOOST_TEST(second.read_reply().status == 200);
}

BOOST_AUTO_TEST_CASE(a_slow_client_is_closed_at_the_request_deadline) {
  admin_limits limits;
  limits.request_timeout = 500ms;
  admin_fixture f(limits);
  {
    http_connection c(localhost, f.port());
    c.send("GET /metrics HTTP/1.1\r\nHost: x\r\n");  // never finishes its headers
    const auto start = std::chrono::steady_clock::now();
    BOOST_TEST(c.closed_within(5s));
    const auto took = std::chrono::steady_clock::now() - start;
    BOOST_TEST((took >= 400ms),
               "closed after " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count());
    BOOST_TEST((took < 3s));
  }
  {
    // Idle keep-alive is bounded the same way.
    http_connection c(localhost, f.port());
    c.send_request("GET", "/healthz");
    BOOST_TEST(c.read_reply().status == 200);
    BOOST_TEST(c.closed_within(5s));
  }
  // A client that connects and sends nothing at all.
  http_connection silent(localhost, f.port());
  BOOST_TEST(silent.closed_within(5s));
}

BOOST_AUTO_TEST_CASE(metrics_equal_what_the_clients_did) {
  auto cfg = echo::test::server_fixture::default_config();
  cfg.max_connections = 1;
  admin_fixture f({}, cfg);
  const std::string listener = "{listener=\"tcp://127.0.0.1:" + std::to_string(f.srv->port()) + "\"";

  auto before = f.metrics();
  BOOST_TEST(sample(before, "echo_connections_accepted_total" + listener + "}") == "0");

  constexpr std::size_t n = 100'000;
  {
    echo_client a(localhost, f.srv->port());
    BOOST_TEST((a.echo_pattern(7, n) == echo::client::stream_error::none));
    const auto during = f.metrics();
    BOOST_TEST(sample(during, "echo_connections_open" + listener + "}") == "1");
    // At the cap: the next one is accepted and closed at once.
    echo_client rejected(localhost, f.srv->port());
    BOOST_TEST((rejected.wait_end() == echo_client::end::eof));
    a.shutdown_write();
    BOOST_TEST((a.wait_end() == echo_client::end::eof));
  }
  BOOST_REQUIRE(f.sessions_drop_to(0, 5s));
  {
    echo_client b(localhost, f.srv->port());
    b.send_all("abc");
    BOOST_TEST(b.recv_exact(3) == "abc");
    const linger reset_on_close{1, 0};
    ::setsockopt(b.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
    b.close();
  }
  BOOST_REQUIRE(f.sessions_drop_to(0, 5s));

  const auto m = f.metrics();
  BOOST_TEST_MESSAGE(m);
  BOOST_TEST(sample(m, "echo_connections_accepted_total" + listener + "}") == "2");
  BOOST_TEST(sample(m, "echo_connections_open" + listener + "}") == "0");
  BOOST_TEST(sample(m, "echo_connections_rejected_total" + listener + ",reason=\"limit\"}") == "1");
  BOOST_TEST(sample(m, "echo_connections_rejected_total" + listener + ",reason=\"descriptors\"}") == "0");
  BOOST_TEST(sample(m, "echo_accept_errors_total" + listener + "}") == "0");
  BOOST_TEST(sample(m, "echo_accept_pauses_total" + listener + "}") == "0");
  BOOST_TEST(sample(m, "echo_connections_closed_total" + listener + ",reason=\"eof\"}") == "1");
  BOOST_TEST(sample(m, "echo_connections_closed_total" + listener + ",reason=\"reset\"}") == "1");
  BOOST_TEST(sample(m, "echo_connections_closed_total" + listener + ",reason=\"idle_timeout\"}") == "0");
  BOOST_TEST(sample(m, "echo_received_bytes_total" + listener + "}") == std::to_string(n + 3));
  BOOST_TEST(sample(m, "echo_sent_bytes_total" + listener + "}") == std::to_string(n + 3));
}

// Every per-connection family carries the listener: accepts, bytes each way and ends.
BOOST_AUTO_TEST_CASE(each_listener_gets_its_own_counters) {
  auto cfg = echo::test::server_fixture::default_config();
  cfg.listeners.push_back(cfg.listeners.front());
  admin_fixture f({}, cfg);
  const auto& ls = f.srv->listeners();
  BOOST_REQUIRE_EQUAL(ls.size(), 2U);
  for (int i = 0; i < 3; ++i) {  // listener 1: three connections of 1 byte, ended by our FIN
    echo_client c(localhost, ls[1]->port());
    c.send_all("x");
    BOOST_TEST(c.recv_exact(1) == "x");
    c.shutdown_write();
    BOOST_TEST((c.wait_end() == echo_client::end::eof));
  }
  {  // listener 0: one connection of 5 bytes, ended by the client's RST
    echo_client c(localhost, ls[0]->port());
    c.send_all("hello");
    BOOST_TEST(c.recv_exact(5) == "hello");
    const linger reset_on_close{1, 0};
    ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
    c.close();
  }
  BOOST_REQUIRE(f.sessions_drop_to(0, 5s));
  const auto m = f.metrics();
  BOOST_TEST_MESSAGE(m);
  const auto label = [&](std::size_t i) {
    return "{listener=\"tcp://127.0.0.1:" + std::to_string(ls[i]->port()) + "\"";
  };
  BOOST_TEST(sample(m, "echo_connections_accepted_total" + label(0) + "}") == "1");
  BOOST_TEST(sample(m, "echo_connections_accepted_total" + label(1) + "}") == "3");
  BOOST_TEST(sample(m, "echo_connections_open" + label(1) + "}") == "0");
  BOOST_TEST(sample(m, "echo_received_bytes_total" + label(0) + "}") == "5");
  BOOST_TEST(sample(m, "echo_sent_bytes_total" + label(0) + "}") == "5");
  BOOST_TEST(sample(m, "echo_received_bytes_total" + label(1) + "}") == "3");
  BOOST_TEST(sample(m, "echo_sent_bytes_total" + label(1) + "}") == "3");
  BOOST_TEST(sample(m, "echo_connections_closed_total" + label(0) + ",reason=\"reset\"}") == "1");
  BOOST_TEST(sample(m, "echo_connections_closed_total" + label(0) + ",reason=\"eof\"}") == "0");
  BOOST_TEST(sample(m, "echo_connections_closed_total" + label(1) + ",reason=\"eof\"}") == "3");
  BOOST_TEST(sample(m, "echo_connections_closed_total" + label(1) + ",reason=\"reset\"}") == "0");
  BOOST_TEST(f.srv->bytes().received == 8U);
  BOOST_TEST(f.srv->bytes().sent == 8U);
}

BOOST_AUTO_TEST_CASE(bind_failure_is_a_setup_error_naming_the_address) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor taken(io, {boost::asio::ip::make_address(localhost), 0});
  const auto port = taken.local_endpoint().port();
  auto routes =
      std::make_shared<echo::detail::admin_routes>([] { return std::string(); }, [] { return true; });
  try {
    echo::detail::admin_listener l(io, echo::listener_spec{boost::asio::ip::make_address(localhost), port},
                                   false, routes);
    BOOST_ERROR("bound a port already in use");
  } catch (const echo::setup_error& e) {
    BOOST_TEST_MESSAGE(e.what());
    BOOST_TEST(std::string(e.what()).find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  }
}

// ---- live control and introspection --------------------------------------------------------

namespace {

http_reply admin_call(std::uint16_t port, const std::string& method, const std::string& target,
                      const std::string& bearer = {}, const std::string& body = {}) {
  return echo::test::http_call(localhost, port, method, target, bearer, body);
}

std::uint16_t local_port(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  BOOST_TEST_REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0);
  return ntohs(a.sin_port);
}

boost::json::object connections(const admin_fixture& f) {
  const auto r = http_request(localhost, f.port(), "/connections");
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(r.header("content-type") == "application/json");
  BOOST_TEST_MESSAGE(r.body);
  return boost::json::parse(r.body).as_object();
}

void reset_close(echo_client& c) {
  const linger reset_on_close{1, 0};
  ::setsockopt(c.fd(), SOL_SOCKET, SO_LINGER, &reset_on_close, sizeof reset_on_close);
  c.close();
}

// Every route that changes something: method, target, and a body it accepts.
struct change {
  std::string method, target, body;
};
const std::vector<change> changes{{"POST", "/readyz/fail", ""},
                                  {"POST", "/readyz/ok", ""},
                                  {"PUT", "/faults", R"({"faults": ["latency:delay=1ms"]})"},
                                  {"POST", "/faults/reset", ""}};

}  // namespace

BOOST_AUTO_TEST_CASE(changes_need_the_bearer_token_and_reads_do_not) {
  admin_fixture f;
  for (const auto& [method, target, body] : changes) {
    const auto before = f.srv->faults();
    const auto none = admin_call(f.port(), method, target, {}, body);
    BOOST_TEST(none.status == 401, target);
    BOOST_TEST(none.header("www-authenticate") == "Bearer realm=\"echo-svc\"");
    const auto wrong = admin_call(f.port(), method, target, token + "x", body);
    BOOST_TEST(wrong.status == 401, target);
    BOOST_TEST(wrong.header("www-authenticate").find("invalid_token") != std::string::npos);
    BOOST_TEST(admin_call(f.port(), method, target, token.substr(0, token.size() - 1), body).status == 401);
    {  // another scheme is no bearer token
      http_connection c(localhost, f.port());
      c.send(method + " " + target + " HTTP/1.1\r\nHost: x\r\nAuthorization: Basic " + token +
             "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
      BOOST_TEST(c.read_reply().status == 401);
    }
    BOOST_TEST((f.srv->faults() == before), target);  // nothing refused changed anything
    BOOST_TEST(admin_call(f.port(), method, target, token, body).status == 200, target);
  }
  BOOST_TEST(f.held == false);          // fail then ok, each with the token
  BOOST_TEST(f.srv->faults().empty());  // put, then reset
  // Reads need nothing.
  for (const std::string path : {"/metrics", "/healthz", "/readyz", "/connections", "/faults"})
    BOOST_TEST(http_request(localhost, f.port(), path).status == 200, path);
  // A change route read with GET is a method error, not a way around the token.
  const auto get = admin_call(f.port(), "GET", "/readyz/fail");
  BOOST_TEST(get.status == 405);
  BOOST_TEST(get.header("allow") == "POST");
  BOOST_TEST(f.held == false);
}

BOOST_AUTO_TEST_CASE(without_a_configured_token_nothing_can_be_changed) {
  admin_fixture f({}, echo::test::server_fixture::default_config(), 1, "");
  for (const auto& [method, target, body] : changes) {
    for (const std::string bearer : {"", "anything", "s3cret-Token_1"}) {
      const auto r = admin_call(f.port(), method, target, bearer, body);
      BOOST_TEST(r.status == 403, target << " with '" << bearer << "'");
      BOOST_TEST(r.body.find("--admin-token") != std::string::npos);
    }
  }
  BOOST_TEST(f.held == false);
  BOOST_TEST(f.srv->faults().empty());
  BOOST_TEST(http_request(localhost, f.port(), "/readyz").status == 200);
}

BOOST_AUTO_TEST_CASE(readyz_fail_and_ok_flip_readyz_and_a_drain_still_wins) {
  admin_fixture f;
  const auto fail = admin_call(f.port(), "POST", "/readyz/fail", token);
  BOOST_TEST(fail.status == 200);
  BOOST_TEST(fail.body == "not ready\n");
  BOOST_TEST(http_request(localhost, f.port(), "/readyz").status == 503);
  BOOST_TEST(http_request(localhost, f.port(), "/healthz").status == 200);
  BOOST_TEST(admin_call(f.port(), "POST", "/readyz/fail", token).status == 200);  // idempotent
  BOOST_TEST(http_request(localhost, f.port(), "/readyz").status == 503);
  const auto ok = admin_call(f.port(), "POST", "/readyz/ok", token);
  BOOST_TEST(ok.status == 200);
  BOOST_TEST(ok.body == "ready\n");
  BOOST_TEST(http_request(localhost, f.port(), "/readyz").status == 200);
  // Shutting down: readiness stays down whatever the admin asks.
  f.ready = false;
  const auto during_drain = admin_call(f.port(), "POST", "/readyz/ok", token);
  BOOST_TEST(during_drain.status == 200);
  BOOST_TEST(during_drain.body == "not ready\n");
  BOOST_TEST(http_request(localhost, f.port(), "/readyz").status == 503);
}

BOOST_AUTO_TEST_CASE(connections_match_what_the_clients_did) {
  admin_fixture f;
  const std::string listener = "tcp://127.0.0.1:" + std::to_string(f.srv->port());
  std::uint16_t eof_port = 0, reset_port = 0, open_port = 0;
  {
    echo_client a(localhost, f.srv->port());
    eof_port = local_port(a.fd());
    a.send_all("hello");
    BOOST_TEST(a.recv_exact(5) == "hello");
    a.shutdown_write();
    BOOST_TEST((a.wait_end() == echo_client::end::eof));
  }
  BOOST_REQUIRE(f.sessions_drop_to(0, 5s));
  {
    echo_client b(localhost, f.srv->port());
    reset_port = local_port(b.fd());
    BOOST_TEST((b.echo_pattern(3, 100'000) == echo::client::stream_error::none));
    reset_close(b);
  }
  BOOST_REQUIRE(f.sessions_drop_to(0, 5s));
  echo_client c(localhost, f.srv->port());
  open_port = local_port(c.fd());
  c.send_all("1234567");
  BOOST_TEST(c.recv_exact(7) == "1234567");

  const auto all = connections(f);
  const auto& open = all.at("open").as_array();
  const auto& closed = all.at("closed").as_array();
  BOOST_TEST(all.at("closed_capacity").to_number<std::uint64_t>() == 1000U);
  BOOST_TEST(all.at("closed_total").to_number<std::uint64_t>() == 2U);
  BOOST_REQUIRE_EQUAL(open.size(), 1U);
  BOOST_REQUIRE_EQUAL(closed.size(), 2U);

  const auto& o = open[0].as_object();
  BOOST_TEST(o.at("id").to_number<std::uint64_t>() == 3U);
  BOOST_TEST(o.at("listener").as_string() == listener);
  BOOST_TEST(o.at("peer").as_string() == "127.0.0.1:" + std::to_string(open_port));
  BOOST_TEST(o.at("proxy_source").is_null());
  BOOST_TEST(o.at("bytes_received").to_number<std::uint64_t>() == 7U);
  BOOST_TEST(o.at("bytes_sent").to_number<std::uint64_t>() == 7U);
  BOOST_TEST(o.at("end").is_null());
  BOOST_TEST(o.at("duration_us").is_int64());

  // Newest first: the reset one, then the one that ended with EOF.
  const auto& reset = closed[0].as_object();
  BOOST_TEST(reset.at("id").to_number<std::uint64_t>() == 2U);
  BOOST_TEST(reset.at("peer").as_string() == "127.0.0.1:" + std::to_string(reset_port));
  BOOST_TEST(reset.at("end").as_string() == "reset");
  BOOST_TEST(reset.at("bytes_received").to_number<std::uint64_t>() == 100'000U);
  BOOST_TEST(reset.at("bytes_sent").to_number<std::uint64_t>() == 100'000U);
  const auto& eof = closed[1].as_object();
  BOOST_TEST(eof.at("id").to_number<std::uint64_t>() == 1U);
  BOOST_TEST(eof.at("listener").as_string() == listener);
  BOOST_TEST(eof.at("peer").as_string() == "127.0.0.1:" + std::to_string(eof_port));
  BOOST_TEST(eof.at("end").as_string() == "eof");
  BOOST_TEST(eof.at("bytes_received").to_number<std::uint64_t>() == 5U);
  BOOST_TEST(eof.at("bytes_sent").to_number<std::uint64_t>() == 5U);
  // started: RFC 3339 UTC; the earlier connection did not start after the later one.
  const std::string started(eof.at("started").as_string());
  BOOST_TEST(started.size() == std::string("2026-12-01T07:40:00.123456Z").size());
  BOOST_TEST(started.back() == 'Z');
  BOOST_TEST(started <= std::string(reset.at("started").as_string()));
  BOOST_TEST(eof.at("duration_us").is_int64());
}

BOOST_AUTO_TEST_CASE(the_closed_ring_keeps_the_latest_n) {
  auto cfg = echo::test::server_fixture::default_config();
  cfg.connection_history = 3;
  admin_fixture f({}, cfg);
  for (std::size_t i = 1; i <= 5; ++i) {
    echo_client c(localhost, f.srv->port());
    c.send_all(std::string(i, 'x'));
    BOOST_TEST(c.recv_exact(i).size() == i);
    c.shutdown_write();
    BOOST_TEST((c.wait_end() == echo_client::end::eof));
    BOOST_REQUIRE(f.sessions_drop_to(0, 5s));
  }
  const auto all = connections(f);
  const auto& closed = all.at("closed").as_array();
  BOOST_TEST(all.at("open").as_array().empty());
  BOOST_TEST(all.at("closed_capacity").to_number<std::uint64_t>() == 3U);
  BOOST_TEST(all.at("closed_total").to_number<std::uint64_t>() == 5U);
  BOOST_REQUIRE_EQUAL(closed.size(), 3U);
  for (std::size_t k = 0; k < 3; ++k) {  // ids 5, 4, 3, each with as many bytes as its id
    const auto& r = closed[k].as_object();
    BOOST_TEST(r.at("id").to_number<std::uint64_t>() == 5 - k);
    BOOST_TEST(r.at("bytes_received").to_number<std::uint64_t>() == 5 - k);
  }
}

BOOST_AUTO_TEST_CASE(connections_name_the_proxy_source) {
  auto cfg = echo::test::server_fixture::default_config();
  cfg.listeners.front().proxy = echo::proxy_protocol::v1;
  admin_fixture f({}, cfg);
  echo_client c(localhost, f.srv->port());
  c.send_all("PROXY TCP4 192.0.2.10 192.0.2.20 51000 7007\r\nping");
  BOOST_TEST(c.recv_exact(4) == "ping");
  const auto all = connections(f);
  const auto& open = all.at("open").as_array();
  BOOST_REQUIRE_EQUAL(open.size(), 1U);
  const auto& o = open[0].as_object();
  BOOST_TEST(o.at("proxy_source").as_string() == "192.0.2.10:51000");
  BOOST_TEST(o.at("peer").as_string() == "127.0.0.1:" + std::to_string(local_port(c.fd())));
  // The header is the proxy's, not the client's traffic.
  BOOST_TEST(o.at("bytes_received").to_number<std::uint64_t>() == 4U);
  c.shutdown_write();
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
  BOOST_REQUIRE(f.sessions_drop_to(0, 5s));
  const auto after = connections(f);
  BOOST_REQUIRE_EQUAL(after.at("closed").as_array().size(), 1U);
  BOOST_TEST(after.at("closed").as_array()[0].as_object().at("proxy_source").as_string() ==
             "192.0.2.10:51000");
}

BOOST_AUTO_TEST_CASE(no_records_without_an_admin_listener_in_the_config) {
  echo::test::server_fixture s;
  {
    echo_client c(localhost, s.port());
    c.send_all("x");
    BOOST_TEST(c.recv_exact(1) == "x");
  }
  // The server keeps no trace for a config without an admin listener: nothing to report.
  const auto list = s.server().connections();
  BOOST_TEST(list.closed_capacity == 0U);
  BOOST_TEST(list.open.empty());
}

namespace {

std::vector<std::string> fault_texts(const boost::json::value& list) {
  std::vector<std::string> out;
  for (const auto& v : list.as_array()) out.emplace_back(v.as_string());
  return out;
}

boost::json::object get_faults(const admin_fixture& f) {
  const auto r = http_request(localhost, f.port(), "/faults");
  BOOST_TEST_REQUIRE(r.status == 200);
  BOOST_TEST(r.header("content-type") == "application/json");
  return boost::json::parse(r.body).as_object();
}

// Sends 100 bytes, then our FIN once all 100 came back, and counts what comes back until
// the server ends the connection: the bytes, and how it ended.
std::pair<std::size_t, echo_client::end> echo_until_end(std::uint16_t port) {
  echo_client c(localhost, port);
  c.send_all(std::string(100, 'a'));
  std::size_t got = 0;
  for (;;) {
    char buf[256];
    const ssize_t r = ::recv(c.fd(), buf, sizeof buf, 0);
    if (r > 0) {
      got += static_cast<std::size_t>(r);
      if (got == 100) c.shutdown_write();
      continue;
    }
    if (r == 0) return {got, echo_client::end::eof};
    if (errno == ECONNRESET) return {got, echo_client::end::reset};
    BOOST_TEST_REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR), "recv: " << errno);
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, 5000) == 0) return {got, echo_client::end::timeout};
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(faults_are_read_replaced_and_reset_live) {
  auto cfg = echo::test::server_fixture::default_config();
  cfg.seed = 7;
  cfg.faults = {echo::parse_fault_spec("latency:delay=1ms")};
  admin_fixture f({}, cfg);
  auto now = get_faults(f);
  BOOST_TEST(fault_texts(now.at("faults")) == std::vector<std::string>{"latency:delay=1ms"});
  BOOST_TEST(fault_texts(now.at("configured")) == std::vector<std::string>{"latency:delay=1ms"});
  BOOST_TEST(now.at("seed").to_number<std::uint64_t>() == 7U);
  BOOST_TEST(now.at("allow_corruption").as_bool() == false);

  const auto put = admin_call(f.port(), "PUT", "/faults", token, R"({"faults": ["reset-after:bytes=10"]})");
  BOOST_TEST_REQUIRE(put.status == 200);
  BOOST_TEST(fault_texts(boost::json::parse(put.body).at("faults")) ==
             std::vector<std::string>{"reset-after:bytes=10"});
  BOOST_TEST(fault_texts(get_faults(f).at("faults")) == std::vector<std::string>{"reset-after:bytes=10"});
  // A bare array is a fault set too.
  BOOST_TEST(admin_call(f.port(), "PUT", "/faults", token, R"(["reset-after:bytes=10"])").status == 200);

  const auto reset = admin_call(f.port(), "POST", "/faults/reset", token);
  BOOST_TEST(reset.status == 200);
  BOOST_TEST(fault_texts(boost::json::parse(reset.body).at("faults")) ==
             std::vector<std::string>{"latency:delay=1ms"});
  BOOST_TEST(admin_call(f.port(), "PUT", "/faults", token, R"({"faults": []})").status == 200);
  BOOST_TEST(f.srv->faults().empty());
}

BOOST_AUTO_TEST_CASE(a_bad_fault_set_is_answered_400_naming_the_problem_and_changes_nothing) {
  admin_fixture f;
  BOOST_TEST_REQUIRE(admin_call(f.port(), "PUT", "/faults", token, R"(["latency:delay=5ms"])").status == 200);
  const std::vector<std::pair<std::string, std::string>> bad{
      {"not json", "invalid JSON"},
      {R"({"faults": "latency"})", "expected"},
      {R"({"fault": ["latency"]})", "expected"},
      {R"({"faults": [1]})", "faults[0]"},
      {R"({"faults": ["latency:delay=5ms", "nonsense:x=1"]})", "nonsense"},
      {R"({"faults": ["latency:dleay=5ms"]})", "dleay"},
      {R"({"faults": ["corrupt:rate=0.1"]})", "corrupt"},     // needs --allow-corruption
      {R"({"faults": ["latency:listener=1"]})", "listener"},  // no such listener
      {"", "invalid JSON"},
  };
  for (const auto& [body, names] : bad) {
    const auto r = admin_call(f.port(), "PUT", "/faults", token, body);
    BOOST_TEST(r.status == 400, body);
    BOOST_TEST(r.body.find(names) != std::string::npos, body << " -> " << r.body);
    BOOST_TEST(r.body.find('\n') == r.body.size() - 1, "one line: " << r.body);
  }
  BOOST_TEST(fault_texts(get_faults(f).at("faults")) == std::vector<std::string>{"latency:delay=5ms"});
  // Bodies are bounded: more than 64 KiB is refused before it is read.
  const auto huge = admin_call(f.port(), "PUT", "/faults", token, std::string(70'000, ' ') + "[]");
  BOOST_TEST(huge.status == 413);
}

BOOST_AUTO_TEST_CASE(put_faults_changes_what_the_next_connection_gets) {
  auto cfg = echo::test::server_fixture::default_config();
  cfg.seed = 1;
  admin_fixture f({}, cfg);
  const std::string listener = "tcp://127.0.0.1:" + std::to_string(f.srv->port());
  const auto plain = echo_until_end(f.srv->port());
  BOOST_TEST(plain.first == 100U);
  BOOST_TEST((plain.second == echo_client::end::eof));

  BOOST_TEST_REQUIRE(admin_call(f.port(), "PUT", "/faults", token, R"(["reset-after:bytes=10"])").status ==
                     200);
  const auto faulted = echo_until_end(f.srv->port());
  BOOST_TEST(faulted.first == 10U);
  BOOST_TEST((faulted.second == echo_client::end::reset));

  BOOST_TEST_REQUIRE(admin_call(f.port(), "POST", "/faults/reset", token).status == 200);
  const auto again = echo_until_end(f.srv->port());
  BOOST_TEST(again.first == 100U);
  BOOST_TEST((again.second == echo_client::end::eof));

  BOOST_REQUIRE(f.sessions_drop_to(0, 5s));
  const auto all = connections(f);
  const auto& closed = all.at("closed").as_array();
  BOOST_REQUIRE_EQUAL(closed.size(), 3U);
  const auto& reset = closed[1].as_object();  // newest first: plain, reset, plain
  BOOST_TEST(reset.at("bytes_sent").to_number<std::uint64_t>() == 10U);
  const auto& fired = reset.at("faults").as_array();
  BOOST_REQUIRE_EQUAL(fired.size(), 1U);
  BOOST_TEST(fired[0].at("fault").as_string() == "reset-after:bytes=10");
  BOOST_TEST(closed[0].at("faults").as_array().empty());
  BOOST_TEST(closed[2].at("faults").as_array().empty());

  const auto m = f.metrics();
  BOOST_TEST(sample(m, "echo_faults_fired_total{listener=\"" + listener + "\",fault=\"reset-after\"}") ==
             "1");
  BOOST_TEST(sample(m, "echo_faults_fired_total{listener=\"" + listener + "\",fault=\"latency\"}") == "0");
}

BOOST_AUTO_TEST_CASE(the_same_seed_gives_the_same_fault_columns) {
  const auto run = [](std::uint64_t seed) {
    auto cfg = echo::test::server_fixture::default_config();
    cfg.seed = seed;
    cfg.faults = {echo::parse_fault_spec("slice:size=1-7"),
                  echo::parse_fault_spec("reset-after:bytes=50,probability=0.5")};
    admin_fixture f({}, cfg);
    for (int i = 0; i < 8; ++i) {
      echo_until_end(f.srv->port());
      BOOST_REQUIRE(f.sessions_drop_to(0, 5s));
    }
    std::vector<std::string> columns;
    const auto all = connections(f);
    for (const auto& r : all.at("closed").as_array())
      columns.push_back(boost::json::serialize(r.at("faults")) + " " + std::string(r.at("end").as_string()));
    return columns;
  };
  const auto first = run(42);
  const auto second = run(42);
  BOOST_TEST_REQUIRE(first.size() == 8U);
  BOOST_TEST(first == second, boost::test_tools::per_element());
  // Every connection was sliced, so no column is empty; and they are the same column by
  // column, which is the point.
  BOOST_TEST(
      std::none_of(first.begin(), first.end(), [](const std::string& c) { return c.starts_with("[] "); }));
}

BOOST_AUTO_TEST_CASE(connections_are_listed_while_several_threads_serve) {
  auto cfg = echo::test::server_fixture::default_config();
  cfg.connection_history = 8;
  admin_fixture f({}, cfg, 4);
  std::vector<echo_client> open;
  for (int i = 0; i < 6; ++i) {
    open.emplace_back(localhost, f.srv->port());
    open.back().send_all("ab");
    BOOST_TEST(open.back().recv_exact(2) == "ab");
  }
  for (int i = 0; i < 12; ++i) {
    echo_client c(localhost, f.srv->port());
    c.send_all("xyz");
    BOOST_TEST(c.recv_exact(3) == "xyz");
    c.shutdown_write();
    BOOST_TEST((c.wait_end() == echo_client::end::eof));
  }
  BOOST_REQUIRE(f.sessions_drop_to(6, 5s));
  const auto all = connections(f);
  BOOST_TEST(all.at("open").as_array().size() == 6U);
  BOOST_TEST(all.at("closed").as_array().size() == 8U);
  BOOST_TEST(all.at("closed_total").to_number<std::uint64_t>() == 12U);
  for (const auto& r : all.at("open").as_array())
    BOOST_TEST(r.at("bytes_sent").to_number<std::uint64_t>() == 2U);
  for (const auto& r : all.at("closed").as_array())
    BOOST_TEST(r.at("bytes_sent").to_number<std::uint64_t>() == 3U);
}
