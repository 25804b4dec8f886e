#include "detail/session_base.hpp"

#include "detail/session_context.hpp"

namespace echo::detail {

session_base::session_base(std::shared_ptr<session_context> context, std::uint64_t id) noexcept
    : context_(std::move(context)), id_(id) {}

session_base::~session_base() { context_->registry.remove(*this); }

}  // namespace echo::detail
