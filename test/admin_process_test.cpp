#define BOOST_TEST_MODULE admin_process
#include <boost/test/unit_test.hpp>

#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "echo_client.hpp"
#include "echo_load.hpp"
#include "echo_svc_process.hpp"
#include "http_client.hpp"
#include "skip.hpp"
#include "socket_util.hpp"
#include "unique_fd.hpp"

using namespace std::chrono_literals;
using echo::test::child_process;
using echo::test::echo_client;
using echo::test::echo_svc_process;
using echo::test::http_request;
namespace fs = std::filesystem;

namespace {

const std::string localhost = "127.0.0.1";

// An executable named `name` on PATH (or in /usr/bin), or "".
std::string find_program(const std::string& name) {
  std::string path = std::getenv("PATH") ? std::getenv("PATH") : "";
  path += ":/usr/bin:/usr/sbin";
  std::istringstream dirs(path);
  for (std::string dir; std::getline(dirs, dir, ':');) {
    if (dir.empty()) continue;
    const auto candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

std::function<std::string()> needs(const std::string& program) {
  return [program] {
    return find_program(program).empty() ? program + " not installed (Debian package prometheus)"
                                         : std::string();
  };
}

// echo-svc with an admin listener on port 0; the admin port from its last ready line.
struct svc_with_admin {
  explicit svc_with_admin(std::vector<std::string> args = {}) : svc(with_admin(std::move(args))) {
    const auto line = svc.child->read_line(10s);
    BOOST_REQUIRE_MESSAGE(line.has_value(), "no admin ready line; stderr: " << svc.child->stderr_text());
    const std::string prefix = "listening on http://127.0.0.1:";
    BOOST_REQUIRE_MESSAGE(line->rfind(prefix, 0) == 0, "admin ready line: " << *line);
    admin_port = static_cast<std::uint16_t>(std::stoul(line->substr(prefix.size())));
  }
  static std::vector<std::string> with_admin(std::vector<std::string> args) {
    args.insert(args.begin(), {"--admin-listen", "127.0.0.1:0"});
    return args;
  }
  void stop() {
    svc.child->signal(SIGTERM);
    BOOST_TEST(svc.child->wait(15s).value_or(-1) == 0);
  }

  echo_svc_process svc;
  std::uint16_t admin_port = 0;
};

// A fresh directory under /tmp, removed with everything in it at the end of the scope.
struct temp_dir {
  temp_dir() {
    char name[] = "/tmp/echo-admin-test-XXXXXX";
    if (::mkdtemp(name) == nullptr) throw std::runtime_error("mkdtemp failed");
    path = name;
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  ~temp_dir() {
    std::error_code ignored;
    fs::remove_all(path, ignored);
  }
  fs::path path;
};

// Runs `argv` to completion within `timeout`; its exit code and stdout+stderr.
std::pair<int, std::string> run_program(const std::vector<std::string>& argv, std::chrono::seconds timeout) {
  std::string cmd;
  for (const auto& a : argv) cmd += "'" + a + "' ";
  child_process p({"/bin/sh", "-c", "exec " + cmd + "2>&1"});
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (auto line = p.read_line(std::chrono::duration_cast<std::chrono::milliseconds>(
             deadline - std::chrono::steady_clock::now())))
    out += *line + "\n";
  const auto code = p.wait(5s);
  if (!code) throw std::runtime_error(argv[0] + " did not finish in time");
  return {*code, out};
}

// The first sample's value from a Prometheus /api/v1/query answer ("" if there is none):
// ..."value":[1700000000.123,"42"]...
std::string query_value(const std::string& json) {
  const auto v = json.find("\"value\":[");
  if (v == std::string::npos) return {};
  const auto open = json.find(",\"", v);
  const auto close = json.find('"', open + 2);
  if (open == std::string::npos || close == std::string::npos) return {};
  return json.substr(open + 2, close - open - 2);
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (std::isalnum(c) || c == '_' || c == '-' || c == '.' || c == '~') {
      out += ch;
    } else {
      // Appended one char at a time: g++ 12 at -O3 reports a false -Wrestrict overlap in
      // the operator+ chain this replaces, which fails the Release build.
      out += '%';
      out += "0123456789ABCDEF"[c >> 4];
      out += "0123456789ABCDEF"[c & 15];
    }
  }
  return out;
}

std::string prometheus_query(std::uint16_t port, const std::string& expr) {
  const auto r = http_request(localhost, port, "/api/v1/query?query=" + url_encode(expr));
  if (r.status != 200)
    throw std::runtime_error("query " + expr + ": HTTP " + std::to_string(r.status) + " " + r.body);
  return query_value(r.body);
}

// A port below the ephemeral range (where clients' ports cannot take it meanwhile) that is
// free right now; the caller retries if it is taken before the server binds it.
std::uint16_t pick_port(std::mt19937& rng) {
  std::uniform_int_distribution<int> range(20000, 32000);
  for (int attempt = 0; attempt < 100; ++attempt) {
    const auto port = static_cast<std::uint16_t>(range(rng));
    echo::test::unique_fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_storage addr{};
    const auto len = echo::test::make_sockaddr(localhost, port, addr);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), len) == 0) return port;
  }
  throw std::runtime_error("no free port found");
}

}  // namespace

