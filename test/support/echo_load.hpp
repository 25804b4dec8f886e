#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

namespace echo::test {

/// Many verifying echo clients in one poll() loop: each connection writes its own pattern in
/// random-sized writes while reading the echo concurrently, checks every byte, then (if
/// asked) shuts down its sending side and expects exactly the echo followed by EOF. The
/// tests' load harness: the sending and verifying of each connection is
/// echo::client::verified_stream, the engine echo-bench runs too; this adds byte counts or a
/// send phase, random write sizes, drain mode and progress counters.
struct load_options {
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t connections = 1;
  /// What each connection sends, unless `send_for` is set.
  std::size_t bytes_per_connection = 1024;
  /// Send for this long instead (each connection finishes the write in progress).
  std::optional<std::chrono::milliseconds> send_for;
  std::size_t min_write = 1;
  std::size_t max_write = 64 * 1024;
  /// Unechoed bytes a connection may have in flight before it waits for the echo. Unlimited
  /// by default, so the server also meets peers that fill every buffer on the way.
  std::size_t max_outstanding = std::numeric_limits<std::size_t>::max();
  std::uint64_t seed = 1;
  bool half_close = true;  ///< shutdown(SHUT_WR) after the last byte and expect EOF after the echo
  /// Graceful-drain mode: the server ends the streams; a verified prefix followed by EOF
  /// counts as `eof_prefix`.
  bool server_closes = false;
  std::chrono::milliseconds timeout{30'000};
  /// Bytes verified so far, across connections (lets another thread see progress).
  std::atomic<std::uint64_t>* progress = nullptr;
  /// Connections that have received their first echo byte.
  std::atomic<std::size_t>* active = nullptr;
};

struct load_result {
  std::size_t completed = 0;     ///< connections that got every byte back (and EOF if asked)
  std::size_t eof_prefix = 0;    ///< server_closes mode: verified prefix, then EOF
  std::size_t mismatches = 0;    ///< connections that got a wrong byte
  std::size_t resets = 0;        ///< ECONNRESET or other socket errors
  std::size_t short_echoes = 0;  ///< EOF before every byte came back
  std::size_t extra_bytes = 0;   ///< connections that got more bytes than they sent
  std::size_t connect_failures = 0;
  std::size_t timeouts = 0;  ///< still unfinished at the deadline
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_verified = 0;
  std::string first_problem;  ///< the first connection that went wrong, and how

  bool all_ok(std::size_t expected) const noexcept { return completed == expected; }
};

load_result run_echo_load(const load_options& options);

}  // namespace echo::test
