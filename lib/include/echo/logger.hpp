#pragma once

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <mutex>
#include <span>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "echo/log_format.hpp"
#include "echo/log_level.hpp"

namespace echo {

/// Unsigned integers except bool (which log_field renders as true/false).
template <class T>
concept log_unsigned = std::unsigned_integral<T> && !std::same_as<T, bool>;

/// One typed key/value of a log event. It only views its key and its string value: build
/// fields inside the logging call, never keep one beyond it.
class log_field {
 public:
  enum class kind : std::uint8_t { string, signed_integer, unsigned_integer, boolean, duration };

  log_field(std::string_view key, std::string_view value) noexcept : key_(key), text_(value) {}
  log_field(std::string_view key, const char* value) noexcept
      : log_field(key, value != nullptr ? std::string_view(value) : std::string_view()) {}
  log_field(std::string_view key, const std::string& value) noexcept
      : log_field(key, std::string_view(value)) {}
  log_field(std::string_view key, bool value) noexcept
      : key_(key), kind_(kind::boolean), bits_(value ? 1 : 0) {}
  template <std::signed_integral T>
  log_field(std::string_view key, T value) noexcept
      : key_(key),
        kind_(kind::signed_integer),
        bits_(static_cast<std::uint64_t>(static_cast<std::int64_t>(value))) {}
  template <log_unsigned T>
  log_field(std::string_view key, T value) noexcept
      : key_(key), kind_(kind::unsigned_integer), bits_(static_cast<std::uint64_t>(value)) {}
  /// Rendered in milliseconds (a number, with microseconds as decimals when there are any):
  /// name such keys `..._ms`.
  template <class Rep, class Period>
  log_field(std::string_view key, std::chrono::duration<Rep, Period> value) noexcept
      : key_(key), kind_(kind::duration), bits_(static_cast<std::uint64_t>(to_ns(value))) {}

  std::string_view key() const noexcept { return key_; }
  kind type() const noexcept { return kind_; }
  std::string_view text() const noexcept { return text_; }
  std::uint64_t unsigned_value() const noexcept { return bits_; }
  std::int64_t signed_value() const noexcept { return static_cast<std::int64_t>(bits_); }

 private:
  template <class Rep, class Period>
  static std::int64_t to_ns(std::chrono::duration<Rep, Period> d) noexcept {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
  }

  std::string_view key_;
  kind kind_ = kind::string;
  std::string_view text_;
  std::uint64_t bits_ = 0;
};

class logger;

/// Rate limit for one event key: a token bucket holding `burst` lines, refilled with one
/// line every `refill`. Lines over the limit are counted, and the count goes out with the
/// next line allowed for the key (`suppressed=N`), or with the logger's periodic flush.
///
/// Lock-free: the bucket is one atomic (the time at which it will be full again, GCRA) and
/// the count another, both relaxed; many threads may log through one limit at once.
/// Call sites keep one as a function-local static.
class log_limit {
 public:
  log_limit(log_level level, std::string_view event, unsigned burst = 10,
            std::chrono::nanoseconds refill = std::chrono::seconds(1)) noexcept;
  log_limit(const log_limit&) = delete;
  log_limit& operator=(const log_limit&) = delete;
  ~log_limit();

  log_level level() const noexcept { return level_; }
  std::string_view event() const noexcept { return event_; }

  /// Takes a token at `now` (nanoseconds on a monotonic clock). False: the bucket is empty;
  /// the refused line is counted as suppressed when `count_refusal`.
  bool try_acquire(std::int64_t now, bool count_refusal = true) noexcept;
  /// Lines suppressed and not reported yet; resets the count.
  std::uint64_t take_suppressed() noexcept { return suppressed_.exchange(0, std::memory_order_relaxed); }
  std::uint64_t suppressed() const noexcept { return suppressed_.load(std::memory_order_relaxed); }

 private:
  friend class logger;

  const log_level level_;
  const std::string_view event_;
  const std::int64_t interval_;   ///< ns per token
  const std::int64_t tolerance_;  ///< burst * interval: how far the schedule may run ahead
  std::atomic<std::int64_t> full_at_{0};
  std::atomic<std::uint64_t> suppressed_{0};
  // The logger's list of limits, for the flush (guarded by the logger's mutex).
  log_limit* prev_ = nullptr;
  log_limit* next_ = nullptr;
};

/// Process-wide event logger to stderr. An event is a level, a name (`event`, stable, for
/// machines), a fixed message (for people) and typed fields; `--log-format` picks how it is
/// written:
///   text: 2026-12-01T00:55:12.025Z info  listening listener=tcp://[::]:7007
///   json: {"ts":"2026-12-01T00:55:12.025Z","level":"info","event":"listening","msg":"listening",
///          "listener":"tcp://[::]:7007"}
/// Each line is formatted in a local buffer and written with one write(2), so lines from
/// different threads never interleave and no lock is taken. Every string (message, field
/// values) is escaped in both formats: control bytes and invalid UTF-8 can never split a line
/// or break the JSON.
class logger {
 public:
  static logger& instance() noexcept;

