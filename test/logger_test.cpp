#define BOOST_TEST_MODULE logger
#include <boost/test/unit_test.hpp>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "echo/logger.hpp"
#include "json_lines.hpp"
#include "unique_fd.hpp"

using namespace std::chrono_literals;
using namespace std::string_view_literals;
using echo::log_event;
using echo::log_field;
using echo::log_format;
using echo::log_level;
using echo::log_limit;
using echo::logger;
using echo::test::parse_json_lines;
using echo::test::unique_fd;

namespace {

// Points the process-wide logger at a memory file for one test case and puts it back after.
struct capture {
  explicit capture(log_format format, log_level level = log_level::trace)
      : fd(::memfd_create("log", MFD_CLOEXEC)) {
    BOOST_REQUIRE(fd);
    // Appending: writers on several threads each add whole lines at the end.
    BOOST_REQUIRE(::fcntl(fd.get(), F_SETFL, O_APPEND) == 0);
    logger::instance().set_fd(fd.get());
    logger::instance().set_format(format);
    logger::instance().set_level(level);
  }
  ~capture() {
    logger::instance().set_fd(-1);
    logger::instance().set_format(log_format::text);
    logger::instance().set_level(log_level::info);
  }
  capture(const capture&) = delete;
  capture& operator=(const capture&) = delete;

  // Everything logged so far.
  std::string text() const {
    struct stat st {};
    BOOST_REQUIRE(::fstat(fd.get(), &st) == 0);
    std::string s(static_cast<std::size_t>(st.st_size), '\0');
    BOOST_REQUIRE(::pread(fd.get(), s.data(), s.size(), 0) == static_cast<ssize_t>(s.size()));
    return s;
  }
  std::vector<std::string> lines() const {
    std::vector<std::string> out;
    const auto s = text();
    for (std::size_t at = 0; at < s.size();) {
      const auto end = s.find('\n', at);
      BOOST_REQUIRE(end != std::string::npos);
      out.push_back(s.substr(at, end - at));
      at = end + 1;
    }
    return out;
  }
  std::vector<boost::json::object> objects() const { return parse_json_lines(text()); }

