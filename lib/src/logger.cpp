#include "echo/logger.hpp"

#include "echo/log_format.hpp"

#include <unistd.h>

#include <cerrno>
#include <ctime>

#include <fmt/format.h>

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

logger& logger::instance() noexcept {
  static logger the_logger;
  return the_logger;
}

void logger::write_line(log_level level, std::string_view message) noexcept {
  try {
    timespec now{};
    ::clock_gettime(CLOCK_REALTIME, &now);
    std::tm utc{};
    ::gmtime_r(&now.tv_sec, &utc);
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {:<5} {}\n",
                   utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                   now.tv_nsec / 1'000'000, to_string(level), message);
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
