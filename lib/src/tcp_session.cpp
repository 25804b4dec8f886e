#include "echo/tcp_session.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>

#include "echo/expected_end.hpp"
#include "echo/logger.hpp"
#include "echo/session_context.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace echo {

template <class Executor>
tcp_session<Executor>::tcp_session(socket_type socket, std::shared_ptr<session_context> context,
                                   std::uint64_t id)
    : session_base(std::move(context), id), socket_(std::move(socket)) {
  stats::add(this->context().counters.active);
}

template <class Executor>
tcp_session<Executor>::~tcp_session() {
  give_back_buffer();
  auto& counters = context().counters;
  counters.active.fetch_sub(1, std::memory_order_relaxed);
  stats::add(counters.closed);
  log_debug("conn={} closed", id());
}

template <class Executor>
std::shared_ptr<tcp_session<Executor>> tcp_session<Executor>::self() {
  return std::static_pointer_cast<tcp_session>(shared_from_this());
}

template <class Executor>
void tcp_session<Executor>::start() {
  // The accept handler runs on the listener's executor; everything after this runs on the
  // session's own (strand when multi-threaded). A new peer usually speaks first, so the
  // session starts busy, with a buffer and a read.
  asio::dispatch(socket_.get_executor(), [s = self()] {
    if (s->state_ != state::created) return;  // closed before it started
    s->touch();
    s->take_buffer();
    s->do_read(s);
  });
}

template <class Executor>
void tcp_session<Executor>::drain() {
  asio::dispatch(socket_.get_executor(), [s = self()] { s->on_drain(); });
}

template <class Executor>
void tcp_session<Executor>::close() {
  asio::dispatch(socket_.get_executor(), [s = self()] {
    if (s->state_ == state::closed) return;
    stats::add(s->context().counters.forced_closes);
    log_debug("conn={} closed by the server", s->id());
    s->do_close();
  });
}

template <class Executor>
void tcp_session<Executor>::expire() {
  asio::dispatch(socket_.get_executor(), [s = self()] {
    const auto due = s->deadline();
    if (s->state_ == state::closed || due == 0 || s->context().now() < due) return;
    const bool writing = s->state_ == state::writing;
    stats::add(writing ? s->context().counters.write_timeouts : s->context().counters.idle_timeouts);
    log_debug("conn={} {} timeout", s->id(), writing ? "write" : "idle");
    s->do_close();
  });
}

template <class Executor>
void tcp_session<Executor>::park() {
  asio::dispatch(socket_.get_executor(), [s = self()] {
    if (s->state_ != state::reading || s->parking_ || s->draining_) return;
    if (s->last_active() + session_context::park_ticks > s->context().now()) return;
    // The read is aborted (a read that already completed still delivers its bytes) and
    // on_read switches to waiting without a buffer.
    s->parking_ = true;
    error_code ignored;
    s->socket_.cancel(ignored);
  });
}

template <class Executor>
void tcp_session<Executor>::take_buffer() {
  if (buffer_ == nullptr) buffer_ = buffer_pool::acquire(context().buffer_size);
}

template <class Executor>
void tcp_session<Executor>::give_back_buffer() noexcept {
  buffer_pool::release(buffer_, context().buffer_size);
  buffer_ = nullptr;
}

template <class Executor>
void tcp_session<Executor>::touch() noexcept {
  auto& ctx = context();
  set_active(ctx.now());
  set_deadline(ctx.deadline_in(ctx.idle_ticks));
}

template <class Executor>
void tcp_session<Executor>::do_wait() {
  state_ = state::waiting;
  set_phase(phase::other);
  socket_.async_wait(asio::socket_base::wait_read, [s = self()](const error_code& ec) { s->on_wait(ec); });
}

template <class Executor>
void tcp_session<Executor>::on_wait(const error_code& ec) {
  if (state_ == state::closed) return;
  assert(state_ == state::waiting);
  if (!ec) {
    take_buffer();
    do_read(self());  // Asio reads speculatively first: the data is there, no extra wait
    return;
  }
  if (ec == asio::error::operation_aborted && draining_) {
    do_linger();
    return;
  }
  end(ec, "wait");
}

template <class Executor>
void tcp_session<Executor>::do_read(self_ptr self) {
  state_ = state::reading;
  set_phase(phase::reading);
  socket_.async_read_some(asio::buffer(buffer_, context().buffer_size),
                          [this, s = std::move(self)](const error_code& ec, std::size_t n) mutable {
                            on_read(ec, n, std::move(s));
                          });
}