  unique_fd fd;
};

// Strings a peer (or a bug) could put into a field: every kind of byte that breaks lines,
// quoting or JSON.
const std::vector<std::string> nasty{
    "plain",
    "",
    "with space",
    "quote\" and backslash\\",
    "key=value",
    "new\nline",
    "carriage\rreturn\ttab",
    std::string("nul\0byte", 8),
    "\x01\x02\x1f\x7f",
    "\xff\xfe",                                   // never valid in UTF-8
    "\xc0\xaf",                                   // overlong '/'
    "\xed\xa0\x80",                               // a surrogate
    "\xe2\x82",                                   // truncated euro sign
    "\xf4\x90\x80\x80",                           // above U+10FFFF
    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",  // valid: e-acute, euro, emoji
    "line\xe2\x80\xa8separator",
    "{\"json\":\"inside\"}",
};

// What a JSON reader must get back: valid UTF-8 kept, each invalid byte replaced by U+FFFD.
std::string expected_json_value(const std::string& s) {
  static const std::vector<std::pair<std::string, std::string>> invalid{
      {"\xff\xfe", "\xef\xbf\xbd\xef\xbf\xbd"},
      {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd"},
      {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
      {"\xe2\x82", "\xef\xbf\xbd\xef\xbf\xbd"},
      {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
  };
  for (const auto& [in, out] : invalid)
    if (s == in) return out;
  return s;
}

bool has_control_byte(const std::string& line) {
  return std::any_of(line.begin(), line.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7f;
  });
}

}  // namespace

BOOST_AUTO_TEST_CASE(text_renders_message_then_key_values) {
  capture cap(log_format::text);
  log_event(log_level::info, "listening", "listening",
            {{"listener", "tcp://[::]:7007"},
             {"conn", std::uint64_t{42}},
             {"delta", -3},
             {"ok", true},
             {"took_ms", 1500us},
             {"limit_ms", 30s},
             {"peer", "has space"},
             {"empty", ""}});
  const auto lines = cap.lines();
  BOOST_REQUIRE(lines.size() == 1U);
  const auto& l = lines[0];
  // 2026-12-01T00:55:12.025Z info  listening ...
  BOOST_TEST(l.size() > 25U);
  BOOST_TEST(l[4] == '-');
  BOOST_TEST(l[10] == 'T');
  BOOST_TEST(l[23] == 'Z');
  BOOST_TEST(
      l.substr(24) ==
      " info  listening listener=tcp://[::]:7007 conn=42 delta=-3 ok=true took_ms=1.500 limit_ms=30000 "
      "peer=\"has space\" empty=\"\"");
}

BOOST_AUTO_TEST_CASE(json_renders_one_object_with_typed_fields) {
  capture cap(log_format::json);
  log_event(log_level::warn, "conn_error", "connection error",
            {{"conn", std::uint64_t{18446744073709551615ULL}},
             {"delta", -3},
             {"ok", false},
             {"took_ms", 2ms},
             {"step", "read"}});
  const auto objs = cap.objects();
  BOOST_REQUIRE(objs.size() == 1U);
  const auto& o = objs[0];
  BOOST_TEST(o.at("level").as_string() == "warn");
  BOOST_TEST(o.at("event").as_string() == "conn_error");
  BOOST_TEST(o.at("msg").as_string() == "connection error");
  BOOST_TEST(o.at("ts").as_string().size() == 24U);
  BOOST_TEST(o.at("conn").as_uint64() == 18446744073709551615ULL);
  BOOST_TEST(o.at("delta").as_int64() == -3);
  BOOST_TEST(o.at("ok").as_bool() == false);
  BOOST_TEST(o.at("took_ms").to_number<double>() == 2.0);
  BOOST_TEST(o.at("step").as_string() == "read");
  // The fixed keys come first, in this order, so lines read alike.
  const auto line = cap.text();
  BOOST_TEST(line.rfind("{\"ts\":\"", 0) == 0U);
  BOOST_TEST(line.find("\",\"level\":\"warn\",\"event\":\"conn_error\",\"msg\":") == 31U);
}

BOOST_AUTO_TEST_CASE(json_escapes_every_nasty_string_into_valid_json) {
  capture cap(log_format::json);
  for (const auto& s : nasty) log_event(log_level::info, "nasty", s, {{"value", s}, {s, "as a key"}});
  const auto objs = cap.objects();  // throws unless every line is valid JSON (and valid UTF-8)
  BOOST_REQUIRE(objs.size() == nasty.size());
  for (std::size_t i = 0; i < nasty.size(); ++i) {
    const auto want = expected_json_value(nasty[i]);
    BOOST_TEST(std::string(objs[i].at("value").as_string()) == want, "case " << i);
    BOOST_TEST(std::string(objs[i].at("msg").as_string()) == want, "case " << i);
    BOOST_TEST(objs[i].contains(want), "case " << i);
  }
  for (const auto& line : cap.lines()) BOOST_TEST(!has_control_byte(line), line);
}

BOOST_AUTO_TEST_CASE(text_escapes_and_quotes_nasty_strings_on_one_line) {
  capture cap(log_format::text);
  for (const auto& s : nasty) log_event(log_level::info, "nasty", s, {{"value", s}});
  const auto lines = cap.lines();
  BOOST_REQUIRE(lines.size() == nasty.size());
  for (const auto& line : lines) BOOST_TEST(!has_control_byte(line), line);
  BOOST_TEST(lines[0].substr(24) == " info  plain value=plain");
  BOOST_TEST(lines[1].substr(24) == " info   value=\"\"");
  BOOST_TEST(lines[3].substr(24) == R"( info  quote" and backslash\ value="quote\" and backslash\\")");
  BOOST_TEST(lines[4].substr(24) == R"( info  key=value value="key=value")");
  BOOST_TEST(lines[5].substr(24) == R"( info  new\nline value="new\nline")");
  BOOST_TEST(lines[7].substr(24) == R"( info  nul\x00byte value="nul\x00byte")");
  BOOST_TEST(lines[9].substr(24) == R"( info  \xff\xfe value="\xff\xfe")");
  BOOST_TEST(lines[14].substr(24) ==
             " info  caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 value=\"caf\xc3\xa9 "
             "\xe2\x82\xac \xf0\x9f\x98\x80\"");
}

BOOST_AUTO_TEST_CASE(one_write_per_line) {
  // A sequenced-packet socket keeps write boundaries: each record received is one write(2).
  int sv[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) == 0);
  unique_fd reader(sv[0]), writer(sv[1]);
  for (const auto format : {log_format::text, log_format::json}) {
    logger::instance().set_fd(writer.get());
    logger::instance().set_format(format);
    logger::instance().set_level(log_level::trace);
    for (const auto& s : nasty) log_event(log_level::info, "nasty", s, {{"value", s}});
    echo::log_info("legacy {} line\n{}", "printf-style", "with a newline");
    logger::instance().set_fd(-1);
    logger::instance().set_format(log_format::text);
    logger::instance().set_level(log_level::info);
    for (std::size_t i = 0; i < nasty.size() + 1; ++i) {
      char buf[65536];
      const auto n = ::recv(reader.get(), buf, sizeof buf, MSG_DONTWAIT);
      BOOST_REQUIRE(n > 0);
      const std::string record(buf, static_cast<std::size_t>(n));
      BOOST_TEST(record.back() == '\n');
      BOOST_TEST(std::count(record.begin(), record.end(), '\n') == 1, record);
      if (format == log_format::json) BOOST_TEST(parse_json_lines(record).size() == 1U);
    }
    char buf[16];
    BOOST_TEST(::recv(reader.get(), buf, sizeof buf, MSG_DONTWAIT) == -1);  // nothing more
  }
}

BOOST_AUTO_TEST_CASE(level_filters_events) {
  capture cap(log_format::json, log_level::warn);
  log_event(log_level::debug, "dropped", "dropped");
  log_event(log_level::info, "dropped", "dropped");
  log_event(log_level::warn, "kept", "kept");
  log_event(log_level::error, "kept", "kept");
  const auto objs = cap.objects();
  BOOST_REQUIRE(objs.size() == 2U);
  BOOST_TEST(objs[0].at("level").as_string() == "warn");
  BOOST_TEST(objs[1].at("level").as_string() == "error");
  logger::instance().set_level(log_level::off);
  log_event(log_level::error, "dropped", "dropped");
  BOOST_TEST(cap.objects().size() == 2U);
}

BOOST_AUTO_TEST_CASE(limit_refills_one_token_per_interval) {
  log_limit limit(log_level::warn, "refill", 3, 1s);
  const std::int64_t t0 = 1'000'000'000'000;
  const std::int64_t s = 1'000'000'000;
  for (int i = 0; i < 3; ++i) BOOST_TEST(limit.try_acquire(t0));
  BOOST_TEST(!limit.try_acquire(t0));
  BOOST_TEST(!limit.try_acquire(t0 + s / 2));
  BOOST_TEST(limit.suppressed() == 2U);
  BOOST_TEST(limit.try_acquire(t0 + s));
  BOOST_TEST(!limit.try_acquire(t0 + s));
  BOOST_TEST(!limit.try_acquire(t0 + s, /*count_refusal=*/false));
  BOOST_TEST(limit.take_suppressed() == 3U);
  BOOST_TEST(limit.suppressed() == 0U);
  // A long quiet spell refills the bucket, never beyond the burst.
  for (int i = 0; i < 3; ++i) BOOST_TEST(limit.try_acquire(t0 + 100 * s));
  BOOST_TEST(!limit.try_acquire(t0 + 100 * s));
}

BOOST_AUTO_TEST_CASE(burst_then_next_line_carries_exactly_the_suppressed_count) {
  capture cap(log_format::json);
  log_limit limit(log_level::warn, "storm", 10, 1h);
  const std::int64_t t0 = 5'000'000'000'000;
  constexpr int calls = 1000;
  for (int i = 0; i < calls; ++i) {
    const log_field fields[] = {{"i", i}};
    logger::instance().event(limit, t0, "storm line", fields);
  }
  auto objs = cap.objects();
  BOOST_REQUIRE(objs.size() == 10U);
  for (int i = 0; i < 10; ++i) {
    BOOST_TEST(objs[static_cast<std::size_t>(i)].at("i").as_int64() == i);
    BOOST_TEST(!objs[static_cast<std::size_t>(i)].contains("suppressed"));
  }
  // An hour later the bucket has a token again: that line reports what was dropped.
  const log_field fields[] = {{"i", calls}};
  logger::instance().event(limit, t0 + std::int64_t{3600} * 1'000'000'000, "storm line", fields);
  objs = cap.objects();
  BOOST_REQUIRE(objs.size() == 11U);
  BOOST_TEST(objs[10].at("event").as_string() == "storm");
  BOOST_TEST(objs[10].at("suppressed").to_number<std::uint64_t>() == static_cast<std::uint64_t>(calls - 10));
}

BOOST_AUTO_TEST_CASE(flush_reports_a_storm_that_ended) {
  capture cap(log_format::text);
  log_limit limit(log_level::warn, "quiet_storm", 2, 1s);
  const std::int64_t t0 = 9'000'000'000'000;
  for (int i = 0; i < 7; ++i) logger::instance().event(limit, t0, "storm line", {});
  BOOST_TEST(cap.lines().size() == 2U);
  logger::instance().flush_suppressed(t0);  // no token yet: nothing
  BOOST_TEST(cap.lines().size() == 2U);
  logger::instance().flush_suppressed(t0 + 1'000'000'000);
  auto lines = cap.lines();
  BOOST_REQUIRE(lines.size() == 3U);
  BOOST_TEST(lines[2].substr(24) == " warn  similar lines suppressed key=quiet_storm suppressed=5");
  logger::instance().flush_suppressed(t0 + 100'000'000'000);  // nothing left to report
  BOOST_TEST(cap.lines().size() == 3U);

  // Forced (at shutdown): reported whatever the bucket holds.
  for (int i = 0; i < 4; ++i) logger::instance().event(limit, t0 + 100'000'000'000, "storm line", {});
  logger::instance().flush_suppressed(t0 + 100'000'000'000, /*force=*/true);
  lines = cap.lines();
  BOOST_REQUIRE(lines.size() == 6U);
  BOOST_TEST(lines[5].substr(24) == " warn  similar lines suppressed key=quiet_storm suppressed=2");
}

BOOST_AUTO_TEST_CASE(limit_below_the_level_counts_nothing) {
  capture cap(log_format::json, log_level::error);
  log_limit limit(log_level::warn, "filtered", 1, 1h);
  for (int i = 0; i < 5; ++i) log_event(limit, "filtered line");
  BOOST_TEST(limit.suppressed() == 0U);
  BOOST_TEST(cap.text().empty());
}

BOOST_AUTO_TEST_CASE(threads_sharing_a_limit_lose_no_count) {
  // Every call is either written or counted, and every count is written once: lines plus
  // suppressed totals equal the calls, however the threads interleave (and TSan-clean).
  capture cap(log_format::json);
  log_limit limit(log_level::warn, "threads", 10, 1ms);
  constexpr int threads = 4;
  constexpr int per_thread = 20'000;
  std::atomic<bool> done{false};
  std::thread flusher([&] {
    while (!done.load(std::memory_order_relaxed)) logger::instance().flush_suppressed(logger::now());
  });
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = 0; i < per_thread; ++i) log_event(limit, "threaded line", {{"thread", t}, {"i", i}});
    });
  }
  for (auto& w : workers) w.join();
  done.store(true, std::memory_order_relaxed);
  flusher.join();
  logger::instance().flush_suppressed(logger::now(), /*force=*/true);
  std::uint64_t written = 0, suppressed = 0;
  for (const auto& o : cap.objects()) {
    const bool flush_line = o.at("event").as_string() == "suppressed";
    if (flush_line) BOOST_TEST(o.at("key").as_string() == "threads");
    else ++written;
    if (const auto* n = o.if_contains("suppressed")) suppressed += n->to_number<std::uint64_t>();
  }
  BOOST_TEST_MESSAGE("written " << written << ", suppressed " << suppressed);
  BOOST_TEST(written + suppressed == std::uint64_t{threads} * per_thread);
  BOOST_TEST(written >= 10U);
  BOOST_TEST(limit.suppressed() == 0U);
}
