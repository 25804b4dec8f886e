#include "echo/config.hpp"

#include <sys/resource.h>

#include <algorithm>

#include "echo/cpu_count.hpp"

namespace echo {

unsigned effective_threads(const config& cfg) {
  return cfg.threads == 0 ? available_cpus() : cfg.threads;
}

std::size_t effective_max_connections(const config& cfg) {
  if (cfg.max_connections != 0) return cfg.max_connections;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return 1'000'000;
  const auto soft = static_cast<std::size_t>(lim.rlim_cur);
  return soft > 2 * fd_reserve ? soft - fd_reserve : std::max<std::size_t>(1, soft / 2);
}

}  // namespace echo
