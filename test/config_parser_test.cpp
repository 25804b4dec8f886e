#define BOOST_TEST_MODULE config_parser
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <string>
#include <vector>

#include "echo/config_error.hpp"
#include "echo/config_parser.hpp"
#include "echo/fault_spec.hpp"
#include "echo/logger.hpp"
#include "echo/usage_error.hpp"
#include "temp_file.hpp"

using echo::command_line;
using echo::parse_command_line;
using echo::test::temp_file;

namespace {

command_line parse(std::initializer_list<const char*> words) {
  std::vector<const char*> argv{"echo-svc"};
  argv.insert(argv.end(), words);
  return parse_command_line(argv);
}

bool rejects(std::initializer_list<const char*> words) {
  try {
    parse(words);
  } catch (const echo::usage_error& e) {
    BOOST_TEST_MESSAGE("rejected with: " << e.what());
    BOOST_TEST(std::string(e.what()).find('\n') == std::string::npos);  // one line
    return true;
  }
  return false;
}

}  // namespace

BOOST_AUTO_TEST_CASE(defaults) {
  const auto cmd = parse({});
  BOOST_TEST((cmd.what == command_line::action::run));
  BOOST_TEST(cmd.cfg.listeners.front().port == 7007);
  BOOST_TEST(cmd.cfg.threads == 1U);
  BOOST_TEST(cmd.cfg.listeners.size() == 1U);
  BOOST_TEST(!cmd.cfg.listeners.front().address.has_value());
  BOOST_TEST(cmd.cfg.backlog == 4096);
  BOOST_TEST(cmd.cfg.shutdown_timeout.count() == 5000);
  BOOST_TEST(cmd.cfg.buffer_size == 64U * 1024U);
  BOOST_TEST(cmd.cfg.idle_timeout.count() == 300000);
  BOOST_TEST(cmd.cfg.write_timeout.count() == 30000);
  BOOST_TEST(cmd.cfg.max_connections == 0U);
  BOOST_TEST((cmd.cfg.level == echo::log_level::info));
}

BOOST_AUTO_TEST_CASE(canonical_invocation) {
  const auto cmd = parse({"--threads", "4", "--port", "8080"});
  BOOST_TEST(cmd.cfg.threads == 4U);
  BOOST_TEST(cmd.cfg.listeners.front().port == 8080);
}

BOOST_AUTO_TEST_CASE(all_options) {
  const auto cmd = parse({"--port=0", "--bind", "[::1]", "--threads=0", "--log-level", "debug",
                          "--shutdown-timeout", "250ms", "--buffer-size", "16KiB"});
  BOOST_TEST(cmd.cfg.listeners.front().port == 0);
  BOOST_TEST((cmd.cfg.listeners.front().address.value() == boost::asio::ip::make_address("::1")));
  BOOST_TEST(cmd.cfg.threads == 0U);
  BOOST_TEST((cmd.cfg.level == echo::log_level::debug));
  BOOST_TEST(cmd.cfg.shutdown_timeout.count() == 250);
  BOOST_TEST(cmd.cfg.buffer_size == 16U * 1024U);
  BOOST_TEST((parse({"--bind", "127.0.0.1"}).cfg.listeners.front().address.value() ==
              boost::asio::ip::make_address("127.0.0.1")));
  BOOST_TEST(parse({"-p", "65535"}).cfg.listeners.front().port == 65535);
}

BOOST_AUTO_TEST_CASE(durations) {
  BOOST_TEST(echo::parse_duration("7").count() == 7000);
  BOOST_TEST(echo::parse_duration("7s").count() == 7000);
  BOOST_TEST(echo::parse_duration("2m").count() == 120000);
  BOOST_TEST(echo::parse_duration("0ms").count() == 0);
  BOOST_CHECK_THROW(echo::parse_duration(""), echo::usage_error);
  BOOST_CHECK_THROW(echo::parse_duration("5 s"), echo::usage_error);
  BOOST_CHECK_THROW(echo::parse_duration("-1s"), echo::usage_error);
  BOOST_CHECK_THROW(echo::parse_duration("25h"), echo::usage_error);
  BOOST_CHECK_THROW(echo::parse_duration("1.5s"), echo::usage_error);
}

