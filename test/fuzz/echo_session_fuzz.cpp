// libFuzzer target for the echo state machine over the in-memory stream: the input picks a
// peer (what it sends, in which reads, how it ends, which operation fails and how, whether
// it stops reading), an optional step plan, and a schedule of drain / expire / close calls
// interleaved with handler steps. Every run must end with the harness's invariants, plus a
// few that only hold for the scenarios decoded here; a broken one aborts with the scenario.
//
// Input layout (missing bytes read as 0, so every input decodes):
//   [0]     bits 0-1 peer ending (fin, reset, silence, after_our_fin)
//           bit  2   stall writes
//           bits 3-4 plan (none, split, end after N with FIN, end after N with RST)
//           bit  5   start late: the first action comes before start()
//           bits 6-7 timeouts (both, no idle timeout, no write timeout, none)
//   [1]     read size - 1
//   [2]     the operation that fails (255: none)
//   [3]     its error, an index into `errors`
//   [4..5]  plan parameter, little-endian: split size - 1, or N
//   [6..7]  input length, little-endian, modulo max_input + 1
//   [8..]   one action a byte: bits 0-2 what (see `actions`), bit 3 same handler as the
//           previous action, bits 4-7 handlers to run before it; at most max_groups handlers
//           with actions, the rest ignored
// No delay plan: its timer would need real time, and a fuzz run must be deterministic.
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/error.hpp>

#include "detail/session_state.hpp"
#include "echo/logger.hpp"
#include "memory_session.hpp"
#include "session_harness.hpp"
#include "test_plans.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace {

namespace asio = boost::asio;
using echo::detail::session_state;
using echo::test::memory_script;
using ending = memory_script::ending;

constexpr std::size_t max_input = 4096;
constexpr std::size_t max_groups = 64;

// Expected ends and one that is not: each takes a different branch of end().
const std::array<boost::system::error_code, 5> errors = {
    asio::error::connection_reset, asio::error::eof, asio::error::operation_aborted, asio::error::broken_pipe,
    asio::error::no_buffer_space,
};
constexpr std::size_t unexpected_error = 4;

enum class plan_kind : std::uint8_t { none, split, end_fin, end_reset };

enum class action : std::uint8_t {
  none,  ///< only a scheduling point
  drain,
  expire,        ///< past every deadline
  expire_write,  ///< past a write deadline set now, not an idle one
  expire_early,  ///< the clock unchanged: nothing set since is due
  close,
};
// Drain and close twice: they end a session in more ways than the expire variants.
constexpr std::array<action, 8> actions = {action::none,         action::drain,        action::expire,
                                           action::expire_write, action::expire_early, action::close,
                                           action::drain,        action::close};

struct group {
  std::size_t steps = 0;        ///< handlers to run first
  std::vector<action> actions;  ///< then these, in one handler
};

struct scenario {
  memory_script script;
  std::size_t error_index = 0;
  plan_kind plan = plan_kind::none;
  std::size_t plan_param = 0;
  bool start_late = false;
  bool idle_timeout = true;
  bool write_timeout = true;
  std::vector<group> schedule;
};

class reader {
 public:
  reader(const std::uint8_t* data, std::size_t size) : data_(data), left_(size) {}
  bool empty() const noexcept { return left_ == 0; }
  std::uint8_t byte() noexcept {
    if (left_ == 0) return 0;
    --left_;
    return *data_++;
  }
  std::size_t u16() noexcept {
    const std::size_t lo = byte();
    return lo | static_cast<std::size_t>(byte()) << 8;
  }

 private:
  const std::uint8_t* data_;
  std::size_t left_;
};

// Bytes that never repeat with a short period, so an echo from the wrong offset shows.
std::string input_of(std::size_t n) {
  std::string s(n, '\0');
  std::uint32_t x = 0x9e3779b9U;
  for (auto& c : s) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<char>(x & 0xffU);
  }
  return s;
}

