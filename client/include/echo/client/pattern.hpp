#pragma once

#include <cstddef>
#include <cstdint>

namespace echo::client {

/// The byte stream one connection sends: a pure function of (connection seed,
/// stream offset), so any echoed range can be regenerated and compared without
/// keeping a copy of what was sent.
class pattern {
 public:
  /// `seed` should already differ per connection (see `connection_seed`).
  explicit pattern(std::uint64_t seed) noexcept;

  /// Writes the `len` bytes of the stream that start at `offset` into `out`.
  void fill(std::uint64_t offset, std::byte* out, std::size_t len) const noexcept;

  /// Index of the first of the `len` bytes at `got` that differs from the stream
  /// at `offset`, or `len` if they all match. Allocates nothing.
  [[nodiscard]] std::size_t mismatch(std::uint64_t offset, const std::byte* got,
                                     std::size_t len) const noexcept;

  /// Mixes a run's seed and a connection id into a per-connection seed.
  static std::uint64_t connection_seed(std::uint64_t run_seed, std::uint64_t id) noexcept;

 private:
  std::uint64_t word(std::uint64_t index) const noexcept;

  std::uint64_t seed_;
  std::uint64_t rotation_;
};

}  // namespace echo::client
