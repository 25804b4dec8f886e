#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <array>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "detail/udp_limits.hpp"

namespace echo::detail {

/// Per-source-address reply budgets for a datagram listener: one token bucket pair
/// (datagrams, bytes) per address, in a table of fixed size, so memory stays bounded however
/// many addresses a flood claims to come from.
///
/// The table is set-associative (`ways` entries per set), the set picked by a keyed hash so a
/// sender cannot aim many addresses at one set without knowing the key. The choice that
/// matters is eviction: only an entry whose buckets have refilled completely may be taken
/// over, and such an entry holds nothing a fresh one would not, so evicting it gives nobody
/// budget back. A source that finds its set full of busy entries is charged to one shared
/// overflow bucket pair instead. So the replies to any one address never exceed its budget
/// (plus the overflow budget, shared by all), and over all addresses never exceed
/// (entries + 1) budgets, whatever the pattern of sources. The price: a flood of many
/// addresses can push new sources into the shared bucket for as long as it lasts (each busy
/// entry frees itself one second after its last datagram).
class source_budget {
 public:
  /// An IPv6 address, or an IPv4 one as IPv4-mapped IPv6.
  using address_key = std::array<std::uint8_t, 16>;

  static constexpr std::size_t ways = 4;
  static constexpr std::size_t default_entries = 4096;
  /// A bucket holds this much of its rate: a source may send a second's worth at once.
  static constexpr std::int64_t burst_ns = 1'000'000'000;

  /// `entries` is rounded up to a multiple of `ways` (at least one set).
  explicit source_budget(const udp_limits& limits, std::size_t entries = default_entries);

  /// Whether any limit applies (else admit() always says yes and keeps no state).
  bool limited() const noexcept { return limits_.limited(); }
  /// Charges one reply of `bytes` to `source` at `now_ns` (a monotonic clock). False: over
  /// budget, and nothing is charged.
  bool admit(const address_key& source, std::size_t bytes, std::int64_t now_ns) noexcept;

  /// Entries in use (for tests).
  std::size_t used() const noexcept;
  /// Replies that found no entry of their own and were charged to the shared overflow
  /// bucket, admitted or not (for tests).
  std::uint64_t overflowed() const noexcept { return overflowed_; }

 private:
  // GCRA: each bucket is the time at which it will be full again ("theoretical arrival
  // time"); a reply costs its share of a second, and is allowed while the schedule runs at
  // most burst_ns ahead of now.
  struct entry {
    address_key key{};
    bool used = false;
    std::int64_t datagrams_full_at = 0;
    std::int64_t bytes_full_at = 0;
  };

  bool charge(entry& e, std::size_t bytes, std::int64_t now_ns) const noexcept;
  bool is_full(const entry& e, std::int64_t now_ns) const noexcept;
  std::size_t set_of(const address_key& source) const noexcept;

  udp_limits limits_;
  std::int64_t datagram_cost_ns_ = 0;  ///< 0: unlimited
  std::vector<entry> entries_;
  entry overflow_;
  std::uint64_t key0_ = 0;
  std::uint64_t key1_ = 0;
  std::uint64_t overflowed_ = 0;
};

}  // namespace echo::detail
