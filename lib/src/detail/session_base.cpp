#include "detail/session_base.hpp"

#include "detail/session_context.hpp"

namespace echo::detail {

session_base::session_base(std::shared_ptr<session_context> context, std::uint64_t id) noexcept
    : context_(std::move(context)), id_(id) {}

session_base::~session_base() {
  if (listener_ != no_listener) context_->listeners[listener_].open.fetch_sub(1, std::memory_order_relaxed);
  context_->registry.remove(*this);
}

void session_base::count_in_listener(std::uint16_t index) noexcept {
  listener_ = index;
  stats::add(context_->listeners[index].open);
}

}  // namespace echo::detail
