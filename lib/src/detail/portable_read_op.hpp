#pragma once
// Internal header of echo::core: not installed, not part of the public API. Included
// through read_op.hpp.

#include <cstddef>
#include <cstdint>
#include <memory>

#include <boost/asio/basic_stream_socket.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>

#include "detail/buffer_pool.hpp"
#include "detail/receive.hpp"

namespace echo::detail {

struct read_path_context;

/// The read path on Asio's public API alone, for any Boost version and any reactor: wait
/// for readability (async_wait), then take a pool buffer and recv(2) into it, so a waiting
/// session holds no buffer, as with pooled_read_op.
///
/// Its cost against pooled_read_op: Asio never lets a wait run speculatively, so each wait
/// re-arms the descriptor (one epoll_ctl on the epoll reactor). To pay that only when the
/// socket really is empty, the op reads at once, without waiting, when the previous read
/// left bytes queued (TCP_INQ) or could not tell; a read that finds data completes through
/// the executor like any asynchronous operation, so the echo loop never recurses.
///
/// Completion calls `owner->on_read_complete(ec, n, owner)` on the socket's executor, with
/// the bytes at buffer() until release(). Cancelling the socket aborts a pending wait.
template <class Owner, class Receiver = socket_receiver>
class portable_read_op {
 public:
  portable_read_op() = default;
  portable_read_op(const portable_read_op&) = delete;
  portable_read_op& operator=(const portable_read_op&) = delete;

  /// Starts the read on `socket`. Must not be called while a previous start has not
  /// completed. `eager` (reads that write nothing back) always tries the read first.
  template <class Socket>
  void start(const read_path_context&, Socket& socket, std::uint32_t buffer_size,
             std::shared_ptr<Owner> owner, bool eager = false) {
    buffer_.reset(buffer_size);
    if (queued_ != 0 || eager) {
      if (try_read(socket, owner)) return;
    }
    do_wait(socket, std::move(owner));
  }

  /// Nothing to do on this path: Asio's own bookkeeping is left as it is.
  template <class Socket>
  static void adopt_accepted(Socket&) noexcept {}

  std::byte* buffer() const noexcept { return buffer_.data(); }
  /// Gives the buffer back to this thread's pool.
  void release() noexcept { buffer_.release(); }

 private:
  template <class Socket>
  void do_wait(Socket& socket, std::shared_ptr<Owner> owner) {
    socket.async_wait(boost::asio::socket_base::wait_read,
                      [this, &socket, o = std::move(owner)](const boost::system::error_code& ec) mutable {
                        on_ready(ec, socket, std::move(o));
                      });
  }

  template <class Socket>
  void on_ready(const boost::system::error_code& ec, Socket& socket, std::shared_ptr<Owner> owner) {
    if (ec) {
      complete(ec, 0, std::move(owner));
      return;
    }
    // Already a completion handler: the result is delivered from here, without a post.
    if (read_now(socket, *owner)) complete(ec_, n_, std::move(owner));
    else do_wait(socket, std::move(owner));
  }

  // Reads once from start(): false when the socket had nothing (the caller waits);
  // otherwise the result's completion is posted.
  template <class Socket>
  bool try_read(Socket& socket, std::shared_ptr<Owner>& owner) {
    if (!read_now(socket, *owner)) return false;
    boost::asio::post(socket.get_executor(),
                      [this, o = std::move(owner)]() mutable { complete(ec_, n_, std::move(o)); });
    return true;
  }

  // One recv into a pool buffer; true with ec_/n_ set, false (buffer given back) when the
  // socket had nothing to read.
  template <class Socket>
  bool read_now(Socket& socket, Owner& owner) {
    ec_ = {};
    n_ = 0;
    if (wants_buffer<Receiver>(owner) && !buffer_.acquire()) {
      ec_ = boost::asio::error::no_memory;
      return true;
    }
    const receive_result r = Receiver::receive(owner, socket.native_handle(), buffer_.data(), buffer_.size());
    if (r.n > 0) {
      queued_ = r.queued;
      n_ = static_cast<std::size_t>(r.n);
      return true;
    }
    if (r.n == 0) {
      ec_ = boost::asio::error::eof;
      return true;
    }
    if (r.error == EAGAIN || r.error == EWOULDBLOCK) {
      release();  // nothing to read: the wait holds no buffer
      queued_ = 0;
      return false;
    }
    ec_ = boost::system::error_code(r.error, boost::system::system_category());
    return true;
  }

  void complete(boost::system::error_code ec, std::size_t n, std::shared_ptr<Owner> owner) {
    Owner* o = owner.get();
    o->on_read_complete(ec, n, std::move(owner));
  }

  pool_buffer buffer_;
  boost::system::error_code ec_;
  std::size_t n_ = 0;
  int queued_ = 0;  ///< what the last read left queued (TCP_INQ); -1 unknown
};

}  // namespace echo::detail