template <class Executor>
void tcp_session<Executor>::on_read(const error_code& ec, std::size_t n, self_ptr self) {
  if (state_ == state::closed) return;
  assert(state_ == state::reading);
  parking_ = parking_ && ec == asio::error::operation_aborted;
  if (!ec) {
    set_active(context().now());  // do_write sets the deadline
    stats::add(context().counters.bytes_received, n);
    do_write(n, std::move(self));
    return;
  }
  if (ec == asio::error::eof) {
    // Everything read so far has been echoed (a read only starts once the previous write
    // finished), so the peer's half-close can be answered with our own FIN right away.
    log_debug("conn={} peer finished sending", id());
    error_code ignored;
    socket_.shutdown(asio::socket_base::shutdown_send, ignored);
    do_close();
    return;
  }
  if (ec == asio::error::operation_aborted && draining_) {
    parking_ = false;
    do_linger();
    return;
  }
  if (parking_) {
    parking_ = false;
    stats::add(context().counters.idle_parks);
    give_back_buffer();
    do_wait();
    return;
  }
  end(ec, "read");
}

template <class Executor>
void tcp_session<Executor>::do_write(std::size_t n, self_ptr self) {
  state_ = state::writing;
  set_phase(phase::writing);
  auto& ctx = context();
  // A stalled write is no progress either way, so the idle limit applies too.
  const auto write_due = ctx.deadline_in(ctx.write_ticks);
  const auto idle_due = ctx.deadline_in(ctx.idle_ticks);
  set_deadline(write_due == 0 ? idle_due : idle_due == 0 ? write_due : std::min(write_due, idle_due));
  // The peer's receive window almost always has room: send right here and skip the
  // scheduler round trip an async_write costs even when it completes at once. Only what
  // does not fit goes through async_write, whose completion then carries the backpressure.
  const ssize_t sent = ::send(socket_.native_handle(), buffer_, n, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent == static_cast<ssize_t>(n)) {
    on_write({}, n, std::move(self));
    return;
  }
  if (sent < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    on_write(error_code(errno, boost::system::system_category()), 0, std::move(self));
    return;
  }
  const auto done = sent > 0 ? static_cast<std::size_t>(sent) : 0;
  if (done > 0) stats::add(context().counters.bytes_sent, done);
  asio::async_write(socket_, asio::buffer(buffer_ + done, n - done),
                    [this, s = std::move(self)](const error_code& ec, std::size_t rest) mutable {
                      on_write(ec, rest, std::move(s));
                    });
}

template <class Executor>
void tcp_session<Executor>::on_write(const error_code& ec, std::size_t n, self_ptr self) {
  if (state_ == state::closed) return;
  assert(state_ == state::writing);
  stats::add(context().counters.bytes_sent, n);
  if (ec) {
    end(ec, "write");
    return;
  }
  touch();
  if (draining_) {
    do_linger();
    return;
  }
  do_read(std::move(self));
}

template <class Executor>
void tcp_session<Executor>::on_drain() {
  if (draining_) return;
  draining_ = true;
  error_code ignored;
  switch (state_) {
    case state::created:
      do_close();
      break;
    case state::waiting:
    case state::reading:
      // Nothing is held: abort the wait or read; its handler sees operation_aborted and
      // lingers. A read that already completed still delivers its bytes to on_read, which
      // echoes them first.
      socket_.cancel(ignored);
      break;
    case state::writing:  // on_write finishes the echo, then lingers
    case state::lingering:
    case state::closed:
      break;
  }
}

template <class Executor>
void tcp_session<Executor>::do_linger() {
  // Our FIN tells the peer the echo stream is over. Closing at once would turn any bytes
  // still in flight towards us into an RST that can destroy echoed data the peer has not
  // read yet, so read and discard until the peer's FIN (the server's shutdown deadline
  // bounds the wait).
  state_ = state::lingering;
  set_phase(phase::other);
  error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) {
    end(ec, "shutdown");
    return;
  }
  take_buffer();
  socket_.async_read_some(asio::buffer(buffer_, context().buffer_size),
                          [s = self()](const error_code& e, std::size_t n) { s->on_linger(e, n); });
}

template <class Executor>
void tcp_session<Executor>::on_linger(const error_code& ec, std::size_t n) {
  if (state_ == state::closed) return;
  if (!ec) {
    stats::add(context().counters.bytes_received, n);
    socket_.async_read_some(asio::buffer(buffer_, context().buffer_size),
                            [s = self()](const error_code& e, std::size_t m) { s->on_linger(e, m); });
    return;
  }
  if (ec == asio::error::eof) {
    do_close();
    return;
  }
  end(ec, "linger");
}

template <class Executor>
void tcp_session<Executor>::end(const error_code& ec, const char* step) {
  if (is_expected_end(ec)) {
    log_debug("conn={} ended during {}: {}", id(), step, ec.message());
  } else {
    stats::add(context().counters.session_errors);
    log_warn("conn={} {} failed: {}", id(), step, ec.message());
  }
  do_close();
}

template <class Executor>
void tcp_session<Executor>::do_close() {
  if (state_ == state::closed) return;
  state_ = state::closed;
  set_phase(phase::other);
  set_deadline(0);
  // The buffer stays until the destructor: an aborted operation may still hold it.
  error_code ignored;
  socket_.close(ignored);
}

template class tcp_session<asio::io_context::executor_type>;
template class tcp_session<asio::strand<asio::io_context::executor_type>>;

}  // namespace echo
