#include "session_harness.hpp"

#include <stdexcept>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/post.hpp>

namespace echo::test {

using detail::session_state;

echo::config small_session_config() {
  echo::config cfg;
  cfg.buffer_size = echo::config::min_buffer_size;
  return cfg;
}

session_harness::session_harness(memory_script script, plan_factory plans, echo::config cfg)
    : ctx(std::make_shared<detail::session_context>(false, cfg)), input(script.input) {
  ctx->plans = std::move(plans);
  if (ctx->registry.reserve() != detail::session_registry::admission::admitted) {
    throw std::logic_error("session_harness: the registry refused a slot");
  }
  session = std::make_shared<memory_session>(io, ctx, 1, std::move(script));
  session->count_in_listener(ctx->add_listener());
  if (!ctx->registry.add(*session))
    throw std::logic_error("session_harness: the registry refused the session");
}

std::size_t session_harness::run(std::size_t limit) {
  std::size_t n = 0;
  io.restart();  // a poll that found no work left the io_context stopped
  while (n < limit && io.poll_one() != 0) {
    ++n;
    seen.insert(session->current_state());
  }
  return n;
}

session_state session_harness::act(const std::function<void()>& what) {
  session_state found{};
  bool done = false;
  boost::asio::post(io, [&] {
    found = session->current_state();
    what();
    done = true;
  });
  io.restart();
  // Handlers run in the order they were posted, so this ends once the ones queued before
  // ours have run.
  while (!done && io.poll_one() != 0) seen.insert(session->current_state());
  if (!done) throw std::logic_error("session_harness: the io_context ran out of work before the action");
  return found;
}

session_state session_harness::drain() {
  return act([this] { session->drain(); });
}

session_state session_harness::expire() {
  return act([this] {
    ctx->now_tick.fetch_add(1'000'000);  // every deadline is long past
    session->expire();
  });
}

session_state session_harness::close() {
  return act([this] { session->close(); });
}

std::vector<std::string> session_harness::finish(std::size_t limit) {
  std::vector<std::string> broken;
  const auto check = [&](bool held, std::string what) {
    if (!held) broken.push_back(std::move(what));
  };
  // A state machine that keeps posting work never settles: hitting the limit says so.
  const auto settle = [&](const char* when) {
    check(run(limit) < limit, fmt::format("still running after {} handlers ({})", limit, when));
  };
  settle("before the closing check");
  if (session->current_state() != session_state::closed) close();
  settle("after close()");

  check(
      session->current_state() == session_state::closed,
      fmt::format("the session ended in state {}, not closed", detail::to_string(session->current_state())));
  check(session->stream_closed(), "the stream was left open");
  check(!session->holds_buffer(), "the session still holds the read buffer");
  check(session->overlapping_operations() == 0,
        fmt::format("operations started while another was in flight: {}", session->overlapping_operations()));
  const auto& out = session->output();
  check(out.size() <= input.size(),
        fmt::format("the peer got {} bytes for its {}", out.size(), input.size()));
  check(input.compare(0, out.size(), out) == 0, "the peer did not get a byte-exact prefix of its input");
  const auto& c = ctx->counters;
  const auto& l = ctx->listeners.front();
  check(stats::get(l.bytes_sent) == out.size(),
        fmt::format("bytes_sent counts {}, the peer got {}", stats::get(l.bytes_sent), out.size()));
  check(
      stats::get(l.bytes_received) <= input.size(),
      fmt::format("bytes_received counts {} of an input of {}", stats::get(l.bytes_received), input.size()));
  session.reset();  // no handler should hold it any more: it is gone now
  check(stats::get(c.active) == 0, fmt::format("{} sessions still active", stats::get(c.active)));
  check(stats::get(c.closed) == 1, fmt::format("{} sessions counted closed, not 1", stats::get(c.closed)));
  check(ctx->registry.size() == 0, fmt::format("{} sessions still registered", ctx->registry.size()));
  return broken;
}

}  // namespace echo::test
