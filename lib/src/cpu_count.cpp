#include "echo/cpu_count.hpp"

#include <sched.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

namespace echo {
namespace {

std::optional<std::string> read_file(const std::string& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

template <class T>
std::optional<T> parse_number(std::string_view text) noexcept {
  T value{};
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || p == text.data()) return std::nullopt;
  return value;
}

std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.remove_suffix(1);
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  return s;
}

unsigned affinity_cpus() noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) return 0;
  return static_cast<unsigned>(CPU_COUNT(&set));
}

// cgroup v2: the effective quota is the smallest cpu.max from our cgroup up to the root.
std::optional<double> cgroup_v2_quota() {
  const auto self = read_file("/proc/self/cgroup");
  if (!self) return std::nullopt;
  std::string_view text = *self;
  const auto pos = text.find("0::");
  if (pos == std::string_view::npos) return std::nullopt;
  std::string path(trim(text.substr(pos + 3, text.find('\n', pos) - pos - 3)));
  std::optional<double> best;
  for (;;) {
    if (const auto max = read_file("/sys/fs/cgroup" + path + "/cpu.max")) {
      if (const auto q = parse_cgroup_cpu_max(*max)) best = best ? std::min(*best, *q) : *q;
    }
    if (path.empty() || path == "/") break;
    path.erase(path.rfind('/'));
  }
  return best;
}

std::optional<double> cgroup_v1_quota() {
  const auto quota = read_file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us");
  const auto period = read_file("/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us");
  if (!quota || !period) return std::nullopt;
  const auto q = parse_number<long long>(trim(*quota));
  const auto p = parse_number<long long>(trim(*period));
  if (!q || !p || *q <= 0 || *p <= 0) return std::nullopt;
  return static_cast<double>(*q) / static_cast<double>(*p);
}

}  // namespace

std::optional<double> parse_cgroup_cpu_max(std::string_view text) noexcept {
  text = trim(text);
  const auto space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  const auto quota_text = text.substr(0, space);
  if (quota_text == "max") return std::nullopt;
  const auto quota = parse_number<long long>(quota_text);
  const auto period = parse_number<long long>(trim(text.substr(space + 1)));
  if (!quota || !period || *quota <= 0 || *period <= 0) return std::nullopt;
  return static_cast<double>(*quota) / static_cast<double>(*period);
}

unsigned available_cpus() {
  unsigned cpus = affinity_cpus();
  if (cpus == 0) cpus = 1;
  auto quota = cgroup_v2_quota();
  if (!quota) quota = cgroup_v1_quota();
  if (quota) {
    // A quota of 1.5 CPUs still lets 2 threads make progress; round up.
    const auto limit = static_cast<unsigned>(std::ceil(*quota));
    cpus = std::min(cpus, std::max(1U, limit));
  }
  return cpus;
}

}  // namespace echo
