#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "echo/fault_report.hpp"
#include "echo/fault_spec.hpp"

namespace echo::detail {

/// One fault of an active set, resolved against the server's listeners. Immutable once the
/// set is published, but for the two counters after= and count= draw from.
struct active_fault {
  explicit active_fault(fault_spec s);

  fault_spec spec;
  std::string text;  ///< format_fault_spec(spec): what records name it by
  /// Applies to listener index i when listeners[i]; every listener when `spec.listener` is empty.
  std::vector<bool> listeners;
  /// spec.probability as a 64-bit threshold: a draw below it fires. 0: never, and no draw
  /// is made; `always`: no draw either.
  std::uint64_t threshold = 0;
  bool always = true;
  mutable std::atomic<std::uint64_t> seen{0};   ///< connections that qualified (after=)
  mutable std::atomic<std::uint64_t> taken{0};  ///< connections it was given to (count=)
};

/// An immutable fault set as published by the engine: sessions hold it by shared_ptr, so a
/// replacement never pulls it from under a connection that is reading it.
struct fault_set {
  std::vector<std::unique_ptr<active_fault>> faults;
  std::uint64_t generation = 0;
  bool connection_faults = false;  ///< any fault that acts on connections (not no-accept/refuse)
  bool needs_peer = false;         ///< any match=: the client's address is needed
};

/// Who a listener is, for `listener=`.
struct listener_identity {
  std::string name;     ///< "tcp://127.0.0.1:7101"
  std::string address;  ///< "127.0.0.1:7101"
  std::uint16_t port = 0;
};

/// The seeded generator of one connection: splitmix64 over (seed, connection ordinal), so
/// the same seed and connection order give the same draws whatever the threads do.
class fault_random {
 public:
  fault_random(std::uint64_t seed, std::uint64_t connection) noexcept;
  std::uint64_t next() noexcept;
  /// Uniform in [lo, hi].
  std::uint64_t between(std::uint64_t lo, std::uint64_t hi) noexcept;

 private:
  std::uint64_t state_;
};

/// The server's faults: the configured set, the active one (replaced live), the seed, and
/// the fired counters. Thread-safe.
class fault_engine {
 public:
  /// `listeners`: how many listeners the server has (sizes the fired counters).
  fault_engine(std::uint64_t seed, bool allow_corruption, std::size_t listeners);

  /// Once, after the server bound its listeners (index order): what `listener=` matches.
  /// Then installs `configured` as the configured and active set (throws config_error).
  void configure(std::vector<listener_identity> listeners, std::vector<fault_spec> configured);

  /// Validates and resolves `faults`, then publishes them (throws config_error, changing
  /// nothing). `on_change` runs after publication, on the caller's thread.
  void set(std::vector<fault_spec> faults);
  void reset() { set(configured()); }
  std::vector<fault_spec> active_specs() const;
  std::vector<fault_spec> configured() const;

  /// Taken once per connection while connection faults exist, and by a plan when the
  /// generation moved: rare enough for a lock, which (unlike libstdc++ 12's lock-bit
  /// atomic<shared_ptr>) every race detector understands.
  std::shared_ptr<const fault_set> active() const {
    std::lock_guard lock(active_mutex_);
    return active_;
  }
  /// Changes with every publication; a plan compares it with its set's at each step.
  std::uint64_t generation() const noexcept { return generation_.load(std::memory_order_relaxed); }
  /// Whether any fault acts on connections now: sessions opened while this is false get no
  /// plan at all (one relaxed load per connection, none per step).
  bool connection_faults() const noexcept { return connection_faults_.load(std::memory_order_relaxed); }

  std::uint64_t seed() const noexcept { return seed_; }
  bool corruption_allowed() const noexcept { return allow_corruption_; }

  void count_fired(std::uint16_t listener, fault_kind kind) noexcept;
  /// Every (listener, kind), zeros included; `names[i]` labels listener i.
  std::vector<fault_fired> fired(const std::vector<std::string>& names) const;

  /// Called after each publication (listener faults, live sessions); set by the server.
  std::function<void(const fault_set&)> on_change;

 private:
  std::shared_ptr<fault_set> resolve(std::vector<fault_spec> faults) const;

  const std::uint64_t seed_;
  const bool allow_corruption_;
  std::vector<listener_identity> identities_;
  std::vector<fault_spec> configured_;
  mutable std::mutex change_;        ///< one change at a time; readers never take it
  mutable std::mutex active_mutex_;  ///< guards active_ only; never held while calling out
  std::shared_ptr<const fault_set> active_;
  std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> connection_faults_{false};
  std::vector<std::array<std::atomic<std::uint64_t>, fault_kind_count>> fired_;
};

}  // namespace echo::detail
