#define BOOST_TEST_MODULE process
#include <boost/test/unit_test.hpp>

#include <signal.h>

#include <chrono>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "echo/version.hpp"
#include "echo_client.hpp"
#include "echo_load.hpp"
#include "echo_svc_process.hpp"
#include "json_lines.hpp"
#include "skip.hpp"

using namespace std::chrono_literals;
using echo::test::child_process;
using echo::test::echo_client;
using echo::test::echo_svc_path;
using echo::test::echo_svc_process;
using echo::test::run_to_exit;

namespace {

std::size_t count_lines(const std::string& s) {
  return static_cast<std::size_t>(std::count(s.begin(), s.end(), '\n'));
}

}  // namespace

BOOST_AUTO_TEST_CASE(ready_line_then_echo) {
  echo_svc_process svc;
  BOOST_TEST(svc.address == "127.0.0.1");
  BOOST_TEST(svc.port != 0);
  echo_client c("127.0.0.1", svc.port);
  c.send_all("over the process boundary");
  BOOST_TEST(c.recv_exact(25) == "over the process boundary");
  // Nothing but the ready line on stdout: logs go to stderr.
  BOOST_TEST(!svc.child->read_line(100ms).has_value());
  c.shutdown_write();
  BOOST_TEST((c.wait_end() == echo_client::end::eof));
  const auto start = std::chrono::steady_clock::now();
  svc.child->signal(SIGTERM);
  BOOST_TEST(svc.child->wait(10s).value_or(-1) == 0);
  BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
}

BOOST_AUTO_TEST_CASE(threads_zero_and_four_serve) {
  for (const char* threads : {"0", "4"}) {
    echo_svc_process svc({"--threads", threads});
    echo::test::load_options o;
    o.port = svc.port;
    o.connections = 50;
    o.bytes_per_connection = 32 * 1024;
    o.max_write = 4096;
    o.timeout = 60s;
    const auto r = echo::test::run_echo_load(o);
    BOOST_TEST(r.completed == 50U, "threads=" << threads);
    svc.child->signal(SIGTERM);
    BOOST_TEST(svc.child->wait(10s).value_or(-1) == 0);
  }
}

