#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "detail/chargen_pattern.hpp"
#include "detail/expected_end.hpp"
#include "detail/fault_plan.hpp"
#include "detail/proxy_reader.hpp"
#include "detail/session_base.hpp"
#include "detail/session_context.hpp"
#include "detail/session_state.hpp"
#include "detail/session_trace.hpp"
#include "echo/endpoint_text.hpp"
#include "echo/fault_report.hpp"
#include "echo/listener_spec.hpp"
#include "echo/logger.hpp"
#include "echo/step_plan.hpp"

namespace echo::detail {

/// The echo state machine, written once for every stream: TCP today, TLS and Unix sockets
/// next, and the in-memory stream of the unit tests. Exactly one operation is in flight at
/// any time, so a peer that stops reading stops being read (backpressure without a queue):
///
///   start -> on_start -> do_read -> on_read -> do_write -> on_write -> do_read ...
///     peer FIN:      answering_fin: our FIN -> close            (half-close honoured)
///     drain():       finish the echo in progress -> our FIN -> discard until the peer's FIN
///     expire():      idle or write timeout passed -> close
///     step plan:     at open, after each read, before each write and read, at the peer's
///                    FIN, at its own deadline: delay, split, insert, hold, or end (FIN/RST)
///
/// `Derived` supplies the stream (Beast's advanced_server_flex shape: the state machine is
/// the base, each session kind only brings its stream). It provides, all called on the
/// session's executor, each starting at most one operation:
///   executor_type, get_executor()
///   stream_start(self)             opening step (TLS handshake); completes with on_start
///   stream_read(self, eager)       one read; completes with on_read(ec, n, self), the bytes
///                                  at stream_data() until stream_release()
///   stream_write(data, n, self)    writes all n bytes; completes with on_write(ec, written, self)
///   stream_shutdown(self)          sends our FIN (or close_notify); completes with on_shutdown
///   stream_cancel()                aborts a pending read
///   stream_close(), stream_reset() close now, gracefully or with an RST
///   stream_unsent()                bytes written but not yet taken by the peer (0 if unknown)
/// and may provide
///   stream_echo(n, self)           writes back the n bytes of the last read wherever they
///                                  are (a pipe); completes with on_write like stream_write
/// A supplier may complete an operation inline (a TCP shutdown is synchronous); reads and
/// writes that find the socket ready complete inline too, and the state machine's next step
/// is always a new operation, so the chain never recurses without bound: a read completes
/// through the executor.
template <class Derived>
class echo_session : public session_base {
 public:
  void start() final;
  void drain() final;
  void close() final;
  void expire() final;
  std::optional<connection_record> record() const final;
  void refresh_faults() final;

  /// Debug logging and connection records only: what the close event reports (peer, bytes, duration). Set
  /// before start().
  void set_trace(std::unique_ptr<session_trace> trace) noexcept { trace_ = std::move(trace); }
  /// What the session does with what it reads (echo by default). Set before start().
  void set_service(service_kind service) noexcept { service_ = service; }
  /// Whether a PROXY protocol header must come first (off by default). Set before start().
  void set_proxy(proxy_protocol proxy) noexcept { proxy_ = proxy; }

  /// What the faults did to this connection so far (see fault_report.hpp), in the order
  /// of the fault set; empty when none did. On the session's executor only: read it from
  /// the session's own close path.
  std::vector<fault_effect> fault_effects() const;

 protected:
  using self_ptr = std::shared_ptr<Derived>;

  echo_session(std::shared_ptr<session_context> context, std::uint64_t id) noexcept;
  ~echo_session() override;

