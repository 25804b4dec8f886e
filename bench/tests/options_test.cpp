#define BOOST_TEST_MODULE options
#include <boost/test/unit_test.hpp>

#include "options.hpp"

#include <initializer_list>
#include <vector>

using echo::bench::mode;
using echo::bench::options;
using echo::bench::parse_latency_target;
using echo::bench::parse_options;
using echo::bench::transport;
using echo::bench::usage_error;

namespace {

std::optional<options> parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv{"echo-bench"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parse_options(static_cast<int>(argv.size()), argv.data());
}

}  // namespace

BOOST_AUTO_TEST_CASE(latency_targets) {
  const auto t = parse_latency_target("p99<1ms");
  BOOST_TEST(t.quantile == 0.99);
  BOOST_TEST(t.limit_ns == 1e6);
  BOOST_TEST(parse_latency_target("p99.999<250us").quantile == 0.99999);
  BOOST_TEST(parse_latency_target("max<2s").limit_ns == 2e9);
  for (const char* bad : {"p99", "p98<1ms", "p99>1ms", "p99<", "p99<1h", "<1ms"})
    BOOST_CHECK_THROW(parse_latency_target(bad), usage_error);
}

BOOST_AUTO_TEST_CASE(open_loop_options) {
  const auto o =
      parse({"--port", "7", "--rate-per-conn", "100", "-c", "4", "--arrival", "poisson", "--warmup", "1s"});
  BOOST_TEST_REQUIRE(o.has_value());
  BOOST_TEST(o->rate == 400.0);
  BOOST_TEST(o->open_loop());
  BOOST_TEST(o->warmup_s == 1.0);
  BOOST_TEST(!parse({"--port", "7"})->open_loop());
  // --find-rate without --rate starts at 1000/s.
  BOOST_TEST(parse({"--port", "7", "--find-rate", "p99<1ms"})->rate == 1000.0);
}

BOOST_AUTO_TEST_CASE(open_loop_misuse_is_a_usage_error) {
  BOOST_CHECK_THROW(parse({"--port", "7", "--rate", "100", "--mode", "stream"}), usage_error);
  BOOST_CHECK_THROW(parse({"--port", "7", "--interval", "1s", "--udp"}), usage_error);
  BOOST_TEST(parse({"--port", "7", "--rate", "100", "--udp"})->open_loop());
  BOOST_CHECK_THROW(parse({"--port", "7", "--rate", "100", "--rate-per-conn", "1"}), usage_error);
  BOOST_CHECK_THROW(parse({"--port", "7", "--rate", "0"}), usage_error);
  BOOST_CHECK_THROW(parse({"--port", "7", "--rate", "100", "-n", "10"}), usage_error);
  BOOST_CHECK_THROW(parse({"--port", "7", "--arrival", "bursty"}), usage_error);
  BOOST_CHECK_THROW(parse({"--port", "7", "--interval", "1s", "--mode", "idle"}), usage_error);
}

BOOST_AUTO_TEST_CASE(probe_targets) {
  auto o = parse({"--mode", "probe", "--target", "tls://[::1]:443", "--count", "3", "--expect", "TLS"});
  BOOST_TEST_REQUIRE(o.has_value());
  BOOST_TEST((o->run_mode == mode::probe));
  BOOST_TEST((o->kind == transport::tls));
  BOOST_TEST(o->host == "::1");
  BOOST_TEST(o->port == 443);
  BOOST_TEST(*o->count == 3u);
  BOOST_TEST(o->tls_insecure);  // no --tls-ca: a probe asks whether the path works
  o = parse({"--mode", "probe", "--target", "unix:///run/echo.sock"});
  BOOST_TEST((o->kind == transport::unix_stream));
  BOOST_TEST(o->unix_path == "/run/echo.sock");
  BOOST_TEST(*o->count == 1u);
  BOOST_TEST(o->rate == 10.0);
  for (auto bad : {std::initializer_list<const char*>{"--mode", "probe"},
                   {"--mode", "probe", "--target", "http://x:1"},
                   {"--mode", "probe", "--target", "tcp://x"},
                   {"--mode", "probe", "--target", "tcp://x:0"},
                   {"--mode", "probe", "--target", "tcp://x:1", "--expect", "BLOCKED"},
                   {"--mode", "probe", "--target", "tcp://x:1", "--port", "1"},
                   {"--port", "7", "--target", "tcp://x:1"}})
    BOOST_CHECK_THROW(parse(bad), usage_error);
}
