#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

namespace echo {

/// What a step_plan decides for the next step of one connection.
struct step {
  enum class kind : std::uint8_t {
    go,         ///< carry on (after `delay`; a write of at most `bytes`)
    end_fin,    ///< stop echoing: send our FIN, discard what still comes, close
    end_reset,  ///< stop echoing: close with an RST
  };
  kind what = kind::go;
  /// Before a write: write at most this many of the pending bytes now (0: all of them).
  std::size_t bytes = 0;
  /// Wait this long before the step; the wait counts as a write for the timeouts.
  std::chrono::nanoseconds delay{0};

  static step proceed() noexcept { return {}; }
};

/// A per-connection plan the echo state machine consults after each read and before each
/// write: it may delay the step, split an echo into several writes, or end the connection
/// with a FIN or an RST. It is how faults are injected; without a plan (the default) the
/// state machine skips the hook entirely. A plan runs on its connection's executor only, so
/// it needs no locking of its own state.
class step_plan {
 public:
  step_plan() = default;
  step_plan(const step_plan&) = delete;
  step_plan& operator=(const step_plan&) = delete;
  virtual ~step_plan() = default;

  /// A read of `n` bytes completed; nothing of it has been echoed yet. `bytes` is ignored.
  virtual step after_read(std::size_t n) = 0;
  /// `pending` bytes of the last read are still to be echoed (> 0).
  virtual step before_write(std::size_t pending) = 0;
};

/// Makes the plan for a new connection (by its id), or returns null for none. Called on the
/// accepting thread, once per admitted connection.
using plan_factory = std::function<std::unique_ptr<step_plan>(std::uint64_t connection_id)>;

}  // namespace echo