  void set_level(log_level level) noexcept { level_.store(level, std::memory_order_relaxed); }
  log_level level() const noexcept { return level_.load(std::memory_order_relaxed); }
  bool enabled(log_level level) const noexcept { return level >= this->level() && level != log_level::off; }

  void set_format(log_format format) noexcept { format_.store(format, std::memory_order_relaxed); }
  log_format format() const noexcept { return format_.load(std::memory_order_relaxed); }

  /// Redirects output (tests); -1 restores stderr.
  void set_fd(int fd) noexcept { fd_.store(fd, std::memory_order_relaxed); }

  /// Writes one event if `level` is enabled.
  void event(log_level level, std::string_view event, std::string_view message,
             std::span<const log_field> fields) noexcept;
  /// Writes one event under `limit` (its level and event name), at `now` on the limit's
  /// clock (see now()); with `suppressed=N` when lines were suppressed before it.
  void event(log_limit& limit, std::int64_t now, std::string_view message,
             std::span<const log_field> fields) noexcept;

  /// For each limit holding suppressed lines: one "similar lines suppressed" event with the
  /// count, if its bucket has a token at `now` (or always, when `force`). The server calls
  /// it on its sweep, so a storm's tail is reported within about a second of its end.
  void flush_suppressed(std::int64_t now, bool force = false) noexcept;

  /// The limits' clock: CLOCK_MONOTONIC_COARSE in nanoseconds (a few ns, no syscall).
  static std::int64_t now() noexcept;

  /// printf-style line (event "message"); the formatted text is escaped like any message.
  /// Prefer log_event: peer data belongs in fields.
  template <class... Args>
  void log(log_level level, fmt::format_string<Args...> format, Args&&... args) {
    if (!enabled(level)) return;
    write_line(level, "message", fmt::format(format, std::forward<Args>(args)...), {}, 0);
  }

 private:
  friend class log_limit;

  void attach(log_limit& limit) noexcept;
  void detach(log_limit& limit) noexcept;
  void write_line(log_level level, std::string_view event, std::string_view message,
                  std::span<const log_field> fields, std::uint64_t suppressed) noexcept;

  std::atomic<log_level> level_{log_level::info};
  std::atomic<log_format> format_{log_format::text};
  std::atomic<int> fd_{-1};
  std::mutex limits_mutex_;
  log_limit* limits_ = nullptr;
};

/// Logs one event: `log_event(log_level::info, "listening", "listening", {{"listener", a}})`.
/// Fields are built before the level is checked: guard costly ones with
/// `logger::instance().enabled(level)`.
inline void log_event(log_level level, std::string_view event, std::string_view message,
                      std::initializer_list<log_field> fields = {}) noexcept {
  logger::instance().event(level, event, message, std::span<const log_field>(fields.begin(), fields.size()));
}

/// Logs one event under a rate limit (which names the level and the event).
inline void log_event(log_limit& limit, std::string_view message,
                      std::initializer_list<log_field> fields = {}) noexcept {
  auto& l = logger::instance();
  if (!l.enabled(limit.level())) return;
  l.event(limit, logger::now(), message, std::span<const log_field>(fields.begin(), fields.size()));
}

template <class... Args>
void log_trace(fmt::format_string<Args...> f, Args&&... a) {
  logger::instance().log(log_level::trace, f, std::forward<Args>(a)...);
}
template <class... Args>
void log_debug(fmt::format_string<Args...> f, Args&&... a) {
  logger::instance().log(log_level::debug, f, std::forward<Args>(a)...);
}
template <class... Args>
void log_info(fmt::format_string<Args...> f, Args&&... a) {
  logger::instance().log(log_level::info, f, std::forward<Args>(a)...);
}
template <class... Args>
void log_warn(fmt::format_string<Args...> f, Args&&... a) {
  logger::instance().log(log_level::warn, f, std::forward<Args>(a)...);
}
template <class... Args>
void log_error(fmt::format_string<Args...> f, Args&&... a) {
  logger::instance().log(log_level::error, f, std::forward<Args>(a)...);
}

}  // namespace echo
