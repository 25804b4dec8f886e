#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <atomic>
#include <cstdint>

namespace echo::detail {

/// A UDP listener's datagram counters, readable from any thread (relaxed atomics, like
/// `stats`). Bytes go to the listener's `listener_stats`. Every datagram received ends in
/// exactly one of the other counters, so once a listener is idle
/// received == sent + discarded + send_errors + every dropped_*.
struct udp_listener_stats {
  std::atomic<std::uint64_t> received{0};   ///< datagrams read, dropped ones included
  std::atomic<std::uint64_t> sent{0};       ///< replies the kernel accepted
  std::atomic<std::uint64_t> discarded{0};  ///< read by a discard listener, as it should
  /// From a port whose service would answer back (0, 7, 13, 19, 37, or our own port):
  /// replying could start a loop between two such services.
  std::atomic<std::uint64_t> dropped_source_port{0};
  /// From an address no datagram can come from (unspecified, multicast, broadcast).
  std::atomic<std::uint64_t> dropped_source_address{0};
  /// Sent to a broadcast or multicast address: one request would draw many replies.
  std::atomic<std::uint64_t> dropped_destination{0};
  std::atomic<std::uint64_t> dropped_budget{0};     ///< over the source's udp_limits
  std::atomic<std::uint64_t> dropped_truncated{0};  ///< larger than the receive buffer
  std::atomic<std::uint64_t> send_errors{0};        ///< the kernel refused the reply
  std::atomic<std::uint64_t> receive_errors{0};     ///< failed reads (no datagram counted)
};

}  // namespace echo::detail
