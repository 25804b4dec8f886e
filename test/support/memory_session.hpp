#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>

#include "detail/echo_session.hpp"

namespace echo::test {

/// What the in-memory peer does, and what goes wrong on purpose (after Beast's test::stream
/// and fail_count): the peer sends `input` in reads of at most `read_size` bytes, then ends
/// as `ending` says; the `fail_at`-th stream operation (0-based, counting start, reads,
/// writes and shutdowns) fails with `fail_error` instead.
struct memory_script {
  enum class ending : std::uint8_t {
    fin,            ///< the peer's FIN: reads see eof
    reset,          ///< the peer resets: reads see connection_reset
    silence,        ///< the peer stays open and quiet: a read waits until cancelled or closed
    after_our_fin,  ///< quiet until our FIN has gone out, then the peer's FIN (a polite client)
  };
  static constexpr std::size_t never = std::numeric_limits<std::size_t>::max();

  std::string input;
  std::size_t read_size = 64 * 1024;
  ending end = ending::fin;
  std::size_t fail_at = never;
  boost::system::error_code fail_error = boost::asio::error::connection_reset;
  /// Writes never complete (a peer that stops reading) until the session closes.
  bool stall_writes = false;
};

/// The echo state machine over an in-memory stream: every operation completes through the
/// io_context (never inline), so a test can run it one handler at a time with poll_one()
/// and drain, expire or close it in any state. Single-threaded.
class memory_session final : public detail::echo_session<memory_session> {
 public:
  using executor_type = boost::asio::io_context::executor_type;

  memory_session(boost::asio::io_context& io, std::shared_ptr<detail::session_context> context,
                 std::uint64_t id, memory_script script);

  executor_type get_executor() noexcept { return io_.get_executor(); }

  /// What the peer received, in order.
  const std::string& output() const noexcept { return output_; }
  detail::session_state current_state() const noexcept { return state(); }
  bool fin_sent() const noexcept { return fin_sent_; }
  bool reset_sent() const noexcept { return reset_sent_; }
  bool stream_closed() const noexcept { return closed_; }
  /// True while the session holds the read buffer (must be false once closed).
  bool holds_buffer() const noexcept { return holding_; }
  /// Writes started so far (an echo split by a step plan takes several).
  std::size_t writes() const noexcept { return writes_; }
  /// Stream operations started so far.
  std::size_t operations() const noexcept { return ops_; }
  /// Bytes of input the session has read.
  std::size_t consumed() const noexcept { return pos_; }
  /// What stream_unsent() reports: echo bytes the peer has "not taken" yet.
  void set_unsent(std::size_t n) noexcept { unsent_ = n; }
  /// Operations started while another was still in flight (must stay 0).
  std::size_t overlapping_operations() const noexcept { return overlaps_; }

 private:
  using base = detail::echo_session<memory_session>;
  using self_ptr = std::shared_ptr<memory_session>;
  friend base;

  bool fails_now();
  void begin_operation() noexcept;
  void stream_start(self_ptr self);
  void stream_read(self_ptr self, bool eager);
  std::byte* stream_data() noexcept { return buffer_.data(); }
  void stream_release() noexcept { holding_ = false; }
  void stream_write(const std::byte* data, std::size_t n, self_ptr self);
  void stream_shutdown(self_ptr self);
  void stream_cancel();
  void stream_close();
  void stream_reset();
  std::size_t stream_unsent() const noexcept { return unsent_; }
  void abort_read();
  void abort_write();

  boost::asio::io_context& io_;
  memory_script script_;
  std::vector<std::byte> buffer_;
  std::string output_;
  std::size_t pos_ = 0;
  std::size_t ops_ = 0;
  std::size_t writes_ = 0;
  std::size_t overlaps_ = 0;
  std::size_t unsent_ = 0;
  self_ptr pending_read_;   ///< a read waiting on a silent peer
  self_ptr pending_write_;  ///< a write stalled on a peer that does not read
  bool holding_ = false;
  bool busy_ = false;  ///< an operation started and its completion has not run yet
  bool fin_sent_ = false;
  bool reset_sent_ = false;
  bool closed_ = false;
};

}  // namespace echo::test
