#include "echo/tcp_session.hpp"

#include <cassert>

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
  asio::dispatch(socket_.get_executor(), [s = self()] {
    if (s->state_ != state::created) return;  // closed before it started
    s->buffer_ = std::make_unique_for_overwrite<std::byte[]>(s->context().buffer_size);
    s->do_read();
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
void tcp_session<Executor>::do_read() {
  state_ = state::reading;
  socket_.async_read_some(asio::buffer(buffer_.get(), context().buffer_size),
                          [s = self()](const error_code& ec, std::size_t n) { s->on_read(ec, n); });
}

template <class Executor>
void tcp_session<Executor>::on_read(const error_code& ec, std::size_t n) {
  if (state_ == state::closed) return;
  assert(state_ == state::reading);
  if (!ec) {
    stats::add(context().counters.bytes_received, n);
    do_write(n);
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
    do_linger();
    return;
  }
  end(ec, "read");
}

template <class Executor>
void tcp_session<Executor>::do_write(std::size_t n) {
  state_ = state::writing;
  asio::async_write(socket_, asio::buffer(buffer_.get(), n),
                    [s = self()](const error_code& ec, std::size_t sent) { s->on_write(ec, sent); });
}

template <class Executor>
void tcp_session<Executor>::on_write(const error_code& ec, std::size_t n) {
  if (state_ == state::closed) return;
  assert(state_ == state::writing);
  stats::add(context().counters.bytes_sent, n);
  if (ec) {
    end(ec, "write");
    return;
  }
  if (draining_) {
    do_linger();
    return;
  }
  do_read();
}

template <class Executor>
void tcp_session<Executor>::on_drain() {
  if (draining_) return;
  draining_ = true;
  switch (state_) {
    case state::created:
      do_close();
      break;
    case state::reading:
      // Nothing is held: abort the read; on_read sees operation_aborted and lingers. A read
      // that already completed still delivers its bytes to on_read, which echoes them first.
      socket_.cancel();
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
  error_code ec;
  socket_.shutdown(asio::socket_base::shutdown_send, ec);
  if (ec) {
    end(ec, "shutdown");
    return;
  }
  socket_.async_read_some(asio::buffer(buffer_.get(), context().buffer_size),
                          [s = self()](const error_code& e, std::size_t n) { s->on_linger(e, n); });
}

template <class Executor>
void tcp_session<Executor>::on_linger(const error_code& ec, std::size_t n) {
  if (state_ == state::closed) return;
  if (!ec) {
    stats::add(context().counters.bytes_received, n);
    socket_.async_read_some(asio::buffer(buffer_.get(), context().buffer_size),
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
  error_code ignored;
  // The buffer stays until the destructor: an aborted operation may still hold it.
  socket_.close(ignored);
}

template class tcp_session<asio::io_context::executor_type>;
template class tcp_session<asio::strand<asio::io_context::executor_type>>;

}  // namespace echo