BOOST_AUTO_TEST_CASE(help_and_version) {
  BOOST_TEST((parse({"--help"}).what == command_line::action::help));
  BOOST_TEST((parse({"-h"}).what == command_line::action::help));
  BOOST_TEST((parse({"--version"}).what == command_line::action::version));
  const auto text = echo::usage_text();
  for (const char* needle : {"--threads", "--port", "--bind", "--shutdown-timeout", "--log-level",
                             "listening on", " 64 ", " 69 ", " 70 "})
    BOOST_TEST(text.find(needle) != std::string::npos, "usage text mentions " << needle);
}

BOOST_AUTO_TEST_CASE(unknown_flag) { BOOST_TEST(rejects({"--frobnicate"})); }
BOOST_AUTO_TEST_CASE(abbreviated_flag) { BOOST_TEST(rejects({"--thr", "2"})); }
BOOST_AUTO_TEST_CASE(missing_value) {
  BOOST_TEST(rejects({"--port"}));
  BOOST_TEST(rejects({"--threads"}));
  BOOST_TEST(rejects({"--bind"}));
}
BOOST_AUTO_TEST_CASE(positional_argument) { BOOST_TEST(rejects({"7007"})); }
BOOST_AUTO_TEST_CASE(repeated_flag) { BOOST_TEST(rejects({"--port", "1", "--port", "2"})); }

BOOST_AUTO_TEST_CASE(port_out_of_range) {
  for (const char* p : {"65536", "-1", "99999999999999999999", "", "80x", " 80", "0x50", "+80"})
    BOOST_TEST(rejects({"--port", p}), "port '" << p << "'");
}

BOOST_AUTO_TEST_CASE(threads_negative_or_absurd) {
  for (const char* t : {"-1", "1025", "100000", "two", "1.5", ""})
    BOOST_TEST(rejects({"--threads", t}), "threads '" << t << "'");
  BOOST_TEST(parse({"--threads", "1024"}).cfg.threads == 1024U);
}

BOOST_AUTO_TEST_CASE(unparsable_address) {
  for (const char* a : {"nope", "localhost", "300.1.1.1", "127.0.0.1:80", "::g", "[::1", ""})
    BOOST_TEST(rejects({"--bind", a}), "address '" << a << "'");
}

BOOST_AUTO_TEST_CASE(bad_values) {
  BOOST_TEST(rejects({"--log-level", "loud"}));
  BOOST_TEST(rejects({"--shutdown-timeout", "soon"}));
  BOOST_TEST(rejects({"--buffer-size", "100"}));
  BOOST_TEST(rejects({"--buffer-size", "1GiB"}));
}

BOOST_AUTO_TEST_CASE(backlog_flag) {
  BOOST_TEST(parse({"--backlog", "128"}).cfg.backlog == 128);
  for (const char* b : {"0", "65536", "-1", "x", "99999999999999"})
    BOOST_TEST(rejects({"--backlog", b}), "backlog '" << b << "'");
}

