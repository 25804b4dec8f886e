#include "echo/tcp_session.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>
#include <type_traits>

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
  pooled_read_op<tcp_session>::adopt_accepted(socket_);
  stats::add(this->context().counters.active);
}

template <class Executor>
tcp_session<Executor>::~tcp_session() {
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
  // session's own (strand when multi-threaded).
  asio::dispatch(socket_.get_executor(), [s = self()]() mutable {
    if (s->state_ != state::created) return;  // closed before it started
    s->touch();
    auto* p = s.get();
    p->do_read(std::move(s));
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
void tcp_session<Executor>::touch() noexcept {
  auto& ctx = context();
  set_deadline(ctx.deadline_in(ctx.idle_ticks));
}

template <class Executor>
void tcp_session<Executor>::do_read(self_ptr self) {
  state_ = state::reading;
  read_.start(*context().reactor, socket_, context().read_size(), std::move(self));
}

template <class Executor>
void tcp_session<Executor>::on_read(const error_code& ec, std::size_t n, self_ptr self) {
  // pooled_read_op completes on the thread that ran the reactor; with several threads the
  // session's steps must still run on its strand.
  if constexpr (!std::is_same_v<Executor, asio::io_context::executor_type>) {
    if (!socket_.get_executor().running_in_this_thread()) {
      asio::dispatch(socket_.get_executor(), [ec, n, s = std::move(self)]() mutable {
        auto* p = s.get();
        p->on_read(ec, n, std::move(s));
      });
      return;
    }
  }
  if (ec || state_ == state::closed) read_.release();
  if (state_ == state::closed) return;
  if (state_ == state::lingering) {
    on_linger(ec, n, std::move(self));
    return;
  }
  assert(state_ == state::reading);
  if (!ec) {
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
    do_linger(std::move(self));
    return;
  }
  end(ec, "read");
}

template <class Executor>
void tcp_session<Executor>::do_write(std::size_t n, self_ptr self) {
  state_ = state::writing;
  auto& ctx = context();
  // A stalled write is no progress either way, so the idle limit applies too.
  const auto write_due = ctx.deadline_in(ctx.write_ticks);
  const auto idle_due = ctx.deadline_in(ctx.idle_ticks);
  set_deadline(write_due == 0 ? idle_due : idle_due == 0 ? write_due : std::min(write_due, idle_due));
  // The peer's receive window almost always has room: send right here and skip the
  // scheduler round trip an async_write costs even when it completes at once. Only what
  // does not fit goes through async_write, whose completion then carries the backpressure;
  // until then the session keeps the read buffer holding it.
  std::byte* data = read_.buffer();
  const ssize_t sent = ::send(socket_.native_handle(), data, n, MSG_DONTWAIT | MSG_NOSIGNAL);
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
  asio::async_write(socket_, asio::buffer(data + done, n - done),
                    [this, s = std::move(self)](const error_code& e, std::size_t rest) mutable {
                      on_write(e, rest, std::move(s));
                    });
}

template <class Executor>
void tcp_session<Executor>::on_write(const error_code& ec, std::size_t n, self_ptr self) {
  read_.release();  // the echo is out (or failed): hand the buffer to the next reader
  if (state_ == state::closed) return;
  assert(state_ == state::writing);
  stats::add(context().counters.bytes_sent, n);
  if (ec) {
    end(ec, "write");
    return;
  }
  touch();
  if (draining_) {
    do_linger(std::move(self));
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
    case state::reading:
      // Abort the pending read; on_read sees operation_aborted and lingers. A read that
      // already completed still delivers its bytes to on_read, which echoes them first.
      socket_.cancel(ignored);
      break;
    case state::writing:  // on_write finishes the echo, then lingers
    case state::lingering:
    case state::closed:
      break;
  }
}

template <class Executor>
void tcp_session<Executor>::do_linger(self_ptr self) {
  // Our FIN tells the peer the echo stream is over. Closing at once would turn any bytes
  // still in flight towards us into an RST that can destroy echoed data the peer has not
  // read yet, so read and discard until the peer's FIN (the server's shutdown deadline
  // bounds the wait).
  state_ = state::lingering;
  error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) {
    end(ec, "shutdown");
    return;
  }
  do_discard(std::move(self));
}

template <class Executor>
void tcp_session<Executor>::do_discard(self_ptr self) {
  // Eager: these reads write nothing back, so nothing else would notice an RST that came in
  // with the last bytes (see pooled_read_op).
  read_.start(*context().reactor, socket_, context().read_size(), std::move(self), true);
}

template <class Executor>
void tcp_session<Executor>::on_linger(const error_code& ec, std::size_t n, self_ptr self) {
  read_.release();
  if (!ec) {
    stats::add(context().counters.bytes_received, n);
    do_discard(std::move(self));
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
  set_deadline(0);
  // A pending operation is aborted and still completes; the buffer, if any, goes back then.
  error_code ignored;
  socket_.close(ignored);
}

template class tcp_session<asio::io_context::executor_type>;
template class tcp_session<asio::strand<asio::io_context::executor_type>>;

}  // namespace echo
