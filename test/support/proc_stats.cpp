#include "proc_stats.hpp"

#include <dirent.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>
#include <string>

namespace echo::test {
namespace {

// A reading that failed must not pass for a measurement: 0 descriptors would look like
// "everything was released", 0 KiB like "no growth".
[[noreturn]] void unreadable(const std::string& path, const char* why) {
  throw std::runtime_error("cannot read " + path + ": " + why);
}

}  // namespace

std::size_t open_fds(pid_t pid) {
  std::size_t n = 0;
  const auto path = "/proc/" + std::to_string(pid) + "/fd";
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) unreadable(path, std::strerror(errno));
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;
}

std::uint64_t rss_kib(pid_t pid) {
  const auto path = "/proc/" + std::to_string(pid) + "/status";
  std::ifstream in(path);
  if (!in) unreadable(path, "cannot open");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  unreadable(path, "no VmRSS line");
}

std::uint64_t cpu_ticks(pid_t pid) {
  const auto path = "/proc/" + std::to_string(pid) + "/stat";
  std::ifstream in(path);
  if (!in) unreadable(path, "cannot open");
  const std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto paren = all.rfind(')');
  if (paren == std::string::npos) unreadable(path, "no command name");
  // Fields 14 and 15 (utime, stime), counted after the parenthesised command name.
  std::istringstream rest(all.substr(paren + 2));
  std::string field;
  std::uint64_t utime = 0, stime = 0;
  int i = 3;
  for (; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  if (i <= 15) unreadable(path, "fewer than 15 fields");
  return utime + stime;
}

double ticks_to_seconds(std::uint64_t ticks) {
  return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

}  // namespace echo::test
