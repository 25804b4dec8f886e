#include "detail/fault_engine.hpp"

#include <cmath>
#include <limits>

#include <fmt/format.h>

#include "echo/config_error.hpp"

namespace echo::detail {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) noexcept {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

__extension__ using uint128 = unsigned __int128;

bool names_listener(const std::string& wanted, const listener_identity& l) {
  return wanted == l.name || wanted == l.address || (l.port != 0 && wanted == std::to_string(l.port));
}

}  // namespace

active_fault::active_fault(fault_spec s) : spec(std::move(s)), text(format_fault_spec(spec)) {
  if (spec.probability <= 0) {
    always = false;
    threshold = 0;
  } else if (spec.probability < 1) {
    always = false;
    // At least 1, so that a tiny probability is not rounded to never.
    const auto t = std::ldexp(spec.probability, 64);
    threshold = t >= 0x1p64 ? std::numeric_limits<std::uint64_t>::max()
                            : std::max<std::uint64_t>(1, static_cast<std::uint64_t>(t));
  }
}

fault_random::fault_random(std::uint64_t seed, std::uint64_t connection) noexcept {
  std::uint64_t x = seed;
  const auto a = splitmix64(x);
  x = connection ^ a;
  state_ = splitmix64(x);
}

std::uint64_t fault_random::next() noexcept { return splitmix64(state_); }

std::uint64_t fault_random::between(std::uint64_t lo, std::uint64_t hi) noexcept {
  if (hi <= lo) return lo;
  const auto span = hi - lo + 1;
  if (span == 0) return next();  // the whole 64-bit range
  // Multiply-shift: unbiased enough for sizes and offsets, and the same on every platform.
  return lo + static_cast<std::uint64_t>((static_cast<uint128>(next()) * span) >> 64);
}

fault_engine::fault_engine(std::uint64_t seed, bool allow_corruption, std::size_t listeners)
    : seed_(seed),
      allow_corruption_(allow_corruption),
      active_(std::make_shared<const fault_set>()),
      fired_(std::max<std::size_t>(listeners, 1)) {}

void fault_engine::configure(std::vector<listener_identity> listeners, std::vector<fault_spec> configured) {
  {
    std::lock_guard lock(change_);
    identities_ = std::move(listeners);
  }
  set(configured);
  std::lock_guard lock(change_);
  configured_ = std::move(configured);
}

std::shared_ptr<fault_set> fault_engine::resolve(std::vector<fault_spec> faults) const {
  validate_faults(faults, allow_corruption_);
  auto set = std::make_shared<fault_set>();
  for (auto& spec : faults) {
    auto f = std::make_unique<active_fault>(std::move(spec));
    f->listeners.assign(identities_.size(), f->spec.listener.empty());
    if (!f->spec.listener.empty()) {
      bool any = false;
      for (std::size_t i = 0; i < identities_.size(); ++i) {
        if (names_listener(f->spec.listener, identities_[i])) f->listeners[i] = any = true;
      }
      if (!any)
        throw config_error(
            "fault", fmt::format("fault '{}': listener={} names none of this server's listeners", f->text,
                                 f->spec.listener));
    }
    if (!is_listener_fault(f->spec.kind)) set->connection_faults = true;
    if (f->spec.match) set->needs_peer = true;
    set->faults.push_back(std::move(f));
  }
  return set;
}

void fault_engine::set(std::vector<fault_spec> faults) {
  std::lock_guard lock(change_);
  auto next = resolve(std::move(faults));
  const auto generation = generation_.load(std::memory_order_relaxed) + 1;
  next->generation = generation;
  {
    std::lock_guard swap(active_mutex_);
    active_ = next;
  }
  connection_faults_.store(next->connection_faults, std::memory_order_relaxed);
  generation_.store(generation, std::memory_order_relaxed);
  // Under the lock, so that listeners see changes in the order they were made; on_change
  // only dispatches, it never calls back in here.
  if (on_change) on_change(*next);
}

std::vector<fault_spec> fault_engine::active_specs() const {
  std::vector<fault_spec> out;
  for (const auto& f : active()->faults) out.push_back(f->spec);
  return out;
}

std::vector<fault_spec> fault_engine::configured() const {
  std::lock_guard lock(change_);
  return configured_;
}

void fault_engine::count_fired(std::uint16_t listener, fault_kind kind) noexcept {
  if (listener >= fired_.size()) return;
  fired_[listener][static_cast<std::size_t>(kind)].fetch_add(1, std::memory_order_relaxed);
}

std::vector<fault_fired> fault_engine::fired(const std::vector<std::string>& names) const {
  std::vector<fault_fired> out;
  for (std::size_t i = 0; i < names.size() && i < fired_.size(); ++i) {
    for (std::size_t k = 0; k < fault_kind_count; ++k)
      out.push_back({names[i], std::string(to_string(static_cast<fault_kind>(k))),
                     fired_[i][k].load(std::memory_order_relaxed)});
  }
  return out;
}

}  // namespace echo::detail
