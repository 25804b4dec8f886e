#pragma once

#include <atomic>
#include <string_view>

#include <fmt/format.h>

#include "echo/log_level.hpp"

namespace echo {

/// Process-wide line logger to stderr. Each line is formatted in a local buffer and written
/// with one write(2), so lines from different threads never interleave and no lock is taken.
class logger {
 public:
  static logger& instance() noexcept;

  void set_level(log_level level) noexcept { level_.store(level, std::memory_order_relaxed); }
  log_level level() const noexcept { return level_.load(std::memory_order_relaxed); }
  bool enabled(log_level level) const noexcept { return level >= this->level() && level != log_level::off; }

  template <class... Args>
  void log(log_level level, fmt::format_string<Args...> format, Args&&... args) {
    if (!enabled(level)) return;
    write_line(level, fmt::format(format, std::forward<Args>(args)...));
  }

  /// Redirects output (tests); -1 restores stderr.
  void set_fd(int fd) noexcept { fd_.store(fd, std::memory_order_relaxed); }

 private:
  void write_line(log_level level, std::string_view message) noexcept;

  std::atomic<log_level> level_{log_level::info};
  std::atomic<int> fd_{-1};
};

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
