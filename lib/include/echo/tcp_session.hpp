#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "echo/buffer_pool.hpp"
#include "echo/session_base.hpp"

namespace echo {

/// One TCP echo connection. Exactly one operation is in flight at any time, so a peer that
/// stops reading stops being read (backpressure without a queue):
///
///   do_read -> on_read -> do_write -> on_write -> do_read ...
///                 | eof: shutdown(send), close          (half-close honoured, FIN not RST)
///   park():   quiet for a while: cancel the read, give the buffer back,
///             do_wait (readability, no buffer) -> on_wait -> do_read
///   drain():  finish the write in progress -> shutdown(send) -> discard until peer FIN -> close
///   expire(): idle or write timeout passed -> close
///
/// A busy session keeps an async_read_some pending on a pooled buffer, because Asio's epoll
/// reactor re-arms the descriptor (one epoll_ctl) for every async_wait but not for a read.
/// Only a session that stayed quiet for a couple of sweep ticks pays that once and waits
/// with no buffer, so memory follows active sessions rather than open ones.
///
/// `Executor` is a strand when several threads run the io_context and the plain io_context
/// executor when one does, so a single-threaded server pays for no strand.
template <class Executor>
class tcp_session final : public session_base {
 public:
  using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, Executor>;

  tcp_session(socket_type socket, std::shared_ptr<session_context> context, std::uint64_t id);
  ~tcp_session() override;

  void start() override;
  void drain() override;
  void close() override;
  void expire() override;
  void park() override;

 private:
  enum class state : std::uint8_t { created, waiting, reading, writing, lingering, closed };

  // The echo loop hands one owning pointer from step to step (moved into each handler and
  // out again) instead of taking a new one per operation: no atomic reference-count traffic
  // on the hot path.
  using self_ptr = std::shared_ptr<tcp_session>;
  self_ptr self();

  void do_wait();
  void on_wait(const boost::system::error_code& ec);
  void do_read(self_ptr self);
  void on_read(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  void do_write(std::size_t n, self_ptr self);
  void on_write(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  void on_drain();
  void do_linger();
  void on_linger(const boost::system::error_code& ec, std::size_t n);
  void end(const boost::system::error_code& ec, const char* step);
  void do_close();
  void touch() noexcept;
  void take_buffer();
  void give_back_buffer() noexcept;

  socket_type socket_;
  // A raw pointer rather than a unique_ptr with a sized deleter: the size is the context's,
  // and 8 bytes less per session keeps it in a smaller malloc size class.
  std::byte* buffer_ = nullptr;
  state state_ = state::created;
  bool draining_ = false;
  bool parking_ = false;
};

}  // namespace echo
