#include "rng.hpp"

namespace echo::test {

std::uint64_t rng::next() noexcept {
  state_ += 0x9E3779B97F4A7C15ULL;
  std::uint64_t x = state_ + 0x9E3779B97F4A7C15ULL;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

std::size_t rng::between(std::size_t lo, std::size_t hi) noexcept {
  return lo + static_cast<std::size_t>(next() % (hi - lo + 1));
}

}  // namespace echo::test
