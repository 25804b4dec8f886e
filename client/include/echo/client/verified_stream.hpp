#pragma once

#include "echo/client/pattern.hpp"
#include "echo/client/stream_error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>

namespace echo::client {

/// The send and verify bookkeeping of one verifying echo connection, shared by
/// echo-bench's workers and the tests' clients. A connection sends its pattern from
/// offset 0 on; every echoed byte is compared with the pattern at its offset, so an
/// echo that is corrupted, reordered, cut short or longer than what was sent is caught,
/// and every failure comes out as one stream_error. The caller owns the socket and the
/// event loop and decides when to send, how much, and when to stop; nothing here
/// blocks or allocates.
class verified_stream {
 public:
  /// What one call did.
  struct step {
    enum class kind : std::uint8_t {
      moved,    ///< `bytes` were sent, or received and verified
      blocked,  ///< the socket would block (or the call was interrupted): wait for readiness
      ended,    ///< clean end: EOF after a half-close, with everything echoed
      failed,   ///< `error` says why; the connection is finished
    };
    kind what = kind::blocked;
    /// moved: bytes moved; failed with mismatch: bytes that matched before the first bad one.
    std::size_t bytes = 0;
    stream_error error = stream_error::none;
    int sys_error = 0;  ///< failed in a socket call: its errno
  };

  /// A stream of seed 0, until a connection assigns its own.
  verified_stream() noexcept : verified_stream(0) {}
  /// `seed` is the connection's own (see pattern::connection_seed).
  explicit verified_stream(std::uint64_t seed) noexcept;

  /// Finishes a non-blocking connect once the socket is writable: none, or connect
  /// (with the socket's error in `sys_error` when given).
  static stream_error connect_result(int fd, int* sys_error = nullptr) noexcept;

  /// One send() of the next `len` pattern bytes (at most scratch.size()), staged in
  /// `scratch`. A partial send is `moved` with fewer bytes.
  step send(int fd, std::size_t len, std::span<std::byte> scratch) noexcept;
  /// One recv() into `buffer`, and verifies what came (see verify).
  step receive(int fd, std::span<std::byte> buffer) noexcept;
  /// Checks the next echoed bytes: extra_bytes past what was sent, mismatch at the
  /// first wrong byte, otherwise `moved` and received() advances.
  step verify(std::span<const std::byte> got) noexcept;
  /// shutdown(SHUT_WR): nothing more will be sent; EOF is clean from now on once
  /// everything sent has come back.
  step half_close(int fd) noexcept;

  // The same bookkeeping for a transport that moves the bytes itself (TLS): stage the
  // next pattern bytes, write them, report how many went; read, verify(), and on the
  // peer's end of stream ask end_of_stream() whether that end was clean.

  /// The next `len` pattern bytes (at most scratch.size()), written into `scratch`.
  [[nodiscard]] std::span<const std::byte> stage(std::size_t len,
                                                 std::span<std::byte> scratch) const noexcept;
  /// `n` staged bytes were sent.
  void advance_sent(std::size_t n) noexcept { sent_ += n; }
  /// Our side's end of stream was sent by the transport (TLS close_notify).
  void mark_half_closed() noexcept { half_closed_ = true; }
  /// The peer ended its stream: `ended` after our half-close with everything echoed,
  /// otherwise short_echo.
  [[nodiscard]] step end_of_stream() const noexcept;

  [[nodiscard]] std::uint64_t sent() const noexcept { return sent_; }
  [[nodiscard]] std::uint64_t received() const noexcept { return received_; }
  /// Sent and not yet echoed.
  [[nodiscard]] std::uint64_t outstanding() const noexcept { return sent_ - received_; }
  [[nodiscard]] bool half_closed() const noexcept { return half_closed_; }
  /// The offset up to which the stream may send while keeping at most `window` bytes
  /// unechoed (saturating: an unlimited window is the largest offset).
  [[nodiscard]] std::uint64_t window_end(std::uint64_t window) const noexcept;

 private:
  pattern pattern_;
  std::uint64_t sent_ = 0;
  std::uint64_t received_ = 0;
  bool half_closed_ = false;
};

}  // namespace echo::client
