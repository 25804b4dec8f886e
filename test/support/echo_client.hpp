#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "echo/client/stream_error.hpp"

namespace echo::test {

/// One client connection with a deadline on every wait. Throws std::runtime_error on
/// failures and timeouts, so a test can never hang on it.
class echo_client {
 public:
  echo_client(const std::string& host, std::uint16_t port,
              std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// Takes over `fd`, a socket whose non-blocking connect has been started elsewhere (for
  /// example in another network namespace); echo_pattern finishes the connect.
  explicit echo_client(int fd) noexcept : fd_(fd) {}
  echo_client(echo_client&& other) noexcept;
  echo_client& operator=(echo_client&&) = delete;
  ~echo_client();

  void send_all(const void* data, std::size_t size);
  void send_all(const std::string& s) { send_all(s.data(), s.size()); }
  /// Reads exactly n bytes; throws on EOF, error or timeout.
  std::string recv_exact(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(5));
  /// True if n bytes arrive within `timeout`, false if the wait timed out (bytes kept).
  bool try_recv_exact(std::size_t n, std::chrono::milliseconds timeout, std::string& out);
  void shutdown_write();

  /// Sends `n` bytes of the verifying pattern seeded `seed` while reading their echo, every
  /// byte checked by the engine echo-bench and run_echo_load use; the connection stays open.
  /// none, or how it failed (timeout once `timeout` has passed).
  echo::client::stream_error echo_pattern(std::uint64_t seed, std::size_t n,
                                          std::chrono::milliseconds timeout = std::chrono::seconds(5));

  enum class end { eof, reset, timeout, data };
  /// Waits for the connection to end: clean EOF, RST, more data (unexpected), or timeout.
  end wait_end(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  void close();
  int fd() const noexcept { return fd_; }

 private:
  bool wait_readable(std::chrono::steady_clock::time_point deadline);
  int fd_ = -1;
};

}  // namespace echo::test