scenario decode(const std::uint8_t* data, std::size_t size) {
  reader in(data, size);
  scenario sc;
  const std::uint8_t flags = in.byte();
  sc.script.end = static_cast<ending>(flags & 3U);
  sc.script.stall_writes = (flags & 4U) != 0;
  sc.plan = static_cast<plan_kind>((flags >> 3) & 3U);
  sc.start_late = (flags & 32U) != 0;
  sc.idle_timeout = (flags & 64U) == 0;
  sc.write_timeout = (flags & 128U) == 0;
  sc.script.read_size = std::size_t{in.byte()} + 1;
  const std::uint8_t fail_at = in.byte();
  if (fail_at != 255) sc.script.fail_at = fail_at;
  sc.error_index = in.byte() % errors.size();
  sc.script.fail_error = errors[sc.error_index];
  sc.plan_param = in.u16();
  sc.script.input = input_of(in.u16() % (max_input + 1));
  while (!in.empty() && sc.schedule.size() < max_groups) {
    const std::uint8_t b = in.byte();
    const action what = actions[b & 7U];
    if ((b & 8U) != 0 && !sc.schedule.empty()) {
      sc.schedule.back().actions.push_back(what);
    } else {
      sc.schedule.push_back({std::size_t{b} >> 4, {what}});
    }
  }
  return sc;
}

std::string_view name(ending e) {
  switch (e) {
    case ending::fin: return "fin";
    case ending::reset: return "reset";
    case ending::silence: return "silence";
    case ending::after_our_fin: return "after_our_fin";
  }
  return "?";
}

std::string_view name(action a) {
  switch (a) {
    case action::none: return "none";
    case action::drain: return "drain";
    case action::expire: return "expire";
    case action::expire_write: return "expire_write";
    case action::expire_early: return "expire_early";
    case action::close: return "close";
  }
  return "?";
}

// Up to the whole buffer: a split that never splits is covered too.
std::size_t split_size(const scenario& sc) { return sc.plan_param % 1024 + 1; }

std::string describe(const scenario& sc) {
  const auto& s = sc.script;
  const std::string fail_at = s.fail_at == memory_script::never ? "never" : std::to_string(s.fail_at);
  std::string text =
      fmt::format("input={} read_size={} end={} stall_writes={} fail_at={} error={}", s.input.size(),
                  s.read_size, name(s.end), s.stall_writes, fail_at, s.fail_error.message());
  switch (sc.plan) {
    case plan_kind::none: break;
    case plan_kind::split: text += fmt::format(" plan=split({})", split_size(sc)); break;
    case plan_kind::end_fin: text += fmt::format(" plan=end_after({}, fin)", sc.plan_param); break;
    case plan_kind::end_reset: text += fmt::format(" plan=end_after({}, rst)", sc.plan_param); break;
  }
  text += fmt::format(" idle_timeout={} write_timeout={} start_late={} schedule=[", sc.idle_timeout,
                      sc.write_timeout, sc.start_late);
  for (const auto& g : sc.schedule) {
    text += fmt::format(" {}:", g.steps);
    for (std::size_t i = 0; i < g.actions.size(); ++i) {
      text += fmt::format("{}{}", i == 0 ? "" : "+", name(g.actions[i]));
    }
  }
  return text + " ]";
}

echo::plan_factory make_plans(const scenario& sc) {
  switch (sc.plan) {
    case plan_kind::none: return {};
    case plan_kind::split:
      return
          [size = split_size(sc)](std::uint64_t) { return std::make_unique<echo::test::split_plan>(size); };
    case plan_kind::end_fin:
    case plan_kind::end_reset: {
      const bool reset = sc.plan == plan_kind::end_reset;
      return [n = sc.plan_param, reset](std::uint64_t) {
        return std::make_unique<echo::test::end_after_plan>(n, reset);
      };
    }
  }
  return {};
}

[[noreturn]] void report(const scenario& sc, const std::vector<std::string>& broken) {
  std::fprintf(stderr, "echo_session_fuzz: invariant broken\n  scenario: %s\n", describe(sc).c_str());
  for (const auto& b : broken) std::fprintf(stderr, "  broken: %s\n", b.c_str());
  std::fflush(stderr);
  std::abort();
}

