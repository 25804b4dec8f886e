#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>

#include <boost/asio/basic_stream_socket.hpp>

#include "detail/echo_session.hpp"
#include "detail/pipe_pool.hpp"
#include "detail/read_op.hpp"
#include "detail/receive.hpp"

namespace echo::detail {

/// One plain stream connection (TCP, MPTCP, or a Unix stream socket): the echo state machine
/// over a socket. This class only supplies the stream:
/// - reads go through read_op (read_op.hpp): a waiting session holds no buffer, the bytes
///   land in one of the thread's hot pool buffers, and the buffer goes back as soon as the
///   echo is sent;
/// - the echo is sent with a direct non-blocking send first; only what does not fit goes
///   through async_write, whose completion then carries the backpressure (until then the
///   session keeps the buffer holding it);
/// - shutdown(send) is our FIN, synchronous; an RST is SO_LINGER 0 then close.
/// - the splice path (ECHO_SPLICE_PATH, `--splice`): while reads are large, the read op
///   splices socket -> pipe instead of receiving into a buffer, and the echo splices
///   pipe -> socket, so the bytes never enter user space. The pipe comes from the thread's
///   pipe_pool when bytes are there to move and goes back once it is empty: a waiting
///   session holds no pipe, as it holds no buffer. The pipe's capacity bounds what a
///   session holds, and the echo is one write in flight as on the copying path.
///
/// `Executor` is a strand when several threads run the io_context and the plain io_context
/// executor when one does, so a single-threaded server pays for no strand.
template <class Protocol, class Executor>
class stream_session final : public echo_session<stream_session<Protocol, Executor>> {
 public:
  using executor_type = Executor;
  using socket_type = boost::asio::basic_stream_socket<Protocol, Executor>;

  /// `socket` must come straight from accept() (it is taken to have no duplicate descriptor).
  stream_session(socket_type socket, std::shared_ptr<session_context> context, std::uint64_t id);
#if ECHO_SPLICE_PATH
  ~stream_session() override { drop_pipe(); }
  stream_session(const stream_session&) = delete;
  stream_session& operator=(const stream_session&) = delete;
#endif

  executor_type get_executor() noexcept { return socket_.get_executor(); }

 private:
  using base = echo_session<stream_session>;
  using self_ptr = std::shared_ptr<stream_session>;
  friend base;

#if ECHO_SPLICE_PATH
  /// The read op's source of bytes: a splice into a pipe when this read may splice and a
  /// pipe is to be had, else one receive into the pool buffer. Runs in the reactor's perform
  /// step, on whichever thread runs it: it reads only what stream_read set before the read
  /// started, and writes only what the completion reads after it.
  struct receiver {
    static bool prepare(stream_session& s) noexcept { return !s.take_pipe(); }
    static receive_result receive(stream_session& s, int fd, std::byte* buffer, std::uint32_t size) noexcept;
  };
#else
  using receiver = socket_receiver;
#endif
  friend read_op<stream_session, receiver>;

  void stream_start(self_ptr self) { this->on_start({}, std::move(self)); }
  void stream_read(self_ptr self, bool eager);
  void on_read_complete(const boost::system::error_code& ec, std::size_t n, self_ptr self);
  std::byte* stream_data() const noexcept { return read_.buffer(); }
  void stream_release() noexcept;
  void stream_write(const std::byte* data, std::size_t n, self_ptr self);
  void stream_shutdown(self_ptr self);
  void stream_cancel() noexcept;
  void stream_close() noexcept;
  void stream_reset() noexcept;
  std::size_t stream_unsent() noexcept;
  // For a PROXY header, read off the socket before anything else.
  int stream_handle() noexcept { return socket_.native_handle(); }
  template <class Handler>
  void stream_wait_readable(Handler&& handler) {
    socket_.async_wait(boost::asio::socket_base::wait_read, std::forward<Handler>(handler));
  }

#if ECHO_SPLICE_PATH
  void stream_echo(std::size_t n, self_ptr self);
  /// The last read's bytes are in the pipe, not in user space.
  bool stream_piped() const noexcept { return pipe() >= 0; }
  bool take_pipe() noexcept;
  void give_back_pipe() noexcept;
  void drop_pipe() noexcept;
  void do_splice_out(std::size_t n, std::size_t done, self_ptr self);

  // The pipe's descriptor (-1: none) and splice_next share three bytes: the low 23 bits hold
  // the descriptor plus one, the top bit the flag.
  std::uint32_t packed() const noexcept {
    return std::uint32_t{packed_[0]} | std::uint32_t{packed_[1]} << 8 | std::uint32_t{packed_[2]} << 16;
  }
  void set_packed(std::uint32_t v) noexcept {
    packed_[0] = static_cast<std::uint8_t>(v);
    packed_[1] = static_cast<std::uint8_t>(v >> 8);
    packed_[2] = static_cast<std::uint8_t>(v >> 16);
  }
  static constexpr std::uint32_t splice_bit = 1U << 23;
  /// Pipe descriptors above this do not fit; a session that would get one copies instead
  /// (the kernel's default ceiling on descriptors, nr_open, is 1 << 20).
  static constexpr int max_pipe_fd = static_cast<int>(splice_bit) - 2;
  int pipe() const noexcept { return static_cast<int>(packed() & (splice_bit - 1)) - 1; }
  void set_pipe(int p) noexcept { set_packed((packed() & splice_bit) | static_cast<std::uint32_t>(p + 1)); }
  /// What the next read does: copy, or splice when it may (decided by the last read's size
  /// on `--splice auto`, set by stream_read before each read).
  bool splice_next() const noexcept { return (packed() & splice_bit) != 0; }
  void set_splice_next(bool on) noexcept {
    set_packed((packed() & (splice_bit - 1)) | (on ? splice_bit : 0));
  }
#endif

  socket_type socket_;
  // With the splice path, packed_ lives in the read op's tail padding (3 bytes), so the path
  // adds nothing to a session's size: an idle connection costs what it did without it.
  [[no_unique_address]] read_op<stream_session, receiver> read_;
#if ECHO_SPLICE_PATH
  /// The pipe (held only while it holds the bytes of the last read) and splice_next.
  std::uint8_t packed_[3] = {};
#endif
};

}  // namespace echo::detail
