#include "detail/process_metrics.hpp"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdint>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include "detail/metrics_text.hpp"

namespace echo::detail {
namespace {

using type = metrics_text::type;

double to_seconds(const timeval& tv) noexcept {
  return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) / 1e6;
}

// Seconds since the epoch at which this process started: boot time (/proc/stat btime) plus
// the start time in clock ticks after boot (/proc/self/stat field 22).
std::optional<double> read_start_time() {
  std::ifstream stat_file("/proc/stat");
  std::optional<double> btime;
  for (std::string line; std::getline(stat_file, line);) {
    unsigned long long seconds = 0;
    if (std::istringstream fields(line); line.rfind("btime ", 0) == 0 && fields.ignore(6) >> seconds) {
      btime = static_cast<double>(seconds);
      break;
    }
  }
  std::ifstream self("/proc/self/stat");
  std::string text;
  std::getline(self, text);
  // The command name (field 2) may hold spaces and parentheses: fields after it are counted
  // from the last ')'.
  const auto close = text.rfind(')');
  const long ticks = ::sysconf(_SC_CLK_TCK);
  if (!btime || close == std::string::npos || ticks <= 0) return std::nullopt;
  std::istringstream fields(text.substr(close + 2));
  std::string field;
  // Field 3 (state) is the first after ')'; starttime is field 22.
  for (int i = 3; i < 22; ++i) fields >> field;
  unsigned long long start_ticks = 0;
  if (!(fields >> start_ticks)) return std::nullopt;
  return *btime + static_cast<double>(start_ticks) / static_cast<double>(ticks);
}

std::optional<std::uint64_t> count_open_fds() {
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return std::nullopt;
  std::uint64_t n = 0;
  while (const dirent* e = ::readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  ::closedir(dir);
  return n > 0 ? n - 1 : 0;  // minus the descriptor opendir itself holds
}

}  // namespace

void write_process_metrics(metrics_text& out) {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) == 0) {
    out.family("process_cpu_seconds_total", type::counter,
               "Total user and system CPU time spent in seconds.");
    out.sample(to_seconds(usage.ru_utime) + to_seconds(usage.ru_stime));
  }
  // Read once: it does not change.
  static const std::optional<double> start_time = read_start_time();
  if (start_time) {
    out.family("process_start_time_seconds", type::gauge,
               "Start time of the process since unix epoch in seconds.");
    out.sample(*start_time);
  }
  if (const auto fds = count_open_fds()) {
    out.family("process_open_fds", type::gauge, "Number of open file descriptors.");
    out.sample(*fds);
  }
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    out.family("process_max_fds", type::gauge, "Maximum number of open file descriptors.");
    out.sample(static_cast<std::uint64_t>(limit.rlim_cur));
  }
  std::ifstream statm("/proc/self/statm");
  std::uint64_t size_pages = 0;
  std::uint64_t resident_pages = 0;
  const long page = ::sysconf(_SC_PAGESIZE);
  if (statm >> size_pages >> resident_pages && page > 0) {
    const auto page_size = static_cast<std::uint64_t>(page);
    out.family("process_virtual_memory_bytes", type::gauge, "Virtual memory size in bytes.");
    out.sample(size_pages * page_size);
    out.family("process_resident_memory_bytes", type::gauge, "Resident memory size in bytes.");
    out.sample(resident_pages * page_size);
  }
}

}  // namespace echo::detail