BOOST_AUTO_TEST_CASE(sigterm_with_clients_exits_zero_within_timeout) {
  echo_svc_process svc({"--shutdown-timeout", "3s", "--threads", "2"});
  std::vector<echo_client> clients;
  for (int i = 0; i < 10; ++i) {
    clients.emplace_back("127.0.0.1", svc.port);
    clients.back().send_all("hold");
    BOOST_TEST(clients.back().recv_exact(4) == "hold");
  }
  // One client that will never close its side: it is what the deadline is for.
  echo_client stubborn("127.0.0.1", svc.port);
  stubborn.send_all("s");
  BOOST_TEST(stubborn.recv_exact(1) == "s");

  const auto start = std::chrono::steady_clock::now();
  svc.child->signal(SIGTERM);
  for (auto& c : clients) {
    BOOST_TEST((c.wait_end(5s) == echo_client::end::eof));  // FIN, not RST
    c.close();
  }
  BOOST_TEST((stubborn.wait_end(5s) == echo_client::end::eof));  // FIN first, too
  const auto code = svc.child->wait(10s);
  const auto took = std::chrono::steady_clock::now() - start;
  BOOST_TEST(code.value_or(-1) == 0);
  BOOST_TEST((took < 3s + 1500ms));
  BOOST_TEST(took > 2s);  // the stubborn client held it until the deadline
  BOOST_TEST(svc.child->stderr_text().find("shutdown deadline reached") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(sigint_without_clients_exits_promptly) {
  echo_svc_process svc;
  const auto start = std::chrono::steady_clock::now();
  svc.child->signal(SIGINT);
  BOOST_TEST(svc.child->wait(10s).value_or(-1) == 0);
  BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
}

BOOST_AUTO_TEST_CASE(signals_blocked_by_the_parent_still_stop_the_server) {
  // The mask survives exec: a launcher that spawns with SIGTERM blocked must not leave a
  // server that ignores every stop request.
  child_process child({echo_svc_path(), "--port", "0", "--bind", "127.0.0.1", "--log-level", "info"}, {},
                      {SIGINT, SIGTERM, SIGHUP});
  BOOST_REQUIRE(child.read_line(10s).has_value());
  const auto start = std::chrono::steady_clock::now();
  child.signal(SIGTERM);
  BOOST_TEST(child.wait(10s).value_or(-1) == 0);
  BOOST_TEST((std::chrono::steady_clock::now() - start < 2s));
  BOOST_TEST(child.stderr_text().find("signals=SIGINT,SIGTERM,SIGHUP") != std::string::npos,
             "the unblocking is logged: " << child.stderr_text());
}

BOOST_AUTO_TEST_CASE(second_signal_exits_at_once) {
  echo_svc_process svc({"--shutdown-timeout", "60s"});
  echo_client stubborn("127.0.0.1", svc.port);
  stubborn.send_all("s");
  BOOST_TEST(stubborn.recv_exact(1) == "s");
  svc.child->signal(SIGTERM);
  BOOST_TEST((stubborn.wait_end(5s) == echo_client::end::eof));  // drain has begun
  svc.child->signal(SIGTERM);
  BOOST_TEST(svc.child->wait(5s).value_or(-1) == 128 + SIGTERM);
}

BOOST_AUTO_TEST_CASE(json_logs_tell_a_connection_a_refusal_and_the_shutdown) {
  echo_svc_process svc({"--log-format", "json", "--log-level", "debug", "--max-connections", "1"});
  const std::string listener = "tcp://127.0.0.1:" + std::to_string(svc.port);
  const std::string payload = "ten bytes!";
  {
    echo_client a("127.0.0.1", svc.port);
    a.send_all(payload);
    BOOST_TEST(a.recv_exact(payload.size()) == payload);
    // a holds the one slot: b is accepted and closed at once.
    echo_client b("127.0.0.1", svc.port);
    const auto b_end = b.wait_end();
    BOOST_TEST((b_end == echo_client::end::eof || b_end == echo_client::end::reset));
    a.shutdown_write();
    BOOST_TEST((a.wait_end() == echo_client::end::eof));
  }
  svc.child->signal(SIGTERM);
  BOOST_REQUIRE(svc.child->wait(10s).value_or(-1) == 0);

  const auto err = svc.child->stderr_text();
  BOOST_TEST_MESSAGE("stderr:\n" << err);
  std::vector<boost::json::object> lines;
  BOOST_REQUIRE_NO_THROW(lines = echo::test::parse_json_lines(err));  // every line is JSON
  const auto named = [&](const char* event) { return echo::test::events_named(lines, event); };
  for (const auto& o : lines) {
    BOOST_TEST(o.at("ts").is_string());
    BOOST_TEST(o.at("level").is_string());
    BOOST_TEST(o.at("msg").is_string());
  }

  const auto start = named("start");
  BOOST_REQUIRE(start.size() == 1U);
  BOOST_TEST(start[0].at("version").as_string() == echo::version);
  BOOST_TEST(start[0].at("max_connections").as_int64() == 1);
  BOOST_TEST(start[0].at("threads").as_int64() == 1);
  BOOST_TEST(start[0].at("buffer_size").as_int64() > 0);
  BOOST_TEST(start[0].at("idle_timeout_ms").is_number());
  BOOST_TEST(start[0].at("listeners").as_string() == listener);
  const auto listening = named("listening");
  BOOST_REQUIRE(listening.size() == 1U);
  BOOST_TEST(listening[0].at("listener").as_string() == listener);

  const auto opened = named("conn_open");
  BOOST_REQUIRE(opened.size() == 1U);
  BOOST_TEST(opened[0].at("level").as_string() == "debug");
  BOOST_TEST(opened[0].at("conn").as_int64() == 1);
  BOOST_TEST(std::string(opened[0].at("peer").as_string()).rfind("127.0.0.1:", 0) == 0U);
  BOOST_TEST(opened[0].at("listener").as_string() == listener);
  const auto closed = named("conn_close");
  BOOST_REQUIRE(closed.size() == 1U);
  BOOST_TEST(closed[0].at("conn").as_int64() == 1);
  BOOST_TEST(closed[0].at("peer").as_string() == opened[0].at("peer").as_string());
  BOOST_TEST(closed[0].at("reason").as_string() == "eof");
  BOOST_TEST(closed[0].at("state").as_string() == "answering-fin");
  BOOST_TEST(closed[0].at("bytes_in").as_int64() == static_cast<std::int64_t>(payload.size()));
  BOOST_TEST(closed[0].at("bytes_out").as_int64() == static_cast<std::int64_t>(payload.size()));
  BOOST_TEST(closed[0].at("duration_ms").to_number<double>() >= 0.0);

  const auto refused = named("conn_refused");
  BOOST_REQUIRE(refused.size() == 1U);
  BOOST_TEST(refused[0].at("level").as_string() == "warn");
  BOOST_TEST(refused[0].at("reason").as_string() == "limit");
  BOOST_TEST(refused[0].at("max_connections").as_int64() == 1);

  const auto begin = named("shutdown_begin");
  BOOST_REQUIRE(begin.size() == 1U);
  BOOST_TEST(begin[0].at("signal").as_string() == "SIGTERM");
  BOOST_TEST(begin[0].at("sessions").as_int64() <= 1);  // a's session may still be unwinding
  const auto summary = named("shutdown_summary");
  BOOST_REQUIRE(summary.size() == 1U);
  BOOST_TEST(summary[0].at("accepted").as_int64() == 1);
  BOOST_TEST(summary[0].at("refused").as_int64() == 1);
  BOOST_TEST(summary[0].at("forced").as_int64() == 0);
  BOOST_TEST(summary[0].at("bytes_in").as_int64() == static_cast<std::int64_t>(payload.size()));
  BOOST_TEST(summary[0].at("bytes_out").as_int64() == static_cast<std::int64_t>(payload.size()));
  BOOST_TEST(summary[0].at("drain_ms").is_number());
  // The summary is the last word.
  BOOST_TEST(lines.back().at("event").as_string() == "shutdown_summary");
}

BOOST_AUTO_TEST_CASE(json_logs_report_a_held_session_at_the_deadline) {
  echo_svc_process svc({"--log-format", "json", "--shutdown-timeout", "300ms"});
  echo_client stubborn("127.0.0.1", svc.port);
  stubborn.send_all("s");
  BOOST_TEST(stubborn.recv_exact(1) == "s");
  svc.child->signal(SIGTERM);
  BOOST_TEST((stubborn.wait_end(5s) == echo_client::end::eof));  // drain began: our FIN
  BOOST_REQUIRE(svc.child->wait(10s).value_or(-1) == 0);
  std::vector<boost::json::object> lines;
  BOOST_REQUIRE_NO_THROW(lines = echo::test::parse_json_lines(svc.child->stderr_text()));
  const auto begin = echo::test::events_named(lines, "shutdown_begin");
  BOOST_REQUIRE(begin.size() == 1U);
  BOOST_TEST(begin[0].at("sessions").as_int64() == 1);
  BOOST_TEST(echo::test::events_named(lines, "shutdown_deadline").size() == 1U);
  const auto summary = echo::test::events_named(lines, "shutdown_summary");
  BOOST_REQUIRE(summary.size() == 1U);
  BOOST_TEST(summary[0].at("sessions").as_int64() == 1);
  BOOST_TEST(summary[0].at("forced").as_int64() == 1);
  BOOST_TEST(summary[0].at("graceful").as_int64() == 0);
  BOOST_TEST(summary[0].at("drain_ms").to_number<double>() >= 250.0);
}

BOOST_AUTO_TEST_CASE(json_format_reports_a_bind_failure_as_an_event) {
  echo_svc_process first;
  const auto port = std::to_string(first.port);
  const auto r = run_to_exit({"--bind", "127.0.0.1", "--port", port, "--log-format", "json"});
  BOOST_TEST(r.code == 69);
  std::vector<boost::json::object> lines;
  BOOST_REQUIRE_NO_THROW(lines = echo::test::parse_json_lines(r.err));
  BOOST_REQUIRE(lines.size() == 1U);
  BOOST_TEST(lines[0].at("event").as_string() == "exit");
  BOOST_TEST(lines[0].at("exit_code").as_int64() == 69);
  BOOST_TEST(std::string(lines[0].at("msg").as_string()).find("127.0.0.1:" + port) != std::string::npos);
}

BOOST_AUTO_TEST_CASE(bad_flags_exit_64_with_one_line) {
  const std::vector<std::vector<std::string>> cases{
      {"--bogus"},        {"--port"},           {"--port", "65536"},
      {"--port", "-1"},   {"--threads", "-1"},  {"--threads", "5000"},
      {"--bind", "nope"}, {"--log-level", "x"}, {"--shutdown-timeout", "never"},
      {"stray"}};
  for (const auto& args : cases) {
    const auto r = run_to_exit(args);
    BOOST_TEST(r.code == 64, "args " << args.front());
    BOOST_TEST(r.out.empty());
    BOOST_TEST(count_lines(r.err) == 1U, "stderr: " << r.err);
    BOOST_TEST(r.err.rfind("echo-svc: ", 0) == 0U);
  }
}

BOOST_AUTO_TEST_CASE(port_in_use_exits_69_naming_the_address) {
  echo_svc_process first;
  const auto port = std::to_string(first.port);
  const auto r = run_to_exit({"--bind", "127.0.0.1", "--port", port});
  BOOST_TEST(r.code == 69);
  BOOST_TEST(r.err.find("127.0.0.1:" + port) != std::string::npos, r.err);
  BOOST_TEST(count_lines(r.err) == 1U, r.err);
}

BOOST_AUTO_TEST_CASE(unbindable_address_exits_69) {
  // 192.0.2.1 (TEST-NET-1) is on no interface here; bind(2) fails with EADDRNOTAVAIL.
  const auto r = run_to_exit({"--bind", "192.0.2.1", "--port", "0"});
  BOOST_TEST(r.code == 69);
  BOOST_TEST(r.err.find("192.0.2.1:0") != std::string::npos, r.err);
}

BOOST_AUTO_TEST_CASE(help_and_version) {
  const auto help = run_to_exit({"--help"});
  BOOST_TEST(help.code == 0);
  BOOST_TEST(help.out.find("Exit codes") != std::string::npos);
  const auto version = run_to_exit({"--version"});
  BOOST_TEST(version.code == 0);
  BOOST_TEST(version.out == std::string("echo-svc ") + echo::version + "\n");
}

namespace {

// Empty if this process may create a PID namespace, else why not.
std::string no_pid_namespace() {
  try {
    child_process probe({"/usr/bin/unshare", "--pid", "--fork", "--kill-child", "/bin/true"});
    const auto code = probe.wait(10s);
    if (code == 0) return {};
    auto err = probe.stderr_text();
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return "cannot create a PID namespace here (unshare --pid: " +
           (code ? "exit " + std::to_string(*code) : std::string("no exit within 10 s")) + ", " + err + ")";
  } catch (const std::exception& e) {
    return std::string("cannot run unshare: ") + e.what();
  }
}

}  // namespace

BOOST_AUTO_TEST_CASE(sigterm_as_pid_1_in_a_pid_namespace, *echo::test::skip_if(no_pid_namespace)) {
  // As PID 1 the kernel drops signals that have no handler, so a service that relied on
  // default actions would ignore `docker stop`. Run echo-svc as PID 1 of a new PID namespace
  // and signal it from outside.
  child_process wrapper({"/usr/bin/unshare", "--pid", "--fork", "--kill-child", echo_svc_path(), "--port",
                         "0", "--bind", "127.0.0.1"});
  const auto line = wrapper.read_line(10s);
  BOOST_REQUIRE(line.has_value());
  std::string address;
  std::uint16_t port = 0;
  BOOST_REQUIRE(echo::test::parse_ready_line(*line, address, port));
  echo_client c("127.0.0.1", port);
  c.send_all("pid1");
  BOOST_TEST(c.recv_exact(4) == "pid1");
  c.close();

  // The service is unshare's only child; in its namespace it is PID 1.
  const auto children_path =
      "/proc/" + std::to_string(wrapper.pid()) + "/task/" + std::to_string(wrapper.pid()) + "/children";
  std::ifstream children(children_path);
  pid_t inner = 0;
  BOOST_REQUIRE(children >> inner);
  std::ifstream status("/proc/" + std::to_string(inner) + "/status");
  std::string status_text((std::istreambuf_iterator<char>(status)), std::istreambuf_iterator<char>());
  const auto nspid = status_text.find("NSpid:");
  BOOST_REQUIRE(nspid != std::string::npos);
  const auto nspid_line = status_text.substr(nspid, status_text.find('\n', nspid) - nspid);
  BOOST_TEST_MESSAGE(nspid_line);
  BOOST_TEST(nspid_line.substr(nspid_line.rfind('\t') + 1) == "1");  // PID 1 inside

  BOOST_REQUIRE(::kill(inner, SIGTERM) == 0);
  BOOST_TEST(wrapper.wait(10s).value_or(-1) == 0);  // unshare exits with the service's status
}
