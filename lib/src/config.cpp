#include "echo/config.hpp"

#include "echo/cpu_count.hpp"

namespace echo {

unsigned effective_threads(const config& cfg) {
  return cfg.threads == 0 ? available_cpus() : cfg.threads;
}

}  // namespace echo