// The rules live in validate(): a config built in code breaks them the same way a flag does,
// with a typed error naming the setting.
BOOST_AUTO_TEST_CASE(validate_rejects_what_the_flags_reject) {
  const auto setting_of = [](const echo::config& cfg) -> std::string {
    try {
      echo::validate(cfg);
    } catch (const echo::config_error& e) {
      BOOST_TEST(std::string(e.what()).find('\n') == std::string::npos);
      return e.setting();
    }
    return "";
  };
  BOOST_TEST(setting_of(echo::config{}) == "");
  echo::config c;
  c.threads = 1025;
  BOOST_TEST(setting_of(c) == "threads");
  c = {};
  c.buffer_size = 511;
  BOOST_TEST(setting_of(c) == "buffer-size");
  c.buffer_size = echo::config::max_buffer_size + 1;
  BOOST_TEST(setting_of(c) == "buffer-size");
  c = {};
  c.max_connections = echo::config::max_max_connections + 1;
  BOOST_TEST(setting_of(c) == "max-connections");
  c = {};
  c.backlog = 0;
  BOOST_TEST(setting_of(c) == "backlog");
  c = {};
  c.idle_timeout = std::chrono::hours(25);
  BOOST_TEST(setting_of(c) == "idle-timeout");
  c = {};
  c.write_timeout = std::chrono::milliseconds(-1);
  BOOST_TEST(setting_of(c) == "write-timeout");
  c = {};
  c.shutdown_timeout = std::chrono::hours(25);
  BOOST_TEST(setting_of(c) == "shutdown-timeout");
  c = {};
  c.listeners.clear();
  BOOST_TEST(setting_of(c) == "listen");
}

// --help prints the defaults from config{}, in the syntax the parser reads back.
BOOST_AUTO_TEST_CASE(help_defaults_come_from_config) {
  const echo::config d;
  const auto text = echo::usage_text();
  for (const auto& needle : {"(default " + echo::format_duration(d.shutdown_timeout) + ")",
                             "(default " + echo::format_duration(d.idle_timeout) + ")",
                             "(default " + echo::format_duration(d.write_timeout) + ")",
                             "(default " + echo::format_size(d.buffer_size) + ")",
                             "(default " + std::to_string(d.listeners.front().port) + ")",
                             "(default " + std::to_string(d.backlog) + ")"})
    BOOST_TEST(text.find(needle) != std::string::npos, "usage text shows " << needle);
  BOOST_TEST((echo::parse_duration(echo::format_duration(d.idle_timeout)) == d.idle_timeout));
  BOOST_TEST((echo::parse_size(echo::format_size(d.buffer_size)) == d.buffer_size));
  for (const auto ms : {0, 1, 250, 1000, 1500, 60'000, 90'000, 3'600'000}) {
    const std::chrono::milliseconds v(ms);
    BOOST_TEST((echo::parse_duration(echo::format_duration(v)) == v), echo::format_duration(v));
  }
}

// --- Environment and file sources ---------------------------------------------------------

