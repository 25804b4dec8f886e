#define BOOST_TEST_MODULE listen_url
#include <boost/test/unit_test.hpp>

#include <string>
#include <vector>

#include "echo/config_error.hpp"
#include "echo/config_parser.hpp"
#include "echo/listen_url.hpp"
#include "echo/usage_error.hpp"
#include "temp_file.hpp"

using echo::format_listen_url;
using echo::listener_spec;
using echo::parse_listen_url;
using echo::proxy_protocol;
using echo::service_kind;
using echo::transport;

namespace {

echo::command_line parse(std::vector<const char*> args, std::vector<const char*> env = {}) {
  args.insert(args.begin(), "echo-svc");
  return echo::parse_command_line(args, env);
}

std::string error_of(const std::string& url) {
  try {
    parse_listen_url(url);
  } catch (const echo::usage_error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

BOOST_AUTO_TEST_CASE(every_scheme_parses) {
  const auto tcp = parse_listen_url("tcp://127.0.0.1:7007");
  BOOST_TEST((tcp.kind == transport::tcp));
  BOOST_TEST(tcp.address->to_string() == "127.0.0.1");
  BOOST_TEST(tcp.port == 7007);
  BOOST_TEST((parse_listen_url("udp://[::1]:0").kind == transport::udp));
  BOOST_TEST(parse_listen_url("udp://[::1]:0").address->to_string() == "::1");
  BOOST_TEST((parse_listen_url("tls://0.0.0.0:7443").kind == transport::tls));
  BOOST_TEST((parse_listen_url("mptcp://127.0.0.1:0").kind == transport::mptcp));
  const auto any = parse_listen_url("tcp://:9");
  BOOST_TEST(!any.address.has_value());
  BOOST_TEST(any.port == 9);
  const auto path = parse_listen_url("unix:///run/echo.sock");
  BOOST_TEST((path.kind == transport::unix_stream));
  BOOST_TEST(path.path == "/run/echo.sock");
  BOOST_TEST(parse_listen_url("unix:@echo").path == "@echo");
  BOOST_TEST(parse_listen_url("unix://@echo").path == "@echo");  // as listener names print it
  BOOST_TEST(parse_listen_url("unix:relative.sock").path == "relative.sock");
}

BOOST_AUTO_TEST_CASE(options_parse_and_format_back) {
  const auto s = parse_listen_url("tls://[::]:7443?proxy-protocol=v2&service=chargen&v6only=true");
  BOOST_TEST((s.proxy == proxy_protocol::v2));
  BOOST_TEST((s.service == service_kind::chargen));
  BOOST_TEST(s.v6only.value_or(false));
  BOOST_TEST((parse_listen_url("tcp://:1?proxy-protocol=auto").proxy == proxy_protocol::any));
  BOOST_TEST(parse_listen_url("unix:///x?mode=0660").mode.value_or(0) == 0660U);
  for (const std::string url : {"tcp://127.0.0.1:7007", "udp://[::1]:0?service=discard",
                                "tls://[::]:7443?proxy-protocol=v2&v6only=true", "mptcp://:0",
                                "unix:///run/echo.sock?mode=0600", "unix:@echo?service=chargen",
                                "tcp://10.0.0.1:1?proxy-protocol=auto", "unix:rel.sock?proxy-protocol=v1"}) {
    BOOST_TEST(format_listen_url(parse_listen_url(url)) == url);
    BOOST_TEST((parse_listen_url(format_listen_url(parse_listen_url(url))) == parse_listen_url(url)));
  }
}

BOOST_AUTO_TEST_CASE(malformed_urls_are_refused_with_a_reason) {
  const std::vector<std::pair<std::string, std::string>> cases{
      {"127.0.0.1:7007", "unknown scheme"},
      {"localhost", "expected SCHEME"},
      {"http://127.0.0.1:80", "unknown scheme 'http'"},
      {"tcp:127.0.0.1:1", "expected SCHEME://HOST:PORT"},
      {"tcp://127.0.0.1", "port is missing"},
      {"tcp://127.0.0.1:65536", "invalid port"},
      {"tcp://127.0.0.1:-1", "invalid port"},
      {"tcp://::1:7", "in brackets"},
      {"tcp://localhost:7", "invalid host 'localhost'"},
      {"tcp://127.0.0.1:7/path", "a path is not allowed"},
      {"tcp://127.0.0.1:7?service=time", "invalid service 'time'"},
      {"tcp://127.0.0.1:7?service=echo&service=echo", "given twice"},
      {"tcp://127.0.0.1:7?colour=blue", "unknown option 'colour'"},
      {"tcp://127.0.0.1:7?service", "has no value"},
      {"udp://127.0.0.1:7?proxy-protocol=v1", "not udp"},
      {"tcp://127.0.0.1:7?proxy-protocol=v3", "invalid proxy-protocol"},
      {"tcp://127.0.0.1:7?v6only=true", "not IPv4"},
      {"tcp://[::]:7?v6only=maybe", "invalid v6only"},
      {"tcp://127.0.0.1:7?mode=0600", "unix socket paths only"},
      {"unix:@abstract?mode=0600", "unix socket paths only"},
      {"unix:///x?mode=0999", "invalid mode"},
      {"unix:///x?v6only=true", "not unix"},
      {"unix:", "empty"},
      {"unix:@", "empty"},
      {"unix://relative", "expected unix:///absolute/path"},
      {"unix:///" + std::string(107, 'a'), "at most 107"},
  };
  for (const auto& [url, reason] : cases) {
    const auto what = error_of(url);
    BOOST_TEST(what.find(reason) != std::string::npos,
               url << " -> '" << what << "', expected '" << reason << "'");
    BOOST_TEST(what.find(url) != std::string::npos, "the message names the URL: " << what);
  }
  BOOST_TEST(error_of("unix:///" + std::string(106, 'a')).empty());  // exactly 107 bytes fit
}

BOOST_AUTO_TEST_CASE(listen_alone_replaces_the_default_listener) {
  const auto only = parse({"--listen", "udp://127.0.0.1:0", "--listen", "unix:@x"});
  BOOST_REQUIRE_EQUAL(only.cfg.listeners.size(), 2U);
  BOOST_TEST((only.cfg.listeners[0].kind == transport::udp));
  BOOST_TEST((only.cfg.listeners[1].kind == transport::unix_stream));
  // With --port (or --bind) the TCP listener is served as well, first.
  const auto both = parse({"--port", "0", "--listen", "unix:@x"});
  BOOST_REQUIRE_EQUAL(both.cfg.listeners.size(), 2U);
  BOOST_TEST((both.cfg.listeners[0].kind == transport::tcp));
  BOOST_TEST(both.cfg.listeners[0].port == 0);
  // A port from the environment counts as given: the container keeps its TCP listener.
  const auto env = parse({"--listen", "unix:@x"}, {"ECHO_SVC_PORT=7", nullptr});
  BOOST_TEST(env.cfg.listeners.size() == 2U);
  BOOST_TEST(parse({}).cfg.listeners.size() == 1U);
}

BOOST_AUTO_TEST_CASE(each_source_gives_a_list_and_the_highest_wins) {
  const auto env = parse({}, {"ECHO_SVC_LISTEN=udp://127.0.0.1:1,unix:@y,tcp://[::1]:2", nullptr});
  BOOST_REQUIRE_EQUAL(env.cfg.listeners.size(), 3U);
  BOOST_TEST(env.cfg.listeners[2].port == 2);
  echo::test::temp_file file("listen = udp://127.0.0.1:3\nlisten = unix:@z\nthreads = 1\n");
  const auto from_file = parse({"--config", file.path.c_str()});
  BOOST_REQUIRE_EQUAL(from_file.cfg.listeners.size(), 2U);
  BOOST_TEST(from_file.cfg.listeners[1].path == "@z");
  // The flag's list replaces the environment's, which replaces the file's: no merging.
  const auto flag = parse({"--config", file.path.c_str(), "--listen", "tcp://127.0.0.1:4"},
                          {"ECHO_SVC_LISTEN=udp://127.0.0.1:1", nullptr});
  BOOST_REQUIRE_EQUAL(flag.cfg.listeners.size(), 1U);
  BOOST_TEST(flag.cfg.listeners[0].port == 4);
  BOOST_TEST((flag.origins.at("listen").source == echo::config_source::command_line));
}

BOOST_AUTO_TEST_CASE(a_bad_url_is_64_as_a_flag_and_78_from_env_or_file) {
  BOOST_CHECK_THROW(parse({"--listen", "tcp://nowhere:1"}), echo::usage_error);
  BOOST_CHECK_THROW(parse({}, {"ECHO_SVC_LISTEN=unix:@ok,tcp://nowhere:1", nullptr}), echo::config_error);
  echo::test::temp_file file("listen = unix:@ok\nlisten = udp://1.2.3.4:1?proxy-protocol=v1\n");
  BOOST_CHECK_THROW(parse({"--config", file.path.c_str()}), echo::config_error);
  // Hidden by a flag, still checked.
  BOOST_CHECK_THROW(parse({"--config", file.path.c_str(), "--listen", "unix:@ok"}), echo::config_error);
}

BOOST_AUTO_TEST_CASE(print_config_lists_the_urls_and_reads_back) {
  for (const auto& args : std::vector<std::vector<const char*>>{
           {"--listen", "udp://127.0.0.1:0?service=chargen", "--listen", "unix:///tmp/e.sock?mode=0600"},
           {"--port", "0", "--listen", "tls://[::1]:0?proxy-protocol=v2", "--unix-mode", "0660", "--tls-cert",
            "c.pem", "--tls-key", "k.pem"}}) {
    const auto first = parse(args);
    const auto text = echo::print_config(first);
    BOOST_TEST_MESSAGE(text);
    echo::test::temp_file file(text);
    const auto again = parse({"--config", file.path.c_str()});
    BOOST_TEST((again.cfg.listeners == first.cfg.listeners));
    BOOST_TEST((again.cfg.unix_mode == first.cfg.unix_mode));
  }
}