  // Completions from the stream supplier, on the session's executor. The echo loop hands
  // one owning pointer from step to step (moved into each operation and out again) instead
  // of taking a new one per operation: no atomic reference-count traffic on the hot path.
  void on_start(const boost::system::error_code& ec, self_ptr self);
  void on_read(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  void on_write(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  void on_shutdown(const boost::system::error_code& ec, self_ptr self);

  session_state state() const noexcept { return state_; }
  /// Whether the bytes of the next read may bypass user space (a pipe, see stream_session):
  /// not when a step plan must see them, nor for a service other than echo. On the
  /// session's executor only.
  bool may_splice() const noexcept { return !plan_ && service_ == service_kind::echo; }

 private:
  // Only sessions with a step plan pay for this: the plan, its timer, and where the echo of
  // the current read stands.
  struct planned;

  Derived& stream() noexcept { return static_cast<Derived&>(*this); }
  /// The admitting listener's counters: bytes and ends are counted per listener only.
  listener_stats& traffic() const noexcept { return context().listeners[listener_index()]; }
  self_ptr self() { return std::static_pointer_cast<Derived>(shared_from_this()); }

  void do_read(self_ptr self);
  void on_discarded(self_ptr self);
  void do_proxy_header(std::unique_ptr<proxy_reader> reader, self_ptr self);
  void on_proxy_header(const proxy_result& header);
  void do_generate(self_ptr self);
  void do_write(std::size_t n, self_ptr self);
  void enter_writing() noexcept;
  void do_planned_step(const step& s, std::size_t write_size, self_ptr self);
  void do_next_planned_write(self_ptr self);
  void on_delay(self_ptr self);
  void do_planned_resume(self_ptr self);
  void on_planned_write(std::size_t n, self_ptr self);
  void do_echo_done(self_ptr self);
  void do_gate(const step& s, self_ptr self);
  void do_planned_read(self_ptr self);
  void on_wake(const boost::system::error_code& ec);
  void do_peer_fin(self_ptr self);
  /// What ends a hold that has a timer: ask the plan again before reading, or answer the
  /// peer's FIN.
  enum class after_hold : std::uint8_t { nothing, ask_again, answer_fin };
  void do_hold(after_hold next, std::chrono::nanoseconds delay, self_ptr self);
  void on_hold_end(const boost::system::error_code& ec, self_ptr self);
  void install_fault_plan(std::optional<boost::asio::ip::address> peer);
  void end_planned(step::kind what, self_ptr self);
  void on_drain();
  void do_finish(end_reason why, self_ptr self);
  void do_discard(self_ptr self);
  void on_discard(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  void end(const boost::system::error_code& ec, const char* step);
  void do_close(end_reason why);
  void log_close(end_reason why) const noexcept;
  connection_record make_record(std::chrono::steady_clock::time_point until) const;
  void touch() noexcept;
  void arm_write_deadline() noexcept;

  /// Which limit the deadline stands for: no progress at all, or an echo the peer has not
  /// taken (while writing, or still in our send queue after the write completed).
  enum class deadline_kind : std::uint8_t { idle, echo };

  std::unique_ptr<planned> plan_;
  std::unique_ptr<session_trace> trace_;  ///< null unless debug logging was on at accept
  session_state state_ = session_state::created;
  end_reason reason_ = end_reason::none;  ///< why we are finishing or lingering
  deadline_kind armed_ = deadline_kind::idle;
  service_kind service_ = service_kind::echo;  // these two fit in the padding above: no memory
  proxy_protocol proxy_ = proxy_protocol::off;
  std::uint16_t chargen_offset_ = 0;  ///< where the next chargen write starts in the period
};

template <class Derived>
struct echo_session<Derived>::planned {
  using timer_type = boost::asio::basic_waitable_timer<std::chrono::steady_clock,
                                                       boost::asio::wait_traits<std::chrono::steady_clock>,
                                                       typename Derived::executor_type>;

  planned(std::unique_ptr<step_plan> p, typename Derived::executor_type ex)
      : plan(std::move(p)), timer(ex), wake(std::move(ex)) {}

  std::unique_ptr<step_plan> plan;
  timer_type timer;  ///< a step's delay, or a timed hold
  timer_type wake;   ///< the plan's own deadline, armed while a read waits
  std::optional<std::chrono::steady_clock::time_point> wake_armed;
  std::size_t length = 0;             ///< bytes of the current read (0: none held)
  std::size_t offset = 0;             ///< how many of them are echoed
  std::size_t chunk = 0;              ///< the write the plan chose, waiting out its delay; 0: none yet
  const std::byte* insert = nullptr;  ///< bytes of the plan's own to write next
  std::size_t insert_size = 0;
  bool inserting = false;    ///< the write in flight is the plan's own bytes
  bool woken = false;        ///< the wake timer cancelled the read in flight
  bool close_after = false;  ///< end_close: after our FIN, drop what arrived and close
  /// An untimed hold has no operation in flight to own the session: it owns itself until a
  /// drain or a close ends the hold.
  std::shared_ptr<Derived> held;
  after_hold resume = after_hold::nothing;
};

template <class Derived>
echo_session<Derived>::echo_session(std::shared_ptr<session_context> context, std::uint64_t id) noexcept
    : session_base(std::move(context), id) {
  stats::add(this->context().counters.active);
}

template <class Derived>
echo_session<Derived>::~echo_session() {
  auto& counters = context().counters;
  counters.active.fetch_sub(1, std::memory_order_relaxed);
  stats::add(counters.closed);
  // Once per session, here rather than in do_close: a session never started (shutdown
  // began as it was admitted) is destroyed without closing and counts as shut down.
  const auto why = reason_ == end_reason::none ? end_reason::shutdown : reason_;
  stats::add(traffic().closed_by[static_cast<std::size_t>(why)]);
  if (trace_ && context().history.enabled()) {
    // A destructor must not throw: a record lost to a failed allocation is not worth a
    // terminated process.
    try {
      const auto until = trace_->closed != std::chrono::steady_clock::time_point{}
                             ? trace_->closed
                             : std::chrono::steady_clock::now();
      auto r = make_record(until);
      r.end = to_string(why);
      // No handler of ours can run any more: reading the fault account here is as safe as
      // on the session's executor.
      r.faults = fault_effects();
      r.faults_known = true;
      context().history.add(std::move(r));
    } catch (...) {
    }
  }
}

template <class Derived>
connection_record echo_session<Derived>::make_record(std::chrono::steady_clock::time_point until) const {
  connection_record r;
  r.id = id();
  const auto& names = context().listener_names;
  if (listener_index() < names.size()) r.listener = names[listener_index()];
  r.peer = trace_->peer;
  if (trace_->proxy_known.load(std::memory_order_acquire)) r.proxy_source = trace_->proxy_source;
  r.bytes_received = trace_->bytes_in.load(std::memory_order_relaxed);
  r.bytes_sent = trace_->bytes_out.load(std::memory_order_relaxed);
  r.started = trace_->started;
  r.duration = until - trace_->opened;
  return r;
}

template <class Derived>
std::optional<connection_record> echo_session<Derived>::record() const {
  // Any thread: reads only what session_trace lets other threads read.
  if (!trace_) return std::nullopt;
  return make_record(std::chrono::steady_clock::now());
}

template <class Derived>
std::vector<fault_effect> echo_session<Derived>::fault_effects() const {
  if (!plan_) return {};
  return plan_->plan->effects();
}

template <class Derived>
void echo_session<Derived>::install_fault_plan(std::optional<boost::asio::ip::address> peer) {
  auto& engine = context().faults;
  if constexpr (requires(Derived & d) { d.stream_handle(); }) {
    if (!peer && engine.active()->needs_peer) peer = peer_address(stream().stream_handle());
  }
  auto p = fault_plan::make(engine, {id(), listener_index(), peer});
  if (!p) return;
  if constexpr (requires(Derived & d) { d.stream_handle(); }) {
    if (const int size = p->receive_buffer(); size > 0)
      ::setsockopt(stream().stream_handle(), SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  }
  plan_ = std::make_unique<planned>(std::move(p), stream().get_executor());
}

template <class Derived>
void echo_session<Derived>::refresh_faults() {
  // Sessions opened while no fault applied to them have no plan, and so no per-step check
  // either: a change of the fault set reaches them through this call instead.
  boost::asio::dispatch(stream().get_executor(), [s = self()] {
    if (s->plan_ || s->service_ != service_kind::echo) return;
    if (s->state_ != session_state::reading && s->state_ != session_state::writing) return;
    if (!s->context().faults.connection_faults()) return;
    s->install_fault_plan(std::nullopt);
  });
}

template <class Derived>
void echo_session<Derived>::start() {
  // The accept handler runs on the listener's executor; everything after this runs on the
  // session's own (a strand when several threads run).
  boost::asio::dispatch(stream().get_executor(), [s = self()]() mutable {
    if (s->state_ != session_state::created) return;  // closed before it started
    // Step plans shape echoes; the other services have none to shape. A PROXY listener's
    // faults wait for the header: match= is about the client behind the proxy.
    if (s->service_ == service_kind::echo) {
      if (const auto& make_plan = s->context().plans; make_plan) {
        if (auto p = make_plan(s->id()))
          s->plan_ = std::make_unique<planned>(std::move(p), s->stream().get_executor());
      } else if (s->proxy_ == proxy_protocol::off && s->context().faults.connection_faults()) [[unlikely]] {
        s->install_fault_plan(std::nullopt);
      }
    }
    s->touch();
    s->state_ = session_state::starting;
    auto* p = s.get();
    if (p->proxy_ != proxy_protocol::off) {
      // The reader (and its buffer) lives only in the handlers of this phase: a session
      // that has its header holds nothing for it.
      auto reader = std::make_unique<proxy_reader>(p->proxy_);
      p->do_proxy_header(std::move(reader), std::move(s));
      return;
    }
    p->stream().stream_start(std::move(s));
  });
}

template <class Derived>
void echo_session<Derived>::drain() {
  boost::asio::dispatch(stream().get_executor(), [s = self()] { s->on_drain(); });
}

template <class Derived>
void echo_session<Derived>::close() {
  boost::asio::dispatch(stream().get_executor(), [s = self()] {
    if (s->state_ == session_state::closed) return;
    stats::add(s->context().counters.forced_closes);
    s->do_close(end_reason::forced);
  });
}

template <class Derived>
void echo_session<Derived>::expire() {
  boost::asio::dispatch(stream().get_executor(), [s = self()] {
    const auto due = s->deadline();
    if (s->state_ == session_state::closed || due == 0 || s->context().now() < due) return;
    bool writing = s->state_ == session_state::writing || s->state_ == session_state::drain_writing;
    if (!writing && s->armed_ == deadline_kind::echo) {
      // Our last write completed because the kernel took the echo, not because the peer
      // read it: only the unsent queue tells whether the peer has taken it since.
      if (s->stream().stream_unsent() > 0) {
        writing = true;
      } else {
        // It has: from here on only the idle limit applies, counted from that write.
        auto& ctx = s->context();
        s->armed_ = deadline_kind::idle;
        const auto idle_due = ctx.idle_ticks == 0 ? 0 : due - ctx.write_ticks + ctx.idle_ticks;
        if (idle_due == 0 || idle_due > ctx.now()) {
          s->set_deadline(idle_due);
          return;
        }
      }
    }
    auto& counters = s->context().counters;
    stats::add(writing ? counters.write_timeouts : counters.idle_timeouts);
    s->do_close(writing ? end_reason::write_timeout : end_reason::idle_timeout);
  });
}

template <class Derived>
void echo_session<Derived>::touch() noexcept {
  auto& ctx = context();
  armed_ = deadline_kind::idle;
  set_deadline(ctx.deadline_in(ctx.idle_ticks));
}

template <class Derived>
void echo_session<Derived>::arm_write_deadline() noexcept {
  auto& ctx = context();
  armed_ = ctx.write_first ? deadline_kind::echo : deadline_kind::idle;
  set_deadline(ctx.deadline_in(ctx.unsent_ticks));
}

template <class Derived>
void echo_session<Derived>::do_proxy_header(std::unique_ptr<proxy_reader> reader, self_ptr self) {
  if constexpr (requires(Derived & d) { d.stream_handle(); }) {
    using status = proxy_reader::status;
    if (state_ == session_state::closed) return;
    switch (reader->read(stream().stream_handle())) {
      case status::need_more:
        // Bounded like any wait on the peer: the idle deadline set at start still runs.
        stream().stream_wait_readable(
            [r = std::move(reader), s = std::move(self)](const boost::system::error_code& ec) mutable {
              auto* p = s.get();
              if (ec) {
                if (p->state_ != session_state::closed) p->end(ec, "proxy header");
                return;
              }
              p->do_proxy_header(std::move(r), std::move(s));
            });
        return;
      case status::done:
        on_proxy_header(reader->header());
        if (service_ == service_kind::echo && !plan_ && context().faults.connection_faults()) {
          const auto& h = reader->header();
          install_fault_plan(h.addresses ? std::optional(h.addresses->source.address()) : std::nullopt);
        }
        reader.reset();
        touch();
        stream().stream_start(std::move(self));
        return;
      case status::invalid: {
        const auto why = reader->header().reason;
        static_assert(static_cast<std::size_t>(proxy_error::bad_length) <
                      std::tuple_size_v<decltype(listener_stats::proxy_errors)>);
        stats::add(traffic().proxy_errors[static_cast<std::size_t>(why)]);
        static log_limit limit(log_level::info, "proxy_header_refused");
        log_event(limit, "PROXY header refused", {{"conn", id()}, {"reason", to_string(why)}});
        do_close(end_reason::proxy_header);
        return;
      }
      case status::eof: end(boost::asio::error::eof, "proxy header"); return;
      case status::error: end(reader->error(), "proxy header"); return;
    }
  } else {
    assert(false && "this stream supplies no socket for a PROXY header");
    (void)reader;
    do_close(end_reason::error);
  }
}

template <class Derived>
void echo_session<Derived>::on_proxy_header(const proxy_result& header) {
  // The client behind the proxy is who the connection's records name; LOCAL (a proxy's
  // own health check) and address-less families leave the socket's peer in place.
  if (!trace_ || !header.addresses) return;
  trace_->proxy_source = endpoint_text(header.addresses->source);
  trace_->proxy_known.store(true, std::memory_order_release);
  log_event(
      log_level::debug, "proxy_header", "PROXY header",
      {{"conn", id()}, {"peer", trace_->proxy_source}, {"proxy", trace_->peer}, {"version", header.version}});
}

template <class Derived>
void echo_session<Derived>::on_start(const boost::system::error_code& ec, self_ptr self) {
  if (state_ == session_state::closed) return;
  assert(state_ == session_state::starting);
  if (ec) {
    end(ec, "start");
    return;
  }
  if (service_ == service_kind::chargen) [[unlikely]] {
    do_generate(std::move(self));
    return;
  }
  if (plan_) {
    do_gate(plan_->plan->on_start(), std::move(self));
    return;
  }
  do_read(std::move(self));
}

template <class Derived>
void echo_session<Derived>::do_generate(self_ptr self) {
  // RFC 864 over TCP: the pattern, as fast as the peer takes it; what the peer sends is
  // never read (the kernel's receive buffer bounds it). The bytes come from one shared
  // read-only block, so a chargen session holds no buffer either.
  enter_writing();
  const auto block = chargen_pattern::block();
  const std::size_t n = std::min<std::size_t>(context().read_size(), chargen_pattern::block_extra);
  stream().stream_write(block.data() + chargen_offset_, n, std::move(self));
}

template <class Derived>
void echo_session<Derived>::do_read(self_ptr self) {
  state_ = session_state::reading;
  // Discard writes nothing back, so nothing tells the read op when the peer paused: let it
  // try the next read at once, as Asio's own reads do.
  stream().stream_read(std::move(self), service_ == service_kind::discard);
}

template <class Derived>
void echo_session<Derived>::on_read(const boost::system::error_code& ec, std::size_t n, self_ptr self) {
  namespace error = boost::asio::error;
  if (state_ == session_state::closed) {
    stream().stream_release();
    return;
  }
  if (state_ == session_state::lingering) {
    on_discard(ec, n, std::move(self));
    return;
  }
  assert(state_ == session_state::reading || state_ == session_state::drain_reading);
  if (!ec) {
    stats::add(traffic().bytes_received, n);
    if (trace_) session_trace::add(trace_->bytes_in, n);
    if (service_ == service_kind::discard) [[unlikely]] {
      on_discarded(std::move(self));
      return;
    }
    bool piped = false;
    if constexpr (requires(Derived & d) { d.stream_piped(); }) piped = stream().stream_piped();
    // A plan that arrived while a spliced read was in flight (refresh_faults) starts with
    // the next read: these bytes never entered user space, so they are echoed as they are.
    if (plan_ && !piped) {
      plan_->woken = false;
      plan_->length = n;
      plan_->offset = 0;
      do_planned_step(plan_->plan->after_read({stream().stream_data(), n}), 0, std::move(self));
      return;
    }
    do_write(n, std::move(self));
    return;
  }
  stream().stream_release();
  if (ec == error::eof) {
    if (plan_) {
      do_peer_fin(std::move(self));
      return;
    }
    // Everything read so far has been echoed (a read only starts once the previous write
    // finished), so the peer's half-close can be answered with our own FIN right away.
    state_ = session_state::answering_fin;
    stream().stream_shutdown(std::move(self));
    return;
  }
  if (ec == error::operation_aborted && state_ == session_state::drain_reading) {
    do_finish(end_reason::shutdown, std::move(self));
    return;
  }
  if (ec == error::operation_aborted && plan_ && plan_->woken) {
    plan_->woken = false;
    plan_->length = 0;
    do_gate(plan_->plan->on_wake(), std::move(self));
    return;
  }
  end(ec, "read");
}

template <class Derived>
void echo_session<Derived>::on_discarded(self_ptr self) {
  stream().stream_release();
  touch();  // reading is all the progress a discard session makes
  if (state_ == session_state::drain_reading) {
    do_finish(end_reason::shutdown, std::move(self));
    return;
  }
  do_read(std::move(self));
}

template <class Derived>
void echo_session<Derived>::enter_writing() noexcept {
  state_ = state_ == session_state::drain_reading || state_ == session_state::drain_writing
               ? session_state::drain_writing
               : session_state::writing;
  arm_write_deadline();
}

template <class Derived>
void echo_session<Derived>::do_write(std::size_t n, self_ptr self) {
  enter_writing();
  if constexpr (requires(Derived & d) { d.stream_echo(n, std::move(self)); }) {
    stream().stream_echo(n, std::move(self));
  } else {
    stream().stream_write(stream().stream_data(), n, std::move(self));
  }
}

template <class Derived>
void echo_session<Derived>::on_write(const boost::system::error_code& ec, std::size_t n, self_ptr self) {
  // Counted even when the session closed meanwhile: those bytes did leave.
  stats::add(traffic().bytes_sent, n);
  if (trace_) session_trace::add(trace_->bytes_out, n);
  if (state_ == session_state::closed) {
    stream().stream_release();
    return;
  }
  assert(state_ == session_state::writing || state_ == session_state::drain_writing);
  if (ec) {
    stream().stream_release();
    end(ec, "write");
    return;
  }
  // The peer has the write timeout to take this echo off our send queue (see expire()).
  arm_write_deadline();
  if (plan_) {
    on_planned_write(n, std::move(self));
    return;
  }
  stream().stream_release();  // the echo is out: hand the buffer to the next reader
  if (state_ == session_state::drain_writing) {
    do_finish(end_reason::shutdown, std::move(self));
    return;
  }
  if (service_ == service_kind::chargen) [[unlikely]] {
    chargen_offset_ = static_cast<std::uint16_t>((chargen_offset_ + n) % chargen_pattern::period);
    // Through the executor: writes that all complete inline would otherwise recurse.
    boost::asio::post(stream().get_executor(), [s = std::move(self)]() mutable {
      auto* p = s.get();
      if (p->state_ == session_state::writing) p->do_generate(std::move(s));
      else if (p->state_ == session_state::drain_writing) p->do_finish(end_reason::shutdown, std::move(s));
    });
    return;
  }
  do_read(std::move(self));
}

template <class Derived>
void echo_session<Derived>::do_next_planned_write(self_ptr self) {
  if (state_ == session_state::closed) {  // closed while this step was posted
    stream().stream_release();
    return;
  }
  const std::size_t pending = plan_->length - plan_->offset;
  const step s = plan_->plan->before_write(pending);
  const std::size_t size = s.bytes == 0 || s.bytes > pending ? pending : s.bytes;
  do_planned_step(s, size, std::move(self));
}

template <class Derived>
void echo_session<Derived>::end_planned(step::kind what, self_ptr self) {
  stream().stream_release();
  plan_->length = 0;
  switch (what) {
    case step::kind::end_close: plan_->close_after = true; [[fallthrough]];
    case step::kind::end_fin: do_finish(end_reason::plan_fin, std::move(self)); return;
    case step::kind::end_reset: do_close(end_reason::plan_reset); return;
    case step::kind::hold: do_hold(after_hold::nothing, {}, std::move(self)); return;
    case step::kind::go:
    case step::kind::discard:
    case step::kind::repeat: break;
  }
  assert(false && "not an end");
}

template <class Derived>
void echo_session<Derived>::do_planned_step(const step& s, std::size_t write_size, self_ptr self) {
  switch (s.what) {
    case step::kind::end_fin:
    case step::kind::end_close:
    case step::kind::end_reset:
    case step::kind::hold: end_planned(s.what, std::move(self)); return;
    case step::kind::discard:
      // Reading is all the progress a discarding session makes.
      stream().stream_release();
      plan_->length = 0;
      touch();
      do_gate(plan_->plan->before_read(), std::move(self));
      return;
    case step::kind::go:
    case step::kind::repeat: break;
  }
  enter_writing();
  if (s.data != nullptr) {
    plan_->insert = s.data;
    plan_->insert_size = s.bytes;
  } else {
    plan_->chunk = write_size;
  }
  if (s.delay.count() > 0) {
    plan_->timer.expires_after(s.delay);
    // Only do_close cancels this wait, and it closes the session too: on_delay needs no
    // error code, the state says it all.
    plan_->timer.async_wait([s = std::move(self)](const boost::system::error_code&) mutable {
      auto* p = s.get();
      p->on_delay(std::move(s));
    });
    return;
  }
  do_planned_resume(std::move(self));
}

template <class Derived>
void echo_session<Derived>::on_delay(self_ptr self) {
  if (state_ == session_state::closed) {
    stream().stream_release();
    return;
  }
  do_planned_resume(std::move(self));
}

template <class Derived>
void echo_session<Derived>::do_planned_resume(self_ptr self) {
  if (plan_->insert != nullptr) {
    const auto* data = std::exchange(plan_->insert, nullptr);
    plan_->inserting = true;
    stream().stream_write(data, plan_->insert_size, std::move(self));
    return;
  }
  // After a read the plan has not picked a write yet: ask it now.
  if (plan_->chunk == 0) {
    do_next_planned_write(std::move(self));
    return;
  }
  stream().stream_write(stream().stream_data() + plan_->offset, plan_->chunk, std::move(self));
}

template <class Derived>
void echo_session<Derived>::on_planned_write(std::size_t n, self_ptr self) {
  if (plan_->inserting) plan_->inserting = false;
  else plan_->offset += n;
  plan_->chunk = 0;
  // Through the executor: a split echo whose writes all complete inline would otherwise
  // recurse once per piece (65,536 frames for a 64 KiB read in 1-byte writes).
  boost::asio::post(stream().get_executor(), [s = std::move(self)]() mutable {
    auto* p = s.get();
    if (p->state_ == session_state::closed) {
      p->stream().stream_release();
      return;
    }
    if (p->plan_->offset < p->plan_->length) p->do_next_planned_write(std::move(s));
    else p->do_echo_done(std::move(s));
  });
}

template <class Derived>
void echo_session<Derived>::do_echo_done(self_ptr self) {
  if (state_ == session_state::drain_writing) {
    stream().stream_release();
    do_finish(end_reason::shutdown, std::move(self));
    return;
  }
  do_gate(plan_->plan->before_read(), std::move(self));
}

template <class Derived>
void echo_session<Derived>::do_gate(const step& s, self_ptr self) {
  switch (s.what) {
    case step::kind::repeat:
      if (plan_->length == 0) break;  // nothing held to repeat
      plan_->offset = 0;
      do_next_planned_write(std::move(self));
      return;
    case step::kind::end_fin:
    case step::kind::end_close:
    case step::kind::end_reset:
    case step::kind::hold: end_planned(s.what, std::move(self)); return;
    case step::kind::go:
    case step::kind::discard: break;
  }
  if (s.data != nullptr) {  // bytes of the plan's own: then back here
    do_planned_step(s, 0, std::move(self));
    return;
  }
  // The read is echoed and the plan repeats nothing more: the buffer goes back.
  stream().stream_release();
  plan_->length = 0;
  plan_->offset = 0;
  if (s.delay.count() > 0) {
    do_hold(after_hold::ask_again, s.delay, std::move(self));
    return;
  }
  do_planned_read(std::move(self));
}

template <class Derived>
void echo_session<Derived>::do_planned_read(self_ptr self) {
  if (state_ == session_state::drain_writing || state_ == session_state::drain_reading) {
    do_finish(end_reason::shutdown, std::move(self));
    return;
  }
  // The plan's deadline interrupts the read: a client waiting for its echo must see the
  // FIN or RST at the time asked, not at its next write.
  if (const auto at = plan_->plan->wake_at(); at && at != plan_->wake_armed) {
    plan_->wake_armed = at;
    plan_->wake.expires_at(*at);
    plan_->wake.async_wait([s = self](const boost::system::error_code& ec) { s->on_wake(ec); });
  }
  do_read(std::move(self));
}

template <class Derived>
void echo_session<Derived>::on_wake(const boost::system::error_code& ec) {
  if (ec == boost::asio::error::operation_aborted || state_ != session_state::reading) return;
  // on_read sees the read aborted and asks the plan; a read that completed first is echoed
  // as usual, and the plan's next step sees the deadline passed.
  plan_->woken = true;
  stream().stream_cancel();
}

template <class Derived>
void echo_session<Derived>::do_peer_fin(self_ptr self) {
  const step s = plan_->plan->on_peer_fin();
  if (s.what == step::kind::hold) {
    do_hold(after_hold::nothing, {}, std::move(self));
    return;
  }
  if (s.what == step::kind::end_reset) {
    do_close(end_reason::plan_reset);
    return;
  }
  if (s.delay.count() > 0) {
    do_hold(after_hold::answer_fin, s.delay, std::move(self));
    return;
  }
  state_ = session_state::answering_fin;
  stream().stream_shutdown(std::move(self));
}

template <class Derived>
void echo_session<Derived>::do_hold(after_hold next, std::chrono::nanoseconds delay, self_ptr self) {
  // A hold is on purpose, not a stalled peer: the write timeout does not apply, and the
  // idle timeout counts from the hold's start, so at its default the client's own timeout
  // fires first; a drain ends the hold at once (on_drain).
  state_ = session_state::holding;
  plan_->resume = next;
  touch();
  if (next == after_hold::nothing) {  // nothing in flight: only a drain or close ends it
    plan_->held = std::move(self);
    return;
  }
  plan_->timer.expires_after(delay);
  plan_->timer.async_wait([s = std::move(self)](const boost::system::error_code& ec) mutable {
    auto* p = s.get();
    p->on_hold_end(ec, std::move(s));
  });
}

template <class Derived>
void echo_session<Derived>::on_hold_end(const boost::system::error_code& ec, self_ptr self) {
  if (ec == boost::asio::error::operation_aborted || state_ != session_state::holding) return;
  switch (plan_->resume) {
    case after_hold::ask_again: do_gate(plan_->plan->before_read(), std::move(self)); return;
    case after_hold::answer_fin:
      state_ = session_state::answering_fin;
      stream().stream_shutdown(std::move(self));
      return;
    case after_hold::nothing: return;
  }
}

template <class Derived>
void echo_session<Derived>::on_drain() {
  switch (state_) {
    case session_state::created:
    case session_state::starting: do_close(end_reason::shutdown); break;
    case session_state::reading:
      // Abort the pending read; on_read sees operation_aborted and finishes. A read that
      // already completed still delivers its bytes to on_read, which echoes them first.
      state_ = session_state::drain_reading;
      stream().stream_cancel();
      break;
    case session_state::writing:  // on_write finishes the echo, then finishes
      state_ = session_state::drain_writing;
      break;
    case session_state::holding: {
      // A hold has nothing in flight that a cancel would end: finish from here. A timed
      // hold's wait sees the state changed and does nothing.
      plan_->timer.cancel();
      auto keep = std::exchange(plan_->held, nullptr);
      do_finish(end_reason::shutdown, self());
      break;
    }
    case session_state::drain_reading:
    case session_state::drain_writing:
    case session_state::answering_fin:
    case session_state::finishing:
    case session_state::lingering:
    case session_state::closed: break;
  }
}

template <class Derived>
void echo_session<Derived>::do_finish(end_reason why, self_ptr self) {
  // Our FIN tells the peer the echo stream is over. Closing at once would turn any bytes
  // still in flight towards us into an RST that can destroy echoed data the peer has not
  // read yet, so after the FIN read and discard until the peer's (the shutdown deadline or
  // the idle timeout bounds the wait).
  state_ = session_state::finishing;
  reason_ = why;
  stream().stream_shutdown(std::move(self));
}

template <class Derived>
void echo_session<Derived>::on_shutdown(const boost::system::error_code& ec, self_ptr self) {
  if (state_ == session_state::closed) return;
  if (state_ == session_state::answering_fin) {
    // The peer is done and has everything: whether our FIN made it is its business.
    do_close(end_reason::eof);
    return;
  }
  assert(state_ == session_state::finishing);
  if (ec) {
    end(ec, "shutdown");
    return;
  }
  if (plan_ && plan_->close_after) {
    // close-after: the whole connection ends now, as a server that closes after its last
    // write. What the client sent before our FIN is dropped first so that the close sends
    // a FIN, not an RST; bytes it sends later meet an RST.
    if constexpr (requires(Derived & d) { d.stream_handle(); }) drop_received(stream().stream_handle());
    do_close(reason_);
    return;
  }
  state_ = session_state::lingering;
  do_discard(std::move(self));
}

template <class Derived>
void echo_session<Derived>::do_discard(self_ptr self) {
  // Eager: these reads write nothing back, so nothing else would notice an RST that came in
  // with the last bytes (see pooled_read_op).
  stream().stream_read(std::move(self), true);
}

template <class Derived>
void echo_session<Derived>::on_discard(const boost::system::error_code& ec, std::size_t n, self_ptr self) {
  stream().stream_release();
  if (!ec) {
    stats::add(traffic().bytes_received, n);
    if (trace_) session_trace::add(trace_->bytes_in, n);
    do_discard(std::move(self));
    return;
  }
  if (ec == boost::asio::error::eof) {
    do_close(reason_);
    return;
  }
  end(ec, "linger");
}

template <class Derived>
void echo_session<Derived>::end(const boost::system::error_code& ec, const char* step) {
  if (is_expected_end(ec)) {  // the close event says it: reason=reset
    do_close(end_reason::reset);
    return;
  }
  stats::add(context().counters.session_errors);
  static log_limit limit(log_level::warn, "conn_error");
  log_event(limit, "connection error", {{"conn", id()}, {"step", step}, {"error", ec.message()}});
  do_close(end_reason::error);
}

template <class Derived>
void echo_session<Derived>::do_close(end_reason why) {
  if (state_ == session_state::closed) return;
  if (logger::instance().enabled(log_level::debug)) log_close(why);
  state_ = session_state::closed;
  reason_ = why;
  set_deadline(0);
  if (trace_) trace_->closed = std::chrono::steady_clock::now();
  // Released as this returns: the session may go with it.
  std::shared_ptr<Derived> held;
  if (plan_) {
    plan_->timer.cancel();
    plan_->wake.cancel();
    held = std::move(plan_->held);
  }
  // A pending operation is aborted and still completes; the buffer, if any, goes back then.
  if (why == end_reason::plan_reset) stream().stream_reset();
  else stream().stream_close();
}

template <class Derived>
void echo_session<Derived>::log_close(end_reason why) const noexcept {
  // Debug lines come by the thousand in a reset storm: bounded, with the count of the rest.
  static log_limit limit(log_level::debug, "conn_close", 100, std::chrono::milliseconds(10));
  if (!trace_) {  // neither debug logging nor records were on at accept
    log_event(limit, "connection closed",
              {{"conn", id()}, {"state", to_string(state_)}, {"reason", to_string(why)}});
    return;
  }
  // What the faults did, on the same line: a seeded run can be compared line by line.
  std::string faults;
  for (const auto& e : fault_effects())
    faults += fmt::format("{}{} ({})", faults.empty() ? "" : "; ", e.fault, e.what);
  // Bytes out as of now: a write the close aborts may still report a few more.
  log_event(limit, "connection closed",
            {{"conn", id()},
             {"peer", trace_->client()},
             {"faults", faults},
             {"state", to_string(state_)},
             {"reason", to_string(why)},
             {"bytes_in", trace_->bytes_in.load(std::memory_order_relaxed)},
             {"bytes_out", trace_->bytes_out.load(std::memory_order_relaxed)},
             {"duration_ms", std::chrono::steady_clock::now() - trace_->opened}});
}

}  // namespace echo::detail