namespace {

command_line parse_with(std::initializer_list<const char*> words, std::vector<const char*> env) {
  std::vector<const char*> argv{"echo-svc"};
  argv.insert(argv.end(), words);
  return parse_command_line(argv, env);
}

// The message of the config_error (not usage_error) that parsing throws, or "" if none.
std::string config_failure(std::initializer_list<const char*> words, std::vector<const char*> env) {
  try {
    parse_with(words, env);
  } catch (const echo::usage_error& e) {
    BOOST_ERROR("a usage error where a configuration error was expected: " << e.what());
    return "usage error";
  } catch (const echo::config_error& e) {
    BOOST_TEST(std::string(e.what()).find('\n') == std::string::npos);
    return e.what();
  }
  return "";
}

bool contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_setting_reads_from_the_environment) {
  const auto cmd = parse_with({}, {"ECHO_SVC_PORT=8081",
                                   "ECHO_SVC_BIND=::1",
                                   "ECHO_SVC_THREADS=3",
                                   "ECHO_SVC_LOG_LEVEL=debug",
                                   "ECHO_SVC_LOG_FORMAT=json",
                                   "ECHO_SVC_SHUTDOWN_TIMEOUT=7s",
                                   "ECHO_SVC_SHUTDOWN_DELAY=2s",
                                   "ECHO_SVC_MAX_CONNECTIONS=100",
                                   "ECHO_SVC_IDLE_TIMEOUT=1m",
                                   "ECHO_SVC_WRITE_TIMEOUT=10s",
                                   "ECHO_SVC_BUFFER_SIZE=16KiB",
                                   "ECHO_SVC_BACKLOG=64",
                                   "ECHO_SVC_REUSE_PORT=true",
                                   "ECHO_SVC_ADMIN_LISTEN=127.0.0.1:9100",
                                   "ECHO_SVC_LISTEN=unix:@a,udp://127.0.0.1:5",
                                   "ECHO_SVC_UNIX_MODE=0640",
                                   "ECHO_SVC_UDP_SOURCE_RATE=5",
                                   "ECHO_SVC_UDP_SOURCE_BYTES=1MiB",
                                   "ECHO_SVC_UDP_RECEIVE_BUFFER=8MiB",
                                   "ECHO_SVC_TLS_CERT=c.pem",
                                   "ECHO_SVC_TLS_KEY=k.pem",
                                   "ECHO_SVC_TLS_CLIENT_CA=ca.pem",
                                   "ECHO_SVC_TLS_MIN_VERSION=1.3",
                                   "ECHO_SVC_TLS_ALPN=echo,h2",
                                   "ECHO_SVC_TLS_HANDSHAKE_TIMEOUT=3s",
                                   "ECHO_SVC_READY_FILE=/run/echo/ready",
                                   "ECHO_SVC_FAULT=latency:delay=5ms,jitter=1ms;amplify:factor=2",
                                   "ECHO_SVC_SEED=99",
                                   "ECHO_SVC_ALLOW_CORRUPTION=true",
                                   "ECHO_SVC_CATALOGUE=7100",
                                   "ECHO_SVC_ADMIN_TOKEN=env-token",
                                   "ECHO_SVC_CONNECTION_HISTORY=7",
                                   "ECHO_SVC_SPLICE=auto",
                                   "PATH=/usr/bin",
                                   "ECHO_OTHER=1"});
  const auto& c = cmd.cfg;
  BOOST_TEST(c.listeners.front().port == 8081);
  BOOST_TEST((c.listeners.front().address.value() == boost::asio::ip::make_address("::1")));
  BOOST_TEST(c.threads == 3U);
  BOOST_TEST((c.level == echo::log_level::debug));
  BOOST_TEST((c.format == echo::log_format::json));
  BOOST_TEST(c.shutdown_timeout.count() == 7000);
  BOOST_TEST(c.shutdown_delay.count() == 2000);
  BOOST_TEST(c.max_connections == 100U);
  BOOST_TEST(c.idle_timeout.count() == 60000);
  BOOST_TEST(c.write_timeout.count() == 10000);
  BOOST_TEST(c.buffer_size == 16U * 1024U);
  BOOST_TEST(c.backlog == 64);
  BOOST_TEST(c.reuse_port);
  BOOST_TEST(c.admin.has_value());
  BOOST_TEST(c.admin->port == 9100);
  BOOST_REQUIRE_EQUAL(c.listeners.size(), 3U);  // --port from the environment keeps its listener
  BOOST_TEST(c.listeners[1].path == "@a");
  BOOST_TEST(c.listeners[2].port == 5);
  BOOST_TEST(c.unix_mode.value_or(0) == 0640U);
  BOOST_TEST(c.udp_source_rate == 5U);
  BOOST_TEST(c.udp_source_bytes == 1024U * 1024U);
  BOOST_TEST(c.udp_receive_buffer == 8U * 1024U * 1024U);
  BOOST_TEST(c.tls.cert_file == "c.pem");
  BOOST_TEST(c.tls.key_file == "k.pem");
  BOOST_TEST(c.tls.client_ca_file == "ca.pem");
  BOOST_TEST((c.tls.min_version == echo::tls_settings::version::tls1_3));
  BOOST_TEST((c.tls.alpn == std::vector<std::string>{"echo", "h2"}));
  BOOST_TEST(c.tls.handshake_timeout.count() == 3000);
  BOOST_TEST(c.ready_file == "/run/echo/ready");
  BOOST_TEST((cmd.origins.at("port").source == echo::config_source::environment));
  BOOST_TEST(cmd.origins.at("port").describe() == "environment ECHO_SVC_PORT");
  BOOST_REQUIRE_EQUAL(c.faults.size(), 2U);
  BOOST_TEST(echo::format_fault_spec(c.faults[0]) == "latency:delay=5ms,jitter=1ms");
  BOOST_TEST((c.seed == 99U));
  BOOST_TEST(c.allow_corruption);
  BOOST_TEST(c.catalogue->port == 7100U);
  BOOST_TEST(c.admin_token == "env-token");
  BOOST_TEST(c.connection_history == 7U);
  BOOST_TEST((c.splice == echo::splice_mode::automatic));
  // The token file excludes the token itself, so it gets a parse of its own.
  const auto file = parse_with({}, {"ECHO_SVC_ADMIN_TOKEN_FILE=/run/secrets/token"});
  BOOST_TEST(file.cfg.admin_token_file == "/run/secrets/token");
  BOOST_TEST((file.origins.at("admin-token-file").source == echo::config_source::environment));
  BOOST_TEST(cmd.origins.size() == 34U, "every setting has an origin; one was just added: test it above");
}

