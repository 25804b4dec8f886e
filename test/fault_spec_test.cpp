#define BOOST_TEST_MODULE fault_spec
#include <boost/test/unit_test.hpp>

#include <cstddef>
#include <string>
#include <vector>

#include "detail/fault_engine.hpp"
#include "detail/fault_plan.hpp"
#include "echo/config_error.hpp"
#include "echo/config_parser.hpp"
#include "echo/fault_spec.hpp"
#include "echo/usage_error.hpp"

using echo::fault_kind;
using echo::parse_fault_spec;

// Every fault reads back from its canonical form unchanged, and the canonical form of a
// canonical SPEC is itself.
BOOST_AUTO_TEST_CASE(every_fault_round_trips_through_its_canonical_spec) {
  const std::vector<std::string> canonical{
      "latency:delay=50ms,jitter=5ms",
      "bandwidth:rate=64KiB",
      "slice:size=1",
      "slice:size=1-64,delay=1ms",
      "close-after:bytes=4KiB",
      "close-after:time=2s",
      "reset-after:bytes=1000,listener=7101,probability=0.5,after=10,count=3",
      "stall:after-bytes=100",
      "stall",
      "blackhole:match=10.0.0.0/8",
      "slow-read:rate=1KiB",
      "slow-close:delay=300ms",
      "early-fin:after-bytes=1MiB",
      "hold-close-wait:match=2001:db8::/32",
      "no-accept:listener=tcp://127.0.0.1:7101",
      "refuse",
      "accept-delay:delay=1s",
      "banner:text=220 ready\\, go\\r\\n\\x23",
      "corrupt:rate=0.001",
      "garbage-then-close:bytes=100",
      "amplify:factor=3",
  };
  for (const auto& text : canonical) {
    const auto f = parse_fault_spec(text);
    BOOST_TEST(echo::format_fault_spec(f) == text);
    BOOST_TEST((parse_fault_spec(echo::format_fault_spec(f)) == f), text);
  }
  const auto banner = parse_fault_spec("banner:text=a\\,b\\r\\n");
  BOOST_TEST(banner.text == "a,b\r\n");
  const auto slice = parse_fault_spec("slice:size=1-64,delay=1ms");
  BOOST_TEST(slice.size_min == 1U);
  BOOST_TEST(slice.size_max == 64U);
  BOOST_TEST(parse_fault_spec("bandwidth:rate=64KiB").rate == 65536U);
  BOOST_TEST((parse_fault_spec("stall:after-bytes=0") == parse_fault_spec("stall")));
}

BOOST_AUTO_TEST_CASE(bad_specs_are_refused_with_the_spec_named) {
  for (const char* bad : {"",
                          "nosuch",
                          "latency",
                          "latency:",
                          "latency:delay=5xs",
                          "latency:delay=1ms,jitter=2ms",
                          "latency:delay=1ms,delay=2ms",
                          "latency:delay=1ms,",
                          "latency:bytes=1",
                          "slice:size=0",
                          "slice:size=9-3",
                          "close-after",
                          "close-after:bytes=1,time=1s",
                          "reset-after:bytes=-1",
                          "bandwidth:rate=0",
                          "corrupt:rate=0",
                          "corrupt:rate=2",
                          "amplify:factor=1",
                          "banner:text=",
                          "garbage-then-close:bytes=0",
                          "refuse:probability=0.5",
                          "no-accept:after=1",
                          "blackhole:match=10.0.0.0/33",
                          "blackhole:probability=1.5",
                          "blackhole:count=x",
                          "banner:text=\\q"}) {
    try {
      parse_fault_spec(bad);
      BOOST_ERROR("accepted: " << bad);
    } catch (const echo::usage_error& e) {
      BOOST_TEST(std::string(e.what()).find(std::string("'") + bad + "'") != std::string::npos, e.what());
    }
  }
}

BOOST_AUTO_TEST_CASE(integrity_faults_need_allow_corruption) {
  for (const char* spec : {"corrupt:rate=0.1", "garbage-then-close:bytes=10", "amplify:factor=2"}) {
    BOOST_CHECK_THROW(echo::validate_faults({parse_fault_spec(spec)}, false), echo::config_error);
    BOOST_CHECK_NO_THROW(echo::validate_faults({parse_fault_spec(spec)}, true));
  }
  BOOST_CHECK_NO_THROW(echo::validate_faults({parse_fault_spec("latency:delay=1ms")}, false));
}

BOOST_AUTO_TEST_CASE(match_ranges_cover_v4_mapped_clients) {
  const auto r = *parse_fault_spec("blackhole:match=10.0.0.0/8").match;
  const auto addr = [](const char* a) { return boost::asio::ip::make_address(a); };
  BOOST_TEST(r.contains(addr("10.200.1.2")));
  BOOST_TEST(r.contains(addr("::ffff:10.1.2.3")));
  BOOST_TEST(!r.contains(addr("11.0.0.1")));
  BOOST_TEST(!r.contains(addr("::1")));
  const auto one = *parse_fault_spec("blackhole:match=2001:db8::1").match;
  BOOST_TEST(one.contains(addr("2001:db8::1")));
  BOOST_TEST(!one.contains(addr("2001:db8::2")));
}

