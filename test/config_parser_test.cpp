#define BOOST_TEST_MODULE config_parser
#include <boost/test/unit_test.hpp>

#include <initializer_list>
#include <string>
#include <vector>

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
  BOOST_TEST(cmd.cfg.port == 7007);
  BOOST_TEST(cmd.cfg.threads == 1U);
  BOOST_TEST(!cmd.cfg.bind.has_value());
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
  BOOST_TEST(cmd.cfg.port == 8080);
}

BOOST_AUTO_TEST_CASE(all_options) {
  const auto cmd = parse({"--port=0", "--bind", "[::1]", "--threads=0", "--log-level", "debug",
                          "--shutdown-timeout", "250ms", "--buffer-size", "16KiB"});
  BOOST_TEST(cmd.cfg.port == 0);
  BOOST_TEST(cmd.cfg.bind.value() == "::1");
  BOOST_TEST(cmd.cfg.threads == 0U);
  BOOST_TEST((cmd.cfg.level == echo::log_level::debug));
  BOOST_TEST(cmd.cfg.shutdown_timeout.count() == 250);
  BOOST_TEST(cmd.cfg.buffer_size == 16U * 1024U);
  BOOST_TEST(parse({"--bind", "127.0.0.1"}).cfg.bind.value() == "127.0.0.1");
  BOOST_TEST(parse({"-p", "65535"}).cfg.port == 65535);
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