BOOST_AUTO_TEST_CASE(precedence_is_flag_then_environment_then_file_then_default) {
  temp_file file("port = 1111\nthreads = 2\nbacklog = 10\n# a comment\n\nidle-timeout = 9s\n");
  const std::string config_env = "ECHO_SVC_CONFIG=" + file.path;
  const std::vector<const char*> env{config_env.c_str(), "ECHO_SVC_PORT=2222", "ECHO_SVC_THREADS=3"};
  const auto cmd = parse_with({"--port", "3333"}, env);
  BOOST_TEST(cmd.cfg.listeners.front().port == 3333);  // flag over environment and file
  BOOST_TEST(cmd.cfg.threads == 3U);                   // environment over file
  BOOST_TEST(cmd.cfg.backlog == 10);                   // file over default
  BOOST_TEST(cmd.cfg.idle_timeout.count() == 9000);
  BOOST_TEST(cmd.cfg.buffer_size == echo::config{}.buffer_size);  // default
  BOOST_TEST((cmd.origins.at("port").source == echo::config_source::command_line));
  BOOST_TEST((cmd.origins.at("threads").source == echo::config_source::environment));
  BOOST_TEST((cmd.origins.at("backlog").source == echo::config_source::file));
  BOOST_TEST(cmd.origins.at("backlog").where == file.path);
  BOOST_TEST((cmd.origins.at("buffer-size").source == echo::config_source::default_value));
  // Each source alone.
  BOOST_TEST(parse_with({"--config", file.path.c_str()}, {}).cfg.listeners.front().port == 1111);
  BOOST_TEST(parse_with({}, {"ECHO_SVC_PORT=2222"}).cfg.listeners.front().port == 2222);
  BOOST_TEST(parse_with({"-p", "3333"}, {}).cfg.listeners.front().port == 3333);
  // --config on the command line wins over ECHO_SVC_CONFIG.
  temp_file other("port = 4444\n");
  BOOST_TEST(parse_with({"--config", other.path.c_str()}, {config_env.c_str()}).cfg.listeners.front().port ==
             4444);
}

BOOST_AUTO_TEST_CASE(unknown_environment_variable_is_a_config_error) {
  const auto m = config_failure({}, {"ECHO_SVC_PROT=7007"});
  BOOST_TEST(contains(m, "ECHO_SVC_PROT"), m);
  BOOST_TEST(contains(m, "environment"), m);
  BOOST_TEST(config_failure({}, {"ECHO_SVC_HELP=1"}) != "");
  BOOST_TEST(config_failure({}, {"ECHO_SVC_=1"}) != "");
}

