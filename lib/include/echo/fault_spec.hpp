#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace echo {

/// Every fault echo-svc can inject, by what it does to a connection (see README, "Testing
/// your client with echo-svc").
enum class fault_kind : std::uint8_t {
  latency,             ///< each echo step held back by `delay` (plus up to `jitter` either way)
  bandwidth,           ///< echoes paced to `rate` bytes per second per connection
  slice,               ///< each echo split into writes of `size_min`-`size_max` bytes, `delay` apart
  close_after,         ///< our FIN after `bytes` echoed or at `time`
  reset_after,         ///< an RST after `bytes` echoed or at `time`
  stall,               ///< after `bytes` echoed, stop reading and writing; hold the connection
  blackhole,           ///< read and discard, never answer
  slow_read,           ///< small receive buffer and reads paced to `rate`: the client's writes block
  slow_close,          ///< our FIN `delay` after the client's
  early_fin,           ///< our FIN after `bytes` echoed, while we still read (and discard)
  hold_close_wait,     ///< never answer the client's FIN: the connection stays in CLOSE_WAIT
  no_accept,           ///< the listener stops accepting; its queue is kept full: connects time out
  refuse,              ///< the listener stops listening: connects are refused (ECONNREFUSED)
  accept_delay,        ///< accepted, then nothing read or written for `delay`
  banner,              ///< `text` written as soon as the connection opens (server speaks first)
  corrupt,             ///< integrity: bits flipped at seeded offsets, each byte with probability `ratio`
  garbage_then_close,  ///< integrity: `bytes` of seeded garbage instead of the echo, then our FIN
  amplify,             ///< integrity: each echo sent `factor` times
};
inline constexpr std::size_t fault_kind_count = 18;

/// "latency", "close-after", "garbage-then-close": the NAME of a fault SPEC.
std::string_view to_string(fault_kind kind) noexcept;
/// Integrity faults break the echo's promise (what arrives is a prefix of what was sent):
/// allowed only with --allow-corruption, and their offsets are always recorded.
bool is_integrity_fault(fault_kind kind) noexcept;
/// no-accept and refuse act on the listening socket, not on connections: they take only
/// the `listener` key, and hold for as long as they are in the active set.
bool is_listener_fault(fault_kind kind) noexcept;

/// A client address range for `match=`: "10.0.0.0/8", "2001:db8::/32", "192.0.2.7"
/// (a single address). An IPv4 range also matches the v4-mapped IPv6 form a dual-stack
/// listener sees.
struct address_range {
  boost::asio::ip::address network;
  unsigned prefix = 0;  ///< leading bits that must match: 0-32 for IPv4, 0-128 for IPv6

  bool contains(const boost::asio::ip::address& a) const noexcept;
  friend bool operator==(const address_range&, const address_range&) = default;
};

/// One fault as `--fault SPEC` gives it: `NAME[:KEY=VALUE,...]`. Plain data: each fault
/// reads the parameters its line above names; the others keep their defaults (and
/// parse_fault_spec refuses them).
struct fault_spec {
  fault_kind kind = fault_kind::latency;

  // The keys every fault takes (listener faults: only `listener`).
  /// Empty: every listener. Otherwise a listener's port ("7101"), its address
  /// ("127.0.0.1:7101") or its name as in the ready line ("tcp://127.0.0.1:7101",
  /// "unix:///run/echo.sock").
  std::string listener;
  /// Chance per connection, 0 to 1, drawn from the connection's seeded generator. 0 never
  /// fires (no draw is made at all).
  double probability = 1.0;
  /// Connections this fault would have applied to that it lets pass first.
  std::uint64_t after = 0;
  /// Connections it applies to at most, counted after `after`; unset: no limit.
  std::optional<std::uint64_t> count;
  /// Only clients in this range (the PROXY header's source where a listener reads one).
  std::optional<address_range> match;

  // The fault's own parameters.
  std::chrono::milliseconds delay{0};   ///< latency, slice, slow-close, accept-delay
  std::chrono::milliseconds jitter{0};  ///< latency: uniform in [-jitter, +jitter]
  std::uint64_t rate = 0;               ///< bandwidth, slow-read: bytes per second
  std::uint64_t size_min = 0;           ///< slice: write sizes from size_min ...
  std::uint64_t size_max = 0;           ///< ... to size_max, seeded
  /// close-after, reset-after (`bytes=`), stall, early-fin (`after-bytes=`): bytes echoed
  /// first; garbage-then-close (`bytes=`): garbage bytes sent.
  std::optional<std::uint64_t> bytes;
  std::optional<std::chrono::milliseconds> time;  ///< close-after, reset-after: from accept
  std::string text;                               ///< banner (escapes \r \n \t \\ \, \xHH)
  double ratio = 0;                               ///< corrupt (`rate=`): flip chance per byte
  unsigned factor = 0;                            ///< amplify: copies of each echo, 2 or more

  friend bool operator==(const fault_spec&, const fault_spec&) = default;
};

/// Reads one SPEC, e.g. "latency:delay=50ms,jitter=5ms", "slice:size=1-64,delay=1ms",
/// "reset-after:bytes=4096,probability=0.5,after=10,count=3",
/// "close-after:time=2s,match=10.0.0.0/8,listener=7101". Durations as everywhere
/// ("50ms", "2s"; bare numbers are seconds); byte counts and rates take KiB/MiB/GiB.
/// Throws usage_error with a one-line message naming the SPEC and what is wrong with it:
/// an unknown fault or key, a missing or malformed value, a key the fault does not take.
fault_spec parse_fault_spec(std::string_view spec);

/// The canonical SPEC: parse_fault_spec(format_fault_spec(f)) == f. Keys in a fixed
/// order, defaults left out: "latency:delay=50ms,jitter=5ms".
std::string format_fault_spec(const fault_spec& fault);

/// The rules a set of faults must keep as a whole, for the command line, the config file
/// and any live change alike: integrity faults only with `allow_corruption`. Throws
/// config_error (setting "fault") naming the offending SPEC.
void validate_faults(const std::vector<fault_spec>& faults, bool allow_corruption);

}  // namespace echo