// --fault is repeatable on the command line and in the file; ECHO_SVC_FAULT separates
// SPECs with ';' because a SPEC's own keys are separated by ','.
BOOST_AUTO_TEST_CASE(faults_come_from_flags_environment_and_seed) {
  const char* args[] = {"echo-svc", "--fault", "latency:delay=5ms,jitter=1ms", "--fault", "slice:size=1-8",
                        "--seed",   "42"};
  const auto cmd = echo::parse_command_line(args);
  BOOST_TEST(cmd.cfg.faults.size() == 2U);
  BOOST_TEST(echo::format_fault_spec(cmd.cfg.faults[1]) == "slice:size=1-8");
  BOOST_TEST((cmd.cfg.seed == 42U));
  const char* plain[] = {"echo-svc"};
  const char* env[] = {"ECHO_SVC_FAULT=latency:delay=5ms,jitter=1ms;blackhole"};
  const auto from_env = echo::parse_command_line(plain, env);
  BOOST_TEST(from_env.cfg.faults.size() == 2U);
  BOOST_TEST((from_env.cfg.faults[1].kind == fault_kind::blackhole));
  const char* corrupt[] = {"echo-svc", "--fault", "corrupt:rate=0.5"};
  BOOST_CHECK_THROW(echo::parse_command_line(corrupt), echo::usage_error);
  const char* allowed[] = {"echo-svc", "--fault", "corrupt:rate=0.5", "--allow-corruption"};
  BOOST_TEST(echo::parse_command_line(allowed).cfg.allow_corruption);
  const char* catalogue[] = {"echo-svc", "--catalogue", "7100", "--bind", "127.0.0.1"};
  const auto cat = echo::parse_command_line(catalogue);
  BOOST_TEST(cat.cfg.listeners.empty());
  BOOST_TEST(cat.cfg.catalogue->port == 7100U);
  BOOST_TEST(cat.cfg.catalogue->address->to_string() == "127.0.0.1");
  const char* with_url[] = {"echo-svc", "--catalogue", "7100", "--listen", "unix:@x"};
  const auto both = echo::parse_command_line(with_url);
  BOOST_REQUIRE_EQUAL(both.cfg.listeners.size(), 1U);  // the URL; the catalogue follows it
  BOOST_TEST(both.cfg.listeners.front().path == "@x");
}

namespace {

// Drives one connection's plan through `reads` reads of `size` bytes, each echoed in the
// writes the plan chooses; returns what the plan recorded.
std::vector<echo::fault_effect> drive(echo::detail::fault_engine& engine, std::uint64_t id, int reads,
                                      std::size_t size) {
  auto plan = echo::detail::fault_plan::make(engine, {id, 0, boost::asio::ip::make_address("127.0.0.1")});
  if (!plan) return {};
  std::vector<std::byte> data(size);
  plan->on_start();
  for (int r = 0; r < reads; ++r) {
    plan->after_read(data);
    std::size_t pending = size;
    while (pending > 0) {
      const auto s = plan->before_write(pending);
      if (s.what != echo::step::kind::go) break;
      pending -= s.bytes == 0 || s.bytes > pending ? pending : s.bytes;
    }
    plan->before_read();
  }
  return plan->effects();
}

std::vector<std::vector<echo::fault_effect>> run(std::uint64_t seed, const std::vector<std::string>& specs,
                                                 std::uint64_t connections) {
  echo::detail::fault_engine engine(seed, true, 1);
  std::vector<echo::fault_spec> faults;
  for (const auto& s : specs) faults.push_back(parse_fault_spec(s));
  engine.configure({{"tcp://127.0.0.1:7007", "127.0.0.1:7007", 7007}}, faults);
  std::vector<std::vector<echo::fault_effect>> out;
  for (std::uint64_t id = 1; id <= connections; ++id) out.push_back(drive(engine, id, 3, 1000));
  return out;
}

}  // namespace

// The same seed and connection order give the same decisions, sizes and offsets; another
// seed gives others.
BOOST_AUTO_TEST_CASE(the_same_seed_decides_the_same_way_twice) {
  const std::vector<std::string> specs{"slice:size=1-64,probability=0.5", "corrupt:rate=0.01,probability=0.3",
                                       "latency:delay=10ms,jitter=5ms,probability=0.2"};
  const auto a = run(12345, specs, 300), b = run(12345, specs, 300), c = run(54321, specs, 300);
  BOOST_TEST((a == b));
  BOOST_TEST((a != c));
  std::size_t sliced = 0;
  for (const auto& effects : a)
    for (const auto& e : effects)
      if (e.fault.rfind("slice", 0) == 0) ++sliced;
  // probability=0.5 over 300 connections: far from 0 and from 300.
  BOOST_TEST(sliced > 100U);
  BOOST_TEST(sliced < 200U);
}

// probability=0 never fires: no draw is made, so no generator state can make it.
BOOST_AUTO_TEST_CASE(probability_zero_never_fires_over_ten_thousand_connections) {
  const auto effects = run(7, {"reset-after:bytes=0,probability=0", "slice:size=100"}, 10'000);
  std::size_t sliced = 0;
  for (const auto& e : effects) {
    for (const auto& x : e) {
      BOOST_TEST_REQUIRE(x.fault.rfind("reset-after", 0) != 0);
      ++sliced;
    }
  }
  BOOST_TEST(sliced == 10'000U);
}

// after= lets the first N qualifying connections pass; count= then takes K.
BOOST_AUTO_TEST_CASE(after_and_count_pick_exactly_the_intended_connections) {
  const auto effects = run(1, {"slice:size=10,after=3,count=4"}, 12);
  for (std::size_t i = 0; i < effects.size(); ++i) {
    const bool expected = i >= 3 && i < 7;
    BOOST_TEST(!effects[i].empty() == expected, "connection " << i + 1);
  }
}