BOOST_AUTO_TEST_CASE(unknown_file_key_is_a_config_error) {
  temp_file file("port = 7007\nthreds = 2\n");
  const auto m = config_failure({"--config", file.path.c_str()}, {});
  BOOST_TEST(contains(m, "threds"), m);
  BOOST_TEST(contains(m, file.path), m);
  temp_file section("[admin]\nlisten = :9100\n");
  BOOST_TEST(contains(config_failure({"--config", section.path.c_str()}, {}), "admin.listen"));
  temp_file twice("port = 1\nport = 2\n");
  BOOST_TEST(contains(config_failure({"--config", twice.path.c_str()}, {}), "twice"));
  temp_file garbage("this is not a setting\n");
  BOOST_TEST(config_failure({"--config", garbage.path.c_str()}, {}) != "");
  const auto missing = config_failure({"--config", "/nonexistent/echo-svc.conf"}, {});
  BOOST_TEST(contains(missing, "/nonexistent/echo-svc.conf"), missing);
}

// A bad value from the environment or a file is a configuration error naming its source;
// the same value as a flag stays a usage error.
BOOST_AUTO_TEST_CASE(bad_values_name_their_source) {
  auto m = config_failure({}, {"ECHO_SVC_PORT=70000"});
  BOOST_TEST(contains(m, "70000"), m);
  BOOST_TEST(contains(m, "ECHO_SVC_PORT"), m);
  temp_file file("buffer-size = 100\n");
  m = config_failure({"--config", file.path.c_str()}, {});
  BOOST_TEST(contains(m, file.path), m);
  // Rejected by validate(), not by the conversion: still attributed to its source.
  m = config_failure({}, {"ECHO_SVC_THREADS=2000"});
  BOOST_TEST(contains(m, "ECHO_SVC_THREADS"), m);
  BOOST_TEST(rejects({"--threads", "2000"}));
  BOOST_TEST(contains(config_failure({}, {"ECHO_SVC_REUSE_PORT=maybe"}), "maybe"));
  BOOST_TEST(contains(config_failure({}, {"ECHO_SVC_ADMIN_LISTEN=9100"}), "ADMIN_LISTEN"));
  // A wrong value is reported even where a higher source overrides it.
  BOOST_TEST(contains(config_failure({"--port", "1"}, {"ECHO_SVC_PORT=x"}), "ECHO_SVC_PORT"));
  temp_file unreadable_value("buffer-size = lots\n");
  BOOST_TEST(
      contains(config_failure({"--config", unreadable_value.path.c_str(), "--buffer-size", "4KiB"}, {}),
               unreadable_value.path));
}

BOOST_AUTO_TEST_CASE(endpoints_and_switches) {
  BOOST_TEST(echo::parse_endpoint("127.0.0.1:9100").port == 9100);
  BOOST_TEST(!echo::parse_endpoint(":9100").address.has_value());
  BOOST_TEST((echo::parse_endpoint("[::1]:0").address.value() == boost::asio::ip::make_address("::1")));
  for (const char* bad : {"9100", "::1:9100", "127.0.0.1:", "127.0.0.1:70000", "host:80", "[::1]", ""})
    BOOST_CHECK_THROW(echo::parse_endpoint(bad), echo::usage_error);
  for (const char* e : {"127.0.0.1:9100", "[::1]:9100", ":9100"})
    BOOST_TEST(echo::format_endpoint(echo::parse_endpoint(e)) == e);
  BOOST_TEST(parse({"--reuse-port"}).cfg.reuse_port);
  BOOST_TEST(!parse({"--reuse-port=false"}).cfg.reuse_port);
  BOOST_TEST(!parse({}).cfg.reuse_port);
  BOOST_TEST(rejects({"--reuse-port=sometimes"}));
  BOOST_TEST(rejects({"--admin-listen", "localhost:9100"}));
  BOOST_TEST(rejects({"--log-format", "xml"}));
}

