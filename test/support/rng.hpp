#pragma once

#include <cstddef>
#include <cstdint>

namespace echo::test {

/// splitmix64: a small, good, seedable generator for sizes and choices in tests.
class rng {
 public:
  explicit rng(std::uint64_t seed) noexcept : state_(seed) {}
  std::uint64_t next() noexcept;
  /// Uniform in [lo, hi].
  std::size_t between(std::size_t lo, std::size_t hi) noexcept;

 private:
  std::uint64_t state_;
};

}  // namespace echo::test