BOOST_AUTO_TEST_CASE(admin_ready_line_comes_last_and_routes_answer) {
  svc_with_admin s;
  BOOST_TEST(s.svc.address == "127.0.0.1");
  BOOST_TEST(s.admin_port != s.svc.port);
  BOOST_TEST(http_request(localhost, s.admin_port, "/healthz").status == 200);
  BOOST_TEST(http_request(localhost, s.admin_port, "/readyz").status == 200);
  const auto m = http_request(localhost, s.admin_port, "/metrics");
  BOOST_TEST(m.status == 200);
  BOOST_TEST(m.body.find("echo_connections_accepted_total{listener=\"tcp://127.0.0.1:" +
                         std::to_string(s.svc.port) + "\"} 0\n") != std::string::npos);
  BOOST_TEST(m.body.find("\nprocess_max_fds ") != std::string::npos);
  s.stop();
}

BOOST_AUTO_TEST_CASE(readyz_fails_after_sigterm_while_the_echo_port_still_accepts) {
  svc_with_admin s({"--shutdown-delay", "4s", "--shutdown-timeout", "2s"});
  BOOST_TEST(http_request(localhost, s.admin_port, "/readyz").status == 200);
  const auto signalled = std::chrono::steady_clock::now();
  s.svc.child->signal(SIGTERM);
  // Readiness flips on the signal; poll (bounded) until the signal has been handled.
  int status = 200;
  const auto deadline = signalled + 2s;
  while (status == 200 && std::chrono::steady_clock::now() < deadline)
    status = http_request(localhost, s.admin_port, "/readyz").status;
  BOOST_TEST(status == 503);
  // Within the delay: still alive, metrics still served, and new echo clients served.
  BOOST_TEST(http_request(localhost, s.admin_port, "/healthz").status == 200);
  BOOST_TEST(http_request(localhost, s.admin_port, "/metrics").status == 200);
  echo_client c(localhost, s.svc.port);
  c.send_all("still here");
  BOOST_TEST(c.recv_exact(10) == "still here");
  BOOST_TEST((std::chrono::steady_clock::now() - signalled < 4s), "the checks took longer than the delay");
  c.shutdown_write();
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
  // After the delay the echo listener closes and the process exits (the admin listener
  // must not keep it alive).
  BOOST_TEST(s.svc.child->wait(15s).value_or(-1) == 0);
  BOOST_TEST((std::chrono::steady_clock::now() - signalled >= 4s));
  BOOST_CHECK_THROW(http_request(localhost, s.admin_port, "/healthz"), std::runtime_error);
}

