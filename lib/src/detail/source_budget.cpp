#include "detail/source_budget.hpp"

#include <algorithm>
#include <cstring>
#include <random>

namespace echo::detail {
namespace {

std::uint64_t random_key() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

// A 64x64->128 multiply folded back to 64 bits: fast, and with a secret key per table the
// set an address lands in cannot be predicted from outside. Not a cryptographic MAC; an
// attacker who learned the key could only crowd sets, which costs new sources their own
// bucket, never the bound on replies.
__extension__ using wide = unsigned __int128;

std::uint64_t fold(std::uint64_t a, std::uint64_t b) noexcept {
  const auto m = static_cast<wide>(a) * b;
  return static_cast<std::uint64_t>(m) ^ static_cast<std::uint64_t>(m >> 64);
}

}  // namespace

source_budget::source_budget(const udp_limits& limits, std::size_t entries)
    : limits_(limits),
      datagram_cost_ns_(limits.datagrams_per_second == 0 ? 0 : burst_ns / limits.datagrams_per_second),
      key0_(random_key()),
      key1_(random_key()) {
  if (limited()) entries_.resize(std::max<std::size_t>((entries + ways - 1) / ways, 1) * ways);
}

std::size_t source_budget::set_of(const address_key& source) const noexcept {
  std::uint64_t hi = 0;
  std::uint64_t lo = 0;
  std::memcpy(&hi, source.data(), 8);
  std::memcpy(&lo, source.data() + 8, 8);
  const auto h = fold(hi ^ key0_, lo ^ key1_) ^ fold(lo + key0_, 0x9e3779b97f4a7c15ULL ^ key1_);
  return static_cast<std::size_t>(h % (entries_.size() / ways));
}

bool source_budget::is_full(const entry& e, std::int64_t now_ns) const noexcept {
  return e.datagrams_full_at <= now_ns && e.bytes_full_at <= now_ns;
}

bool source_budget::charge(entry& e, std::size_t bytes, std::int64_t now_ns) const noexcept {
  const auto datagrams_at = std::max(e.datagrams_full_at, now_ns) + datagram_cost_ns_;
  if (datagrams_at - now_ns > burst_ns) return false;
  std::int64_t bytes_at = e.bytes_full_at;
  if (limits_.bytes_per_second != 0) {
    // bytes <= 65,535 and burst_ns = 1e9: the product stays far below 2^63.
    const auto cost =
        static_cast<std::int64_t>(static_cast<std::uint64_t>(bytes) * burst_ns / limits_.bytes_per_second);
    bytes_at = std::max(e.bytes_full_at, now_ns) + cost;
    if (bytes_at - now_ns > burst_ns) return false;
  }
  e.datagrams_full_at = datagrams_at;
  e.bytes_full_at = bytes_at;
  return true;
}

bool source_budget::admit(const address_key& source, std::size_t bytes, std::int64_t now_ns) noexcept {
  if (!limited()) return true;
  const auto first = entries_.begin() + static_cast<std::ptrdiff_t>(set_of(source) * ways);
  const auto last = first + ways;
  entry* free = nullptr;
  for (auto it = first; it != last; ++it) {
    if (it->used && it->key == source) return charge(*it, bytes, now_ns);
    if (free == nullptr && (!it->used || is_full(*it, now_ns))) free = &*it;
  }
  if (free == nullptr) {
    ++overflowed_;
    return charge(overflow_, bytes, now_ns);
  }
  // A full entry is as good as a fresh one: taking it over resets nothing.
  *free = entry{source, true, now_ns, now_ns};
  return charge(*free, bytes, now_ns);
}

std::size_t source_budget::used() const noexcept {
  return static_cast<std::size_t>(
      std::count_if(entries_.begin(), entries_.end(), [](const entry& e) { return e.used; }));
}

}  // namespace echo::detail
