#include "detail/session_state.hpp"

namespace echo::detail {

std::string_view to_string(session_state s) noexcept {
  switch (s) {
    case session_state::created: return "created";
    case session_state::starting: return "starting";
    case session_state::reading: return "reading";
    case session_state::writing: return "writing";
    case session_state::drain_reading: return "drain-reading";
    case session_state::drain_writing: return "drain-writing";
    case session_state::answering_fin: return "answering-fin";
    case session_state::finishing: return "finishing";
    case session_state::lingering: return "lingering";
    case session_state::holding: return "holding";
    case session_state::closed: return "closed";
  }
  return "?";
}

std::string_view to_string(end_reason r) noexcept {
  switch (r) {
    case end_reason::none: return "none";
    case end_reason::eof: return "eof";
    case end_reason::reset: return "reset";
    case end_reason::error: return "error";
    case end_reason::idle_timeout: return "idle-timeout";
    case end_reason::write_timeout: return "write-timeout";
    case end_reason::shutdown: return "shutdown";
    case end_reason::forced: return "forced";
    case end_reason::plan_fin: return "plan-fin";
    case end_reason::plan_reset: return "plan-reset";
    case end_reason::proxy_header: return "proxy-header";
  }
  return "?";
}

}  // namespace echo::detail
