#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "echo/fault_report.hpp"

namespace echo {

/// What a step_plan decides for the next step of one connection.
struct step {
  enum class kind : std::uint8_t {
    go,         ///< carry on (after `delay`; a write of at most `bytes`, or of `data`)
    end_fin,    ///< stop echoing: send our FIN, discard what still comes until the peer's FIN, close
    end_close,  ///< stop echoing: send our FIN, drop what already arrived, close (later bytes: RST)
    end_reset,  ///< stop echoing: close with an RST
    hold,       ///< stop reading and writing and keep the connection open, until a drain, a
                ///< close or the idle timeout (counted from the hold) ends it
    discard,    ///< after a read: drop its bytes unechoed and read on
    repeat,     ///< before a read: echo the last read's bytes once more
  };
  kind what = kind::go;
  /// Before a write: write at most this many of the pending bytes now (0: all of them).
  /// With `data`: how many of those to write.
  std::size_t bytes = 0;
  /// Wait this long before the step. Before a write the wait counts as a write for the
  /// timeouts; before a read (and before answering the peer's FIN) as a hold.
  std::chrono::nanoseconds delay{0};
  /// kind::go: write these `bytes` bytes of the plan's own (valid until the plan is next
  /// called) first, then carry on where the step was: the rest of the echo, else the next read.
  const std::byte* data = nullptr;

  static step proceed() noexcept { return {}; }
};

/// A per-connection plan the echo state machine consults at each step: after each read,
/// before each write, before each read, when the connection opens, when the peer sends its
/// FIN, and when the plan's own deadline passes during a read. It may delay a step, split
/// an echo, insert bytes of its own, hold the connection, or end it with a FIN or an RST.
/// It is how faults are injected; without a plan (the default) the state machine skips
/// every hook. A plan runs on its connection's executor only, so it needs no locking of its
/// own state.
class step_plan {
 public:
  step_plan() = default;
  step_plan(const step_plan&) = delete;
  step_plan& operator=(const step_plan&) = delete;
  virtual ~step_plan() = default;

  /// A read completed; nothing of it has been echoed yet. The plan may change the bytes in
  /// place (an integrity fault). `bytes` is ignored; kind::repeat is not allowed here.
  virtual step after_read(std::span<std::byte> data) = 0;
  /// `pending` bytes of the last read are still to be echoed (> 0).
  virtual step before_write(std::size_t pending) = 0;

  /// The connection is open (after a PROXY header and a TLS handshake), nothing read yet.
  /// Answered like before_read().
  virtual step on_start() { return step::proceed(); }
  /// The last read is echoed in full; the next read is about to start. A delay, or the end
  /// of a hold, asks again.
  virtual step before_read() { return step::proceed(); }
  /// The peer sent its FIN and has every echo: go (after `delay`) answers with ours; hold
  /// never answers; end_reset resets.
  virtual step on_peer_fin() { return step::proceed(); }
  /// While a read waits: when to interrupt it and ask on_wake(); nullopt: never.
  virtual std::optional<std::chrono::steady_clock::time_point> wake_at() const { return std::nullopt; }
  /// wake_at() passed while a read was waiting (the read is abandoned, nothing lost).
  virtual step on_wake() { return step::proceed(); }
  /// SO_RCVBUF to give the socket as the connection opens; 0 leaves it alone.
  virtual int receive_buffer() const { return 0; }
  /// What the plan did to the connection so far, for its record (see fault_report.hpp).
  virtual std::vector<fault_effect> effects() const { return {}; }
};

/// Makes the plan for a new connection (by its id), or returns null for none. Called on the
/// accepting thread, once per admitted connection.
using plan_factory = std::function<std::unique_ptr<step_plan>(std::uint64_t connection_id)>;

}  // namespace echo
