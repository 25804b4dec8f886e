#define BOOST_TEST_MODULE config_parser
#include <boost/test/unit_test.hpp>

#include <initializer_list>
#include <string>
#include <vector>

#include "echo/config_error.hpp"
#include "echo/config_parser.hpp"
#include "echo/usage_error.hpp"

using echo::command_line;
using echo::parse_command_line;

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
