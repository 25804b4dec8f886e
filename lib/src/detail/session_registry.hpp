#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace echo::detail {

class session_base;

/// The set of live sessions: an intrusive list, so admitting a session allocates nothing.
/// With one thread it takes no lock; with several, one mutex guards the list (only touched
/// when a session starts or ends, and at shutdown, never per message).
///
/// Admission is two calls: reserve() takes a slot against the cap in one atomic step (so
/// listeners on several threads can never overshoot it, and a rejected connection costs no
/// session object), then add() links the session built for that slot.
class session_registry {
 public:
  /// `capacity`: sessions allowed at once (reserved or linked).
  session_registry(bool thread_safe, std::size_t capacity) noexcept
      : thread_safe_(thread_safe), capacity_(capacity) {}
  session_registry(const session_registry&) = delete;
  session_registry& operator=(const session_registry&) = delete;

  enum class admission : std::uint8_t { admitted, full, closed };
  /// Takes one slot if fewer than `capacity` are taken and admission is open.
  admission reserve() noexcept;
  /// Links a session holding a slot from reserve(). False once admission has closed
  /// meanwhile: the slot is given back and the caller drops the session.
  bool add(session_base& session);
  /// Unlinks a session (from its destructor); frees its slot. Fires the on-empty callback
  /// when the last session leaves after admission closed.
  void remove(session_base& session) noexcept;

  /// Stops admitting new sessions and returns the live ones, so the caller can drain them.
  /// `on_empty` runs once, on whichever thread removes the last session, or right away
  /// if there are none.
  std::vector<std::shared_ptr<session_base>> close_admission(std::function<void()> on_empty);
  /// The live sessions (e.g. to force-close them at a deadline).
  std::vector<std::shared_ptr<session_base>> snapshot() const;
  /// Calls `visit(session)` for every live session under the registry's guard, in one walk.
  /// `visit` returns the vector the session's owner goes into (the caller acts on those
  /// outside the guard), or nullptr to leave it.
  template <class Visit>
  void select(Visit&& visit) const;
  /// Drops a pending on-empty callback (its owner is going away).
  void clear_on_empty() noexcept;

  /// Slots taken (sessions live or about to be); readable from any thread.
  std::size_t size() const noexcept { return size_.load(std::memory_order_relaxed); }
  std::size_t capacity() const noexcept { return capacity_; }

 private:
  // Locks only when several threads run the io_context; a single-threaded server never
  // touches the mutex.
  class guard {
   public:
    explicit guard(const session_registry& r) : r_(r) {
      if (r_.thread_safe_) r_.mutex_.lock();
    }
    ~guard() {
      if (r_.thread_safe_) r_.mutex_.unlock();
    }
    guard(const guard&) = delete;
    guard& operator=(const guard&) = delete;

   private:
    const session_registry& r_;
  };

  std::vector<std::shared_ptr<session_base>> collect() const;
  // Frees one slot under the guard; returns the on-empty callback if that was the last.
  std::function<void()> free_slot() noexcept;
  static std::shared_ptr<session_base> owner(session_base* s);
  static session_base* next(session_base* s) noexcept;

  mutable std::mutex mutex_;
  const bool thread_safe_;
  const std::size_t capacity_;
  // Written under the guard; reserve() reads it without, and a reservation racing with
  // close_admission() is caught by add(), which re-checks under the guard.
  std::atomic<bool> admitting_{true};
  session_base* head_ = nullptr;
  // Slots taken: reserve() counts up lock-free (compare-and-swap against the cap),
  // remove() and a refused add() count down under the guard.
  std::atomic<std::size_t> size_{0};
  std::function<void()> on_empty_;
};

template <class Visit>
void session_registry::select(Visit&& visit) const {
  guard g(*this);
  for (session_base* s = head_; s != nullptr; s = next(s)) {
    if (std::vector<std::shared_ptr<session_base>>* out = visit(*s)) {
      if (auto p = owner(s)) out->push_back(std::move(p));
    }
  }
}

}  // namespace echo::detail
