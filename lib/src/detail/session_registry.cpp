#include "detail/session_registry.hpp"

#include <cassert>

#include "detail/session_base.hpp"

namespace echo::detail {

session_base* session_registry::next(session_base* s) noexcept { return s->next_; }

std::shared_ptr<session_base> session_registry::owner(session_base* s) {
  // A session whose last owner just let go is in its destructor, waiting for our guard to
  // unlink itself: lock() yields null for it and it is skipped.
  return s->weak_from_this().lock();
}

session_registry::admission session_registry::reserve() noexcept {
  if (!admitting_.load(std::memory_order_relaxed)) return admission::closed;
  auto taken = size_.load(std::memory_order_relaxed);
  do {
    if (taken >= capacity_) return admission::full;
  } while (!size_.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed));
  return admission::admitted;
}

bool session_registry::add(session_base& session) {
  std::function<void()> fire;
  {
    guard g(*this);
    if (admitting_.load(std::memory_order_relaxed)) {
      assert(session.prev_ == nullptr && session.next_ == nullptr && head_ != &session);
      session.next_ = head_;
      if (head_ != nullptr) head_->prev_ = &session;
      head_ = &session;
      return true;
    }
    fire = free_slot();
  }
  if (fire) fire();
  return false;
}

std::function<void()> session_registry::free_slot() noexcept {
  const auto left = size_.fetch_sub(1, std::memory_order_relaxed) - 1;
  if (left != 0 || admitting_.load(std::memory_order_relaxed) || !on_empty_) return nullptr;
  auto fire = std::move(on_empty_);
  on_empty_ = nullptr;
  return fire;
}

void session_registry::remove(session_base& session) noexcept {
  std::function<void()> fire;
  {
    guard g(*this);
    const bool linked = session.prev_ != nullptr || head_ == &session;
    if (!linked) return;  // never admitted
    if (session.prev_ != nullptr) session.prev_->next_ = session.next_;
    else head_ = session.next_;
    if (session.next_ != nullptr) session.next_->prev_ = session.prev_;
    session.prev_ = session.next_ = nullptr;
    fire = free_slot();
  }
  if (fire) fire();
}

std::vector<std::shared_ptr<session_base>> session_registry::collect() const {
  std::vector<std::shared_ptr<session_base>> live;
  live.reserve(size());
  for (session_base* s = head_; s != nullptr; s = s->next_) {
    if (auto p = owner(s)) live.push_back(std::move(p));
  }
  return live;
}

std::vector<std::shared_ptr<session_base>> session_registry::close_admission(std::function<void()> on_empty) {
  std::vector<std::shared_ptr<session_base>> live;
  bool already_empty = false;
  {
    guard g(*this);
    admitting_.store(false, std::memory_order_relaxed);
    already_empty = size() == 0;
    if (!already_empty) {
      on_empty_ = std::move(on_empty);
      live = collect();
    }
  }
  if (already_empty && on_empty) on_empty();
  return live;
}

std::vector<std::shared_ptr<session_base>> session_registry::snapshot() const {
  guard g(*this);
  return collect();
}

void session_registry::clear_on_empty() noexcept {
  guard g(*this);
  on_empty_ = nullptr;
}

}  // namespace echo::detail
