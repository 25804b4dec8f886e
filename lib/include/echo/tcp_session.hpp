#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "echo/pooled_read_op.hpp"
#include "echo/session_base.hpp"

namespace echo {

/// One TCP echo connection. Exactly one operation is in flight at any time, so a peer that
/// stops reading stops being read (backpressure without a queue):
///
///   do_read -> on_read -> do_write -> on_write -> do_read ...
///                 | eof: shutdown(send), close          (half-close honoured, FIN not RST)
///   drain():  finish the write in progress -> shutdown(send) -> discard until peer FIN -> close
///   expire(): idle or write timeout passed -> close
///
/// Reads go through pooled_read_op: a waiting session holds no buffer, the bytes land in one
/// of the thread's hot pool buffers, and the buffer goes back as soon as the echo is sent.
/// Only an echo the peer does not take at once keeps its buffer, until async_write is done.
///
/// `Executor` is a strand when several threads run the io_context and the plain io_context
/// executor when one does, so a single-threaded server pays for no strand.
template <class Executor>
class tcp_session final : public session_base {
 public:
  using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;

  /// `socket` must come straight from accept() (it is taken to have no duplicate descriptor).
  tcp_session(socket_type socket, std::shared_ptr<session_context> context, std::uint64_t id);
  ~tcp_session() override;

  void start() override;
  void drain() override;
  void close() override;
  void expire() override;

 private:
  friend class pooled_read_op<tcp_session>;
  enum class state : std::uint8_t { created, reading, writing, lingering, closed };

  // The echo loop hands one owning pointer from step to step (moved into each operation and
  // out again) instead of taking a new one per operation: no atomic reference-count traffic
  // on the hot path.
  using self_ptr = std::shared_ptr<tcp_session>;
  self_ptr self();

  void do_read(self_ptr self);
  void on_read(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  void do_write(std::size_t n, self_ptr self);
  void on_write(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  void on_drain();
  void do_linger(self_ptr self);
  void do_discard(self_ptr self);
  void on_linger(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  void end(const boost::system::error_code& ec, const char* step);
  void do_close();
  void touch() noexcept;

  socket_type socket_;
  pooled_read_op<tcp_session> read_;
  state state_ = state::created;
  bool draining_ = false;
};

}  // namespace echo
