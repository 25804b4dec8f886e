#include "send_schedule.hpp"

#include "echo/client/pattern.hpp"

#include <cmath>

namespace echo::bench {
namespace {

// splitmix64: the Poisson schedule's random source.
std::uint64_t next_random(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

}  // namespace

send_schedule::send_schedule(const options& opts, std::int64_t start_ns, std::uint64_t id) noexcept
    : poisson_(opts.arrivals == arrival::poisson),
      gap_ns_(static_cast<double>(opts.connections) / opts.rate * 1e9),
      first_ns_(static_cast<double>(start_ns) + static_cast<double>(id) / opts.rate * 1e9),
      rng_(client::pattern::connection_seed(opts.seed ^ 0x5eed, id)) {
  if (poisson_) {
    due_ns_ = start_ns;
    advance();
    index_ = 0;
  } else {
    due_ns_ = static_cast<std::int64_t>(first_ns_);
  }
}

void send_schedule::advance() noexcept {
  ++index_;
  if (!poisson_) {
    due_ns_ = static_cast<std::int64_t>(first_ns_ + static_cast<double>(index_) * gap_ns_);
    return;
  }
  // u in (0, 1]: -log(u) is an exponential gap of mean 1.
  const double u = static_cast<double>((next_random(rng_) >> 11) + 1) * 0x1.0p-53;
  due_ns_ += static_cast<std::int64_t>(-std::log(u) * gap_ns_);
}

}  // namespace echo::bench
