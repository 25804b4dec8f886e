#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "echo/connection_record.hpp"

namespace echo::detail {

struct session_context;

/// What the server needs from any session kind (TCP today; TLS, Unix later): start it, ask
/// it to finish, or close it now. Sessions link themselves into the server's registry on
/// admission and unlink on destruction, so shutdown can always find every live one.
class session_base : public std::enable_shared_from_this<session_base> {
 public:
  session_base(const session_base&) = delete;
  session_base& operator=(const session_base&) = delete;
  virtual ~session_base();

  /// Connection id, unique per server; every log line about the session carries it.
  std::uint64_t id() const noexcept { return id_; }

  /// Begins echoing. Called once, right after the registry admitted the session.
  virtual void start() = 0;
  /// Graceful end (thread-safe): echo what is already read, send FIN, wait for the peer's
  /// FIN, close.
  virtual void drain() = 0;
  /// Immediate end (thread-safe): close the socket; pending operations are aborted.
  virtual void close() = 0;
  /// The sweep saw the deadline pass (thread-safe): the session re-checks on its own
  /// executor, since progress may have moved the deadline meanwhile, and closes if due.
  virtual void expire() = 0;
  /// The fault set changed (thread-safe): a session with no plan checks, on its own
  /// executor, whether a fault now applies to it. Kinds that take no faults ignore it.
  virtual void refresh_faults() {}

  /// The session as GET /connections shows it while open (thread-safe); nullopt when it
  /// keeps no record (see session_trace).
  virtual std::optional<connection_record> record() const { return std::nullopt; }

  /// Counts the session in listener `index`'s open connections (see session_context) until
  /// it is destroyed, and its bytes and end in that listener's counters. Called once, before
  /// start(): every session belongs to a listener.
  void count_in_listener(std::uint16_t index) noexcept;

  /// What the sweep reads (a relaxed atomic, written only on the session's executor).
  std::uint32_t deadline() const noexcept { return deadline_.load(std::memory_order_relaxed); }

 protected:
  session_base(std::shared_ptr<session_context> context, std::uint64_t id) noexcept;

  session_context& context() const noexcept { return *context_; }
  /// Index of the listener that admitted the session (see count_in_listener).
  std::uint16_t listener_index() const noexcept { return listener_; }
  void set_deadline(std::uint32_t tick) noexcept { deadline_.store(tick, std::memory_order_relaxed); }

 private:
  friend class session_registry;

  // Holding the context by shared_ptr keeps the registry and counters alive for as long as
  // any session is, even if the io_context outlives the server that created it.
  std::shared_ptr<session_context> context_;
  session_base* prev_ = nullptr;
  session_base* next_ = nullptr;
  std::uint64_t id_;
  std::atomic<std::uint32_t> deadline_{0};
  // Fits in what was padding after deadline_: no per-session memory.
  std::uint16_t listener_ = no_listener;
  static constexpr std::uint16_t no_listener = 0xffff;
};

}  // namespace echo::detail
