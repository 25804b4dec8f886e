#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>
#include <span>

namespace echo::detail {

/// The character generator pattern of RFC 864: the 95 printable ASCII characters (' ' to
/// '~') as a ring, line N holding the 72 characters from number N on, ended by CR LF. The
/// stream repeats every 95 lines.
class chargen_pattern {
 public:
  static constexpr std::size_t line_chars = 72;
  static constexpr std::size_t line_size = line_chars + 2;  ///< with CR LF
  static constexpr std::size_t ring_size = 95;
  static constexpr std::uint64_t period = ring_size * line_size;

  /// Writes the stream's bytes from `offset` on (any offset; it wraps every `period`).
  static void fill(std::span<char> out, std::uint64_t offset) noexcept;
  /// The stream from offset 0, `period + block_extra` bytes long, built once: a stream
  /// session writes straight from it at any offset below `period`, up to `block_extra`
  /// bytes at a time, without a buffer of its own.
  static std::span<const std::byte> block() noexcept;
  static constexpr std::size_t block_extra = 64 * 1024;
};

}  // namespace echo::detail