// --print-config's output is a valid config file that reproduces the same configuration.
BOOST_AUTO_TEST_CASE(print_config_round_trips) {
  const auto first = parse_with({"--print-config", "--port", "0", "--bind", "::1", "--admin-listen",
                                 "127.0.0.1:0", "--reuse-port", "--log-format", "json"},
                                {"ECHO_SVC_IDLE_TIMEOUT=90s", "ECHO_SVC_BUFFER_SIZE=4KiB"});
  BOOST_TEST((first.what == command_line::action::print_config));
  const auto text = echo::print_config(first);
  BOOST_TEST_MESSAGE(text);
  BOOST_TEST(contains(text, "idle-timeout = 90s  # environment ECHO_SVC_IDLE_TIMEOUT"), text);
  BOOST_TEST(contains(text, "port = 0  # command line"), text);
  BOOST_TEST(contains(text, "backlog = 4096  # default"), text);
  temp_file file(text);
  const auto again = parse_with({"--config", file.path.c_str()}, {});
  const auto& a = first.cfg;
  const auto& b = again.cfg;
  BOOST_TEST((a.listeners == b.listeners));
  BOOST_TEST(a.threads == b.threads);
  BOOST_TEST((a.level == b.level));
  BOOST_TEST((a.format == b.format));
  BOOST_TEST((a.shutdown_timeout == b.shutdown_timeout));
  BOOST_TEST((a.shutdown_delay == b.shutdown_delay));
  BOOST_TEST(a.buffer_size == b.buffer_size);
  BOOST_TEST(a.max_connections == b.max_connections);
  BOOST_TEST((a.idle_timeout == b.idle_timeout));
  BOOST_TEST((a.write_timeout == b.write_timeout));
  BOOST_TEST(a.backlog == b.backlog);
  BOOST_TEST(a.reuse_port == b.reuse_port);
  BOOST_TEST((a.admin == b.admin));
  // An unset optional setting prints commented out and reads back as unset.
  const auto plain = echo::print_config(parse_with({}, {}));
  BOOST_TEST(contains(plain, "# bind = "), plain);
  temp_file plain_file(plain);
  BOOST_TEST(!parse_with({"--config", plain_file.path.c_str()}, {}).cfg.admin.has_value());
}

BOOST_AUTO_TEST_CASE(check_subcommand) {
  auto cmd = parse_with({"check", "--port", "9000", "--host", "::1", "--timeout", "500ms"}, {});
  BOOST_TEST((cmd.what == command_line::action::check));
  BOOST_TEST(cmd.check.port == 9000);
  BOOST_TEST(cmd.check.host == "::1");
  BOOST_TEST(cmd.check.timeout.count() == 500);
  // The port follows the server's own environment, so a health check needs no flags.
  BOOST_TEST(parse_with({"check"}, {"ECHO_SVC_PORT=8123", "ECHO_SVC_THREADS=4"}).check.port == 8123);
  BOOST_TEST(parse_with({"check"}, {}).check.port == 7007);
  BOOST_TEST((parse_with({"check", "--help"}, {}).what == command_line::action::check_help));
  BOOST_TEST(rejects({"check", "--threads", "2"}));
  BOOST_TEST(rejects({"check", "--timeout", "0"}));
}

BOOST_AUTO_TEST_CASE(splice_is_auto_off_or_the_test_suites_always) {
  BOOST_TEST((parse({}).cfg.splice == echo::splice_mode::off));
  BOOST_TEST((parse({"--splice", "auto"}).cfg.splice == echo::splice_mode::automatic));
  BOOST_TEST((parse({"--splice", "off"}).cfg.splice == echo::splice_mode::off));
  BOOST_TEST((parse({"--splice", "always"}).cfg.splice == echo::splice_mode::always));
  BOOST_TEST(rejects({"--splice", "on"}));
  BOOST_TEST(rejects({"--splice", ""}));
  // The test-only mode is not offered in --help.
  const auto text = echo::usage_text();
  BOOST_TEST(text.find("off: always copy (default off)") != std::string::npos);
  BOOST_TEST(text.find("always splice") == std::string::npos);
}
