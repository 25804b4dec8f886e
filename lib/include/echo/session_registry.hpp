#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace echo {

class session_base;

/// The set of live sessions: an intrusive list, so admitting a session allocates nothing.
/// With one thread it takes no lock; with several, one mutex guards the list (only touched
/// when a session starts or ends, and at shutdown, never per message).
class session_registry {
 public:
  explicit session_registry(bool thread_safe) noexcept : thread_safe_(thread_safe) {}
  session_registry(const session_registry&) = delete;
  session_registry& operator=(const session_registry&) = delete;

  /// Links a new session. False once admission is closed: the caller drops the session.
  bool add(session_base& session);
  /// Unlinks a session (from its destructor). Fires the on-empty callback when the last
  /// session leaves after admission closed.
  void remove(session_base& session) noexcept;

  /// Stops admitting new sessions and returns the live ones, so the caller can drain them.
  /// `on_empty` runs once, on whichever thread removes the last session, or right away
  /// if there are none.
  std::vector<std::shared_ptr<session_base>> close_admission(std::function<void()> on_empty);
  /// The live sessions (e.g. to force-close them at a deadline).
  std::vector<std::shared_ptr<session_base>> snapshot() const;
  /// Drops a pending on-empty callback (its owner is going away).
  void clear_on_empty() noexcept;

  /// Live sessions; readable from any thread (a metrics exporter, a test).
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }

 private:
  class guard;
  std::vector<std::shared_ptr<session_base>> collect() const;

  mutable std::mutex mutex_;
  const bool thread_safe_;
  bool admitting_ = true;
  session_base* head_ = nullptr;
  // Written under the list's guard, read lock-free by size().
  std::atomic<std::size_t> size_{0};
  std::function<void()> on_empty_;
};

}  // namespace echo
