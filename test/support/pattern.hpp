#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace echo::test {

/// Deterministic bytes for stream `stream` of a run seeded `seed`: byte `offset` is always the
/// same value, so any slice can be generated or checked without keeping what was sent.
void fill_pattern(std::uint64_t seed, std::uint64_t stream, std::uint64_t offset,
                  std::span<std::byte> out) noexcept;

/// Index of the first byte of `got` that differs from the pattern at `offset`, or got.size().
std::size_t first_mismatch(std::uint64_t seed, std::uint64_t stream, std::uint64_t offset,
                           std::span<const std::byte> got) noexcept;

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
