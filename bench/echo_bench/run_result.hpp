#pragma once

#include "histogram.hpp"

#include "echo/client/stream_error.hpp"

#include <cstdint>

namespace echo::bench {

/// What went wrong, by kind; any non-zero count makes the run fail (exit 1).
struct error_counts {
  std::uint64_t connect = 0;      ///< connect refused / unreachable / no local port
  std::uint64_t reset = 0;        ///< ECONNRESET / EPIPE
  std::uint64_t timeout = 0;      ///< no progress within --timeout
  std::uint64_t mismatch = 0;     ///< an echoed byte differed from what was sent
  std::uint64_t short_echo = 0;   ///< EOF before everything sent was echoed back
  std::uint64_t extra_bytes = 0;  ///< more bytes echoed than were sent
  std::uint64_t io = 0;           ///< any other socket error

  /// Counts one failed connection.
  void add(client::stream_error e) noexcept {
    switch (e) {
      case client::stream_error::none: return;
      case client::stream_error::connect: ++connect; return;
      case client::stream_error::reset: ++reset; return;
      case client::stream_error::timeout: ++timeout; return;
      case client::stream_error::mismatch: ++mismatch; return;
      case client::stream_error::short_echo: ++short_echo; return;
      case client::stream_error::extra_bytes: ++extra_bytes; return;
      case client::stream_error::io: ++io; return;
    }
  }

  [[nodiscard]] std::uint64_t total() const noexcept {
    return connect + reset + timeout + mismatch + short_echo + extra_bytes + io;
  }
  error_counts& operator+=(const error_counts& o) noexcept {
    connect += o.connect;
    reset += o.reset;
    timeout += o.timeout;
    mismatch += o.mismatch;
    short_echo += o.short_echo;
    extra_bytes += o.extra_bytes;
    io += o.io;
    return *this;
  }
};

/// UDP only: what happened to the datagrams sent. None of these fails a run: a
/// datagram service may lose, duplicate and reorder; only a wrong payload fails
/// (error_counts::mismatch).
struct datagram_counts {
  std::uint64_t sent = 0;
  std::uint64_t lost = 0;        ///< no echo within --loss-timeout
  std::uint64_t duplicated = 0;  ///< an echo of a datagram already echoed
  std::uint64_t reordered = 0;   ///< echoed after a datagram sent later than it
  std::uint64_t late = 0;        ///< echoed after it was counted lost (or too late to tell)

  datagram_counts& operator+=(const datagram_counts& o) noexcept {
    sent += o.sent;
    lost += o.lost;
    duplicated += o.duplicated;
    reordered += o.reordered;
    late += o.late;
    return *this;
  }
};

/// One client thread's (or, merged, the whole run's) figures.
struct run_result {
  std::uint64_t msgs = 0;   ///< whole messages echoed and verified
  std::uint64_t bytes = 0;  ///< echoed bytes verified
  std::uint64_t conns = 0;  ///< churn: connections completed; idle: connections held
  histogram latency;        ///< per message (churn: connect to verified echo)
  error_counts errors;
  datagram_counts datagrams;  ///< UDP only

  run_result& operator+=(const run_result& o) noexcept {
    msgs += o.msgs;
    bytes += o.bytes;
    conns += o.conns;
    latency.merge(o.latency);
    errors += o.errors;
    datagrams += o.datagrams;
    return *this;
  }
};

}  // namespace echo::bench
