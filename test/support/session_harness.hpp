#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "detail/session_context.hpp"
#include "detail/session_state.hpp"
#include "echo/config.hpp"
#include "echo/step_plan.hpp"
#include "memory_session.hpp"

namespace echo::test {

/// The smallest buffer a config allows: reads of a few hundred bytes fill it.
echo::config small_session_config();

/// One memory_session on a single-threaded io_context, driven one handler at a time, and
/// the invariants every run must end with. The unit tests and the fuzz target share it, so
/// both hold the state machine to the same account.
struct session_harness {
  /// Throws std::logic_error if the registry refuses the session.
  explicit session_harness(memory_script script, plan_factory plans = {},
                           echo::config cfg = small_session_config());

  void start() { session->start(); }
  /// Runs ready handlers, at most `limit`; returns how many ran.
  std::size_t run(std::size_t limit = 50'000'000);
  /// Runs `what` from inside the io_context (so the session acts on it at once) once the
  /// handlers ready now have run; returns the state it found.
  detail::session_state act(const std::function<void()>& what);
  detail::session_state drain();
  /// Moves the clock past every deadline first, as the server's sweep would have.
  detail::session_state expire();
  detail::session_state close();

  /// Runs the session to its end, at most `limit` handlers per step, and checks the
  /// invariants: the peer got a byte-exact prefix of its input, the session and its stream
  /// are closed, no buffer is held, no operation ever overlapped another, the counters add
  /// up and nothing is left registered. A session left open (a silent peer nobody drained)
  /// is closed first, as the server's shutdown deadline would. Returns each broken
  /// invariant; empty when all held. The session is released: `session` is null afterwards.
  [[nodiscard]] std::vector<std::string> finish(std::size_t limit = 50'000'000);

  boost::asio::io_context io{1};
  std::shared_ptr<detail::session_context> ctx;
  std::shared_ptr<memory_session> session;
  std::string input;
  /// Every state the session was seen in after a handler ran.
  std::set<detail::session_state> seen;
};

}  // namespace echo::test