void apply(echo::test::session_harness& h, action what) {
  auto& s = *h.session;
  switch (what) {
    case action::none: return;
    case action::drain: s.drain(); return;
    case action::expire:
      h.ctx->now_tick.fetch_add(1'000'000);
      s.expire();
      return;
    case action::expire_write:
      h.ctx->now_tick.fetch_add(h.ctx->write_ticks);
      s.expire();
      return;
    case action::expire_early: s.expire(); return;
    case action::close: s.close(); return;
  }
}

void run_one(const scenario& sc) {
  echo::config cfg = echo::test::small_session_config();
  if (!sc.idle_timeout) cfg.idle_timeout = {};
  if (!sc.write_timeout) cfg.write_timeout = {};
  echo::test::session_harness h(sc.script, make_plans(sc), cfg);
  // Every handler moves at least one byte or one step towards the end, and a split echo
  // takes two per byte: far more than this is a loop.
  const std::size_t limit = 16 * (sc.script.input.size() + 64);

  bool started = false;
  const auto start = [&] {
    h.start();
    started = true;
  };
  if (!sc.start_late) start();
  bool disturbed = false;
  for (const auto& g : sc.schedule) {
    h.run(g.steps);
    h.act([&] {
      for (const auto what : g.actions) apply(h, what);
    });
    for (const auto what : g.actions) disturbed = disturbed || what != action::none;
    if (!started) start();
  }
  if (!started) start();

  std::vector<std::string> broken;
  const auto check = [&](bool held, std::string what) {
    if (!held) broken.push_back(std::move(what));
  };
  check(h.run(limit) < limit, fmt::format("still running after {} handlers", limit));
  const auto& s = *h.session;
  const bool failed = s.operations() > sc.script.fail_at;
  disturbed = disturbed || failed || sc.script.stall_writes;

  // Only an unexpected error is counted, and only one is injected. It may go uncounted: a
  // session that already closed, or that answers the peer's FIN, ignores it.
  const auto errors_counted = echo::stats::get(h.ctx->counters.session_errors);
  check(errors_counted <= (failed && sc.error_index == unexpected_error ? 1U : 0U),
        fmt::format("session_errors is {}", errors_counted));

  // Left alone, the session echoes everything the plan lets through, and ends on its own
  // whenever the peer or the plan ends.
  if (!disturbed) {
    const auto& in = sc.script.input;
    const bool ending_plan = sc.plan == plan_kind::end_fin || sc.plan == plan_kind::end_reset;
    const bool plan_ends = ending_plan && sc.plan_param < in.size();
    const std::size_t expected = plan_ends ? sc.plan_param : in.size();
    check(s.output().size() == expected,
          fmt::format("undisturbed, the peer got {} bytes, not {}", s.output().size(), expected));
    const bool peer_ends = sc.script.end == ending::fin || sc.script.end == ending::reset;
    const bool ends = peer_ends || (plan_ends && sc.script.end == ending::after_our_fin);
    if (ends) {
      check(s.current_state() == session_state::closed,
            fmt::format("undisturbed, the session waits in state {}",
                        echo::detail::to_string(s.current_state())));
    }
    if (sc.script.end == ending::fin && !plan_ends) {
      check(s.fin_sent(), "undisturbed, the peer's FIN got no FIN back");
    }
    if (plan_ends) {
      check(s.reset_sent() == (sc.plan == plan_kind::end_reset), "the plan's end went out as the wrong kind");
    }
  }

  for (auto& b : h.finish(limit)) broken.push_back(std::move(b));
  if (!broken.empty()) report(sc, broken);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Injected failures log a warning per run; the invariants are what this target reports.
  static const bool quiet = [] {
    echo::logger::instance().set_level(echo::log_level::off);
    return true;
  }();
  static_cast<void>(quiet);
  run_one(decode(data, size));
  return 0;
}