BOOST_AUTO_TEST_CASE(admin_port_in_use_exits_69_naming_the_address) {
  echo::test::unique_fd taken(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(taken.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
  BOOST_REQUIRE(::listen(taken.get(), 1) == 0);
  socklen_t len = sizeof addr;
  ::getsockname(taken.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  const auto where = "127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  const auto [code, out] = run_program(
      {echo::test::echo_svc_path(), "--port", "0", "--bind", "127.0.0.1", "--admin-listen", where}, 10s);
  BOOST_TEST(code == 69);
  BOOST_TEST(out.find(where) != std::string::npos, out);
  BOOST_TEST(out.find("listening on") == std::string::npos, out);
}

BOOST_AUTO_TEST_CASE(promtool_accepts_the_metrics, *echo::test::skip_if(needs("promtool"))) {
  // A fault that fires on every connection, so its counter is not all zeros either.
  svc_with_admin s({"--fault", "slice:size=4096"});
  // Some traffic first, so the counters are not all zero.
  echo::test::load_options o;
  o.port = s.svc.port;
  o.connections = 4;
  o.bytes_per_connection = 64 * 1024;
  BOOST_TEST(echo::test::run_echo_load(o).completed == 4U);
  const auto m = http_request(localhost, s.admin_port, "/metrics");
  BOOST_REQUIRE_EQUAL(m.status, 200);
  const std::string fired =
      "echo_faults_fired_total{listener=\"tcp://127.0.0.1:" + std::to_string(s.svc.port) +
      "\",fault=\"slice\"} 4\n";
  BOOST_TEST(m.body.find(fired) != std::string::npos, m.body);
  temp_dir dir;
  const auto file = dir.path / "metrics.txt";
  std::ofstream(file) << m.body;
  const auto [code, out] =
      run_program({"/bin/sh", "-c", find_program("promtool") + " check metrics < " + file.string()}, 30s);
  std::cout << "promtool check metrics: exit " << code << ", output: '" << out << "'" << std::endl;
  BOOST_TEST(code == 0, out);
  BOOST_TEST(out.empty(), out);
  s.stop();
}

BOOST_AUTO_TEST_CASE(prometheus_scrapes_exact_byte_counts_during_load,
                     *echo::test::skip_if(needs("prometheus"))) {
  // Several threads: scrapes read the counters while sessions on other threads update them.
  svc_with_admin s({"--threads", "4"});
  temp_dir dir;
  std::ofstream(dir.path / "prometheus.yml") << "global:\n"
                                                "  scrape_interval: 200ms\n"
                                                "  scrape_timeout: 150ms\n"
                                                "scrape_configs:\n"
                                                "  - job_name: echo\n"
                                                "    static_configs:\n"
                                                "      - targets: ['127.0.0.1:"
                                             << s.admin_port << "']\n";

  // Prometheus cannot report a port it picked, so pick one and retry if it was taken.
  std::mt19937 rng(static_cast<std::mt19937::result_type>(::getpid()) ^ std::random_device()());
  std::unique_ptr<child_process> prom;
  std::uint16_t port = 0;
  for (int attempt = 0; attempt < 5 && !prom; ++attempt) {
    port = pick_port(rng);
    auto p = std::make_unique<child_process>(std::vector<std::string>{
        find_program("prometheus"), "--config.file=" + (dir.path / "prometheus.yml").string(),
        "--storage.tsdb.path=" + (dir.path / "data").string(),
        "--web.listen-address=127.0.0.1:" + std::to_string(port)});
    const auto deadline = std::chrono::steady_clock::now() + 60s;
    bool up = false;
    while (!up && std::chrono::steady_clock::now() < deadline) {
      if (p->wait(0ms)) break;  // exited: most likely the port was taken meanwhile
      try {
        up = http_request(localhost, port, "/-/ready").status == 200;
      } catch (const std::runtime_error&) {
        std::this_thread::sleep_for(100ms);  // not listening yet
      }
    }
    if (up) prom = std::move(p);
    else BOOST_TEST_MESSAGE("prometheus did not come up on port " << port << ": " << p->stderr_text());
  }
  BOOST_REQUIRE_MESSAGE(prom, "prometheus did not start");

  // The target is up before the load starts, so the scrapes span it.
  const auto first_scrape = std::chrono::steady_clock::now() + 30s;
  while (prometheus_query(port, "up") != "1" && std::chrono::steady_clock::now() < first_scrape)
    std::this_thread::sleep_for(50ms);

  // A bounded, verified load (2 s of sending, every byte checked) while Prometheus scrapes
  // every 200 ms.
  echo::test::load_options o;
  o.port = s.svc.port;
  o.connections = 4;
  o.send_for = 2s;
  // Little in flight per connection, so that the echo left to drain when sending stops is
  // small even when the machine is loaded by other tests.
  o.max_write = 4 * 1024;
  o.max_outstanding = 16 * 1024;
  o.timeout = 60s;
  const auto r = echo::test::run_echo_load(o);
  BOOST_TEST_MESSAGE("load: completed=" << r.completed << " mismatches=" << r.mismatches
                                        << " resets=" << r.resets << " short=" << r.short_echoes
                                        << " timeouts=" << r.timeouts << " connect_failures="
                                        << r.connect_failures << " bytes=" << r.bytes_sent);
  BOOST_REQUIRE_EQUAL(r.completed, 4U);
  BOOST_REQUIRE_EQUAL(r.bytes_verified, r.bytes_sent);
  const auto sent = std::to_string(r.bytes_sent);

  // Until a scrape after the load has landed (bounded).
  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + 30s;
  while (received != sent && std::chrono::steady_clock::now() < deadline) {
    received = prometheus_query(port, "echo_received_bytes_total");
    if (received != sent) std::this_thread::sleep_for(100ms);
  }
  const auto up = prometheus_query(port, "up");
  const auto echoed = prometheus_query(port, "echo_sent_bytes_total");
  const auto scrapes = prometheus_query(port, "count_over_time(echo_received_bytes_total[5m])");
  const auto partial = prometheus_query(
      port, "count_over_time((echo_received_bytes_total > 0 and echo_received_bytes_total < " + sent +
                ")[5m:200ms])");
  std::cout << "prometheus on 127.0.0.1:" << port << ": up=" << up
            << " echo_received_bytes_total=" << received << " echo_sent_bytes_total=" << echoed
            << " client sent=" << sent << " scrapes so far=" << scrapes
            << ", of them during the load (0 < received < sent, by a 200ms subquery)=" << partial
            << std::endl;
  BOOST_TEST(up == "1");
  BOOST_TEST(received == sent);
  BOOST_TEST(echoed == sent);
  BOOST_TEST(std::stoi(scrapes.empty() ? "0" : scrapes) >= 5, "scrapes: " << scrapes);
  BOOST_TEST(!partial.empty(), "no scrape saw the load in progress");

  prom->signal(SIGTERM);
  BOOST_TEST(prom->wait(20s).has_value());
  s.stop();
}

// ---- live control through the real binary ---------------------------------------------------

BOOST_AUTO_TEST_CASE(a_token_file_guards_changes_and_readyz_flips) {
  temp_dir dir;
  const auto file = dir.path / "token";
  std::ofstream(file) << "file-Token.42\n";
  svc_with_admin s({"--admin-token-file", file.string()});
  using echo::test::http_call;
  const std::string set = R"({"faults": ["latency:delay=1ms"]})";
  BOOST_TEST(http_call(localhost, s.admin_port, "PUT", "/faults", {}, set).status == 401);
  BOOST_TEST(http_call(localhost, s.admin_port, "PUT", "/faults", "file-Token.4", set).status == 401);
  const auto put = http_call(localhost, s.admin_port, "PUT", "/faults", "file-Token.42", set);
  BOOST_TEST(put.status == 200);
  BOOST_TEST(put.body.find(R"("faults":["latency:delay=1ms"])") != std::string::npos, put.body);
  BOOST_TEST(http_request(localhost, s.admin_port, "/faults").body == put.body);
  const auto bad =
      http_call(localhost, s.admin_port, "PUT", "/faults", "file-Token.42", R"(["latency:nope=1"])");
  BOOST_TEST(bad.status == 400);
  BOOST_TEST(bad.body.find("nope") != std::string::npos, bad.body);
  BOOST_TEST(http_call(localhost, s.admin_port, "POST", "/faults/reset", "file-Token.42").status == 200);
  BOOST_TEST(http_request(localhost, s.admin_port, "/faults").body.find(R"("faults":[])") !=
             std::string::npos);

  BOOST_TEST(http_call(localhost, s.admin_port, "POST", "/readyz/fail", "file-Token.42").status == 200);
  BOOST_TEST(http_request(localhost, s.admin_port, "/readyz").status == 503);
  BOOST_TEST(http_request(localhost, s.admin_port, "/healthz").status == 200);
  BOOST_TEST(http_call(localhost, s.admin_port, "POST", "/readyz/ok", "file-Token.42").status == 200);
  BOOST_TEST(http_request(localhost, s.admin_port, "/readyz").status == 200);

  // What the client did shows in /connections.
  {
    echo_client c(localhost, s.svc.port);
    c.send_all("abc");
    BOOST_TEST(c.recv_exact(3) == "abc");
    const auto conns = http_request(localhost, s.admin_port, "/connections");
    BOOST_TEST(conns.status == 200);
    BOOST_TEST(conns.body.find(R"("bytes_received":3,"bytes_sent":3)") != std::string::npos, conns.body);
  }
  s.stop();
  // The changes were logged, the token never.
  const auto err = s.svc.child->stderr_text();
  BOOST_TEST(err.find("fault set replaced through the admin listener") != std::string::npos, err);
  BOOST_TEST(err.find("readiness held down through the admin listener") != std::string::npos, err);
  BOOST_TEST(err.find("file-Token.42") == std::string::npos, err);
}

BOOST_AUTO_TEST_CASE(without_a_token_changes_are_forbidden) {
  svc_with_admin s;
  using echo::test::http_call;
  for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
           {"POST", "/readyz/fail"}, {"PUT", "/faults"}, {"POST", "/faults/reset"}})
    BOOST_TEST(http_call(localhost, s.admin_port, method, target, "guess").status == 403, target);
  BOOST_TEST(http_request(localhost, s.admin_port, "/readyz").status == 200);
  BOOST_TEST(http_request(localhost, s.admin_port, "/faults").status == 200);
  s.stop();
}

