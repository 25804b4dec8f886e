#include "echo/logger.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <iterator>

#include <fmt/format.h>

#include "echo/log_format.hpp"

namespace echo {

std::optional<log_level> parse_log_level(std::string_view name) noexcept {
  for (auto level : {log_level::trace, log_level::debug, log_level::info, log_level::warn, log_level::error,
                     log_level::off}) {
    if (name == to_string(level)) return level;
  }
  if (name == "warning") return log_level::warn;
  return std::nullopt;
}

std::string_view to_string(log_level level) noexcept {
  switch (level) {
    case log_level::trace: return "trace";
    case log_level::debug: return "debug";
    case log_level::info: return "info";
    case log_level::warn: return "warn";
    case log_level::error: return "error";
    case log_level::off: return "off";
  }
  return "?";
}

std::optional<log_format> parse_log_format(std::string_view name) noexcept {
  if (name == "text") return log_format::text;
  if (name == "json") return log_format::json;
  return std::nullopt;
}

std::string_view to_string(log_format format) noexcept {
  return format == log_format::json ? "json" : "text";
}

namespace {

using buffer = fmt::memory_buffer;

// Length of the well-formed UTF-8 sequence at s[i] (1 to 4), or 0 if there is none: a stray
// continuation byte, a truncated sequence, an overlong form, a surrogate, or above U+10FFFF.
std::size_t utf8_sequence(std::string_view s, std::size_t i, std::uint32_t& cp) noexcept {
  const auto b0 = static_cast<unsigned char>(s[i]);
  std::size_t len = 0;
  std::uint32_t min = 0;
  if (b0 < 0x80) {
    cp = b0;
    return 1;
  }
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, cp = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, cp = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, cp = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (s.size() - i < len) return 0;
  for (std::size_t k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

// The two-character escape for `c`, if it has one: \n \r \t in both formats; in JSON also
// \" \\ \b \f (text quotes its own way, see put_text_escaped).
const char* short_escape(char c, bool json) noexcept {
  switch (c) {
    case '\n': return "\\n";
    case '\r': return "\\r";
    case '\t': return "\\t";
    default: break;
  }
  if (!json) return nullptr;
  switch (c) {
    case '"': return "\\\"";
    case '\\': return "\\\\";
    case '\b': return "\\b";
    case '\f': return "\\f";
    default: return nullptr;
  }
}

void put(buffer& out, std::string_view s) { out.append(s.data(), s.data() + s.size()); }

void put_hex_escape(buffer& out, const char* prefix, unsigned char c) {
  fmt::format_to(std::back_inserter(out), "{}{:02x}", prefix, static_cast<unsigned>(c));
}

// A JSON string's contents: quotes, backslashes and control characters escaped; invalid
// UTF-8 becomes U+FFFD (one per bad byte) so that every line is valid JSON; U+2028/U+2029
// escaped too, for consumers that embed the line in JavaScript.
void put_json_string(buffer& out, std::string_view s) {
  out.push_back('"');
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (const char* e = short_escape(c, true)) {
      put(out, e);
      ++i;
      continue;
    }
    if (u < 0x20 || u == 0x7F) {
      put_hex_escape(out, "\\u00", u);
      ++i;
      continue;
    }
    if (u < 0x80) {
      out.push_back(c);
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t len = utf8_sequence(s, i, cp);
    if (len == 0) {
      put(out, "\\ufffd");
      ++i;
    } else if (cp == 0x2028 || cp == 0x2029) {
      put(out, cp == 0x2028 ? "\\u2028" : "\\u2029");
      i += len;
    } else {
      put(out, s.substr(i, len));
      i += len;
    }
  }
  out.push_back('"');
}

// Text form of a string: control bytes and invalid UTF-8 as C-style escapes (\n, \x01), so
// one event is always one line; inside quotes, quotes and backslashes are escaped as well.
void put_text_escaped(buffer& out, std::string_view s, bool quoted) {
  for (std::size_t i = 0; i < s.size();) {
    const char c = s[i];
    const auto u = static_cast<unsigned char>(c);
    if (quoted && (c == '"' || c == '\\')) {
      out.push_back('\\');
      out.push_back(c);
      ++i;
      continue;
    }
    if (const char* e = short_escape(c, false)) {
      put(out, e);
      ++i;
      continue;
    }
    if (u < 0x20 || u == 0x7F) {
      put_hex_escape(out, "\\x", u);
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t len = u < 0x80 ? 1 : utf8_sequence(s, i, cp);
    if (len == 0) {
      put_hex_escape(out, "\\x", u);
      ++i;
      continue;
    }
    put(out, s.substr(i, len));
    i += len;
  }
}

// A text value goes bare unless it is empty or holds a space, a quote, '=', a backslash, a
// control byte or invalid UTF-8: then it is quoted, so `key=value` pairs always split back.
bool needs_quotes(std::string_view s) noexcept {
  if (s.empty()) return true;
  for (std::size_t i = 0; i < s.size();) {
    const auto u = static_cast<unsigned char>(s[i]);
    if (u <= 0x20 || u == 0x7F || u == '"' || u == '=' || u == '\\') return true;
    if (u < 0x80) {
      ++i;
      continue;
    }
    std::uint32_t cp = 0;
    const std::size_t len = utf8_sequence(s, i, cp);
    if (len == 0) return true;
    i += len;
  }
  return false;
}

void put_duration_ms(buffer& out, std::int64_t ns) {
  const bool negative = ns < 0;
  const auto magnitude = negative ? 0 - static_cast<std::uint64_t>(ns) : static_cast<std::uint64_t>(ns);
  const auto whole = magnitude / 1'000'000;
  const auto micros = (magnitude % 1'000'000) / 1'000;
  if (negative) out.push_back('-');
  if (micros == 0) fmt::format_to(std::back_inserter(out), "{}", whole);
  else fmt::format_to(std::back_inserter(out), "{}.{:03}", whole, micros);
}

template <class T>
void put_number(buffer& out, T n) {
  fmt::format_to(std::back_inserter(out), "{}", n);
}

// Numbers and booleans: the same in both formats.
void put_scalar(buffer& out, const log_field& f) {
  switch (f.type()) {
    case log_field::kind::signed_integer: put_number(out, f.signed_value()); break;
    case log_field::kind::unsigned_integer: put_number(out, f.unsigned_value()); break;
    case log_field::kind::boolean: put(out, f.unsigned_value() != 0 ? "true" : "false"); break;
    case log_field::kind::duration: put_duration_ms(out, f.signed_value()); break;
    case log_field::kind::string: break;
  }
}

void put_timestamp(buffer& out) {
  timespec now{};
  ::clock_gettime(CLOCK_REALTIME, &now);
  std::tm utc{};
  ::gmtime_r(&now.tv_sec, &utc);
  fmt::format_to(std::back_inserter(out), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                 utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, now.tv_nsec / 1'000'000);
}

void render_text(buffer& out, log_level level, std::string_view message, std::span<const log_field> fields,
                 std::uint64_t suppressed) {
  put_timestamp(out);
  fmt::format_to(std::back_inserter(out), " {:<5} ", to_string(level));
  put_text_escaped(out, message, false);
  for (const auto& f : fields) {
    out.push_back(' ');
    put_text_escaped(out, f.key(), false);
    out.push_back('=');
    if (f.type() != log_field::kind::string) {
      put_scalar(out, f);
    } else if (needs_quotes(f.text())) {
      out.push_back('"');
      put_text_escaped(out, f.text(), true);
      out.push_back('"');
    } else {
      put(out, f.text());
    }
  }
  if (suppressed != 0) fmt::format_to(std::back_inserter(out), " suppressed={}", suppressed);
  out.push_back('\n');
}

void render_json(buffer& out, log_level level, std::string_view event, std::string_view message,
                 std::span<const log_field> fields, std::uint64_t suppressed) {
  put(out, "{\"ts\":\"");
  put_timestamp(out);
  put(out, "\",\"level\":\"");
  put(out, to_string(level));
  put(out, "\",\"event\":");
  put_json_string(out, event);
  put(out, ",\"msg\":");
  put_json_string(out, message);
  for (const auto& f : fields) {
    out.push_back(',');
    put_json_string(out, f.key());
    out.push_back(':');
    if (f.type() == log_field::kind::string) put_json_string(out, f.text());
    else put_scalar(out, f);
  }
  if (suppressed != 0) fmt::format_to(std::back_inserter(out), ",\"suppressed\":{}", suppressed);
  put(out, "}\n");
}

}  // namespace

log_limit::log_limit(log_level level, std::string_view event, unsigned burst,
                     std::chrono::nanoseconds refill) noexcept
    : level_(level),
      event_(event),
      interval_(std::max<std::int64_t>(refill.count(), 1)),
      tolerance_(interval_ * std::max(burst, 1U)) {
  logger::instance().attach(*this);
}

log_limit::~log_limit() { logger::instance().detach(*this); }

bool log_limit::try_acquire(std::int64_t now, bool count_refusal) noexcept {
  // GCRA: full_at_ is when the bucket would be full again. Taking a token moves it one
  // interval later; a token exists while that stays within burst intervals of now.
  auto full_at = full_at_.load(std::memory_order_relaxed);
  for (;;) {
    const auto next = std::max(full_at, now) + interval_;
    if (next - now > tolerance_) {
      if (count_refusal) suppressed_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (full_at_.compare_exchange_weak(full_at, next, std::memory_order_relaxed)) return true;
  }
}

logger& logger::instance() noexcept {
  static logger the_logger;
  return the_logger;
}

std::int64_t logger::now() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
  return static_cast<std::int64_t>(t.tv_sec) * 1'000'000'000 + t.tv_nsec;
}

void logger::attach(log_limit& limit) noexcept {
  std::lock_guard lock(limits_mutex_);
  limit.next_ = limits_;
  if (limits_ != nullptr) limits_->prev_ = &limit;
  limits_ = &limit;
}

void logger::detach(log_limit& limit) noexcept {
  std::lock_guard lock(limits_mutex_);
  if (limit.prev_ != nullptr) limit.prev_->next_ = limit.next_;
  else limits_ = limit.next_;
  if (limit.next_ != nullptr) limit.next_->prev_ = limit.prev_;
  limit.prev_ = limit.next_ = nullptr;
}

void logger::event(log_level level, std::string_view event, std::string_view message,
                   std::span<const log_field> fields) noexcept {
  if (!enabled(level)) return;
  write_line(level, event, message, fields, 0);
}

void logger::event(log_limit& limit, std::int64_t now, std::string_view message,
                   std::span<const log_field> fields) noexcept {
  if (!enabled(limit.level())) return;
  if (!limit.try_acquire(now)) return;
  write_line(limit.level(), limit.event(), message, fields, limit.take_suppressed());
}

void logger::flush_suppressed(std::int64_t now, bool force) noexcept {
  std::lock_guard lock(limits_mutex_);
  for (log_limit* l = limits_; l != nullptr; l = l->next_) {
    if (l->suppressed() == 0 || !enabled(l->level())) continue;
    // A flush line spends a token like any other, so a storm still in progress is not
    // reported twice as often; its own next line carries the count instead.
    if (!force && !l->try_acquire(now, false)) continue;
    const auto n = l->take_suppressed();
    if (n == 0) continue;  // a line of the storm took the count meanwhile
    const log_field fields[] = {{"key", l->event()}};
    write_line(l->level(), "suppressed", "similar lines suppressed", fields, n);
  }
}

void logger::write_line(log_level level, std::string_view event, std::string_view message,
                        std::span<const log_field> fields, std::uint64_t suppressed) noexcept {
  try {
    buffer line;
    if (format() == log_format::json) render_json(line, level, event, message, fields, suppressed);
    else render_text(line, level, message, fields, suppressed);
    const int configured = fd_.load(std::memory_order_relaxed);
    const int fd = configured >= 0 ? configured : STDERR_FILENO;
    // One write per line keeps lines whole across threads; a short write (pipe full,
    // signal) continues where it stopped rather than dropping the tail.
    const char* p = line.data();
    std::size_t left = line.size();
    while (left > 0) {
      const ssize_t n = ::write(fd, p, left);
      if (n < 0) {
        if (errno == EINTR) continue;
        return;  // stderr gone: nowhere left to report it
      }
      p += n;
      left -= static_cast<std::size_t>(n);
    }
  } catch (...) {
    // Logging must never take the service down (e.g. bad_alloc while formatting).
  }
}

}  // namespace echo
