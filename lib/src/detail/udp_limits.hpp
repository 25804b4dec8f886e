#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstdint>

namespace echo::detail {

/// What a UDP listener will send to one source address: its replies are limited to this
/// many datagrams and bytes per second (with a burst of one second's worth), so spoofed
/// requests cannot turn the service into an amplifier. 0 leaves that dimension unlimited.
struct udp_limits {
  std::uint32_t datagrams_per_second = 0;
  /// Reply payload bytes; a single reply larger than this is never sent.
  std::uint64_t bytes_per_second = 0;
  /// SO_RCVBUF asked for (the kernel caps it at net.core.rmem_max); 0 keeps its default.
  std::uint32_t receive_buffer = 0;

  bool limited() const noexcept { return datagrams_per_second != 0 || bytes_per_second != 0; }
  friend bool operator==(const udp_limits&, const udp_limits&) = default;
};

}  // namespace echo::detail