BOOST_AUTO_TEST_CASE(token_settings_are_checked_and_never_printed) {
  using echo::test::run_to_exit;
  const auto flag = run_to_exit({"--print-config", "--admin-token", "tok-9f8e7d"});
  BOOST_TEST(flag.code == 0);
  BOOST_TEST(flag.out.find("# admin-token = (set, not shown)  # command line") != std::string::npos,
             flag.out);
  BOOST_TEST(flag.out.find("tok-9f8e7d") == std::string::npos, flag.out);
  BOOST_TEST(flag.out.find("connection-history = 1000") != std::string::npos, flag.out);
  const auto env =
      run_to_exit({"--print-config"}, {"ECHO_SVC_ADMIN_TOKEN=tok-9f8e7d", "ECHO_SVC_CONNECTION_HISTORY=5"});
  BOOST_TEST(env.code == 0);
  BOOST_TEST(env.out.find("(set, not shown)  # environment ECHO_SVC_ADMIN_TOKEN") != std::string::npos,
             env.out);
  BOOST_TEST(env.out.find("connection-history = 5") != std::string::npos, env.out);
  BOOST_TEST(env.out.find("tok-9f8e7d") == std::string::npos, env.out);

  const auto spaced = run_to_exit({"--admin-token", "two words"});
  BOOST_TEST(spaced.code == 64);
  BOOST_TEST(spaced.err.find("admin-token") != std::string::npos, spaced.err);
  BOOST_TEST(spaced.err.find("two words") == std::string::npos, spaced.err);
  const auto missing = run_to_exit(
      {"--port", "0", "--admin-listen", "127.0.0.1:0", "--admin-token-file", "/nonexistent/token"});
  BOOST_TEST(missing.code == 78);
  BOOST_TEST(missing.err.find("admin-token-file") != std::string::npos, missing.err);
  const auto both = run_to_exit({"--admin-token", "a", "--admin-token-file", "/nonexistent/token"});
  BOOST_TEST(both.code == 64);
  BOOST_TEST(run_to_exit({"--connection-history", "2000000"}).code == 64);
}
