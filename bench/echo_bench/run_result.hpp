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

/// Open loop: how well the client kept to its schedule. A message sent later than its
/// intended time is late by that much (the client was busy, or the in-flight limit or a
/// full socket held it back); a message due before the end but never sent is unsent.
struct schedule_counts {
  std::uint64_t sent = 0;         ///< messages sent whose intended time was in the measured window
  std::uint64_t unsent = 0;       ///< due in the measured window, never sent
  histogram lag;                  ///< actual send time minus intended send time, per message sent
  std::uint64_t cpu_wait_ns = 0;  ///< the client threads' time runnable but without a CPU

  schedule_counts& operator+=(const schedule_counts& o) noexcept {
    sent += o.sent;
    unsent += o.unsent;
    cpu_wait_ns += o.cpu_wait_ns;
    lag.merge(o.lag);
    return *this;
  }
};

/// One client thread's (or, merged, the whole run's) figures.
struct run_result {
  std::uint64_t msgs = 0;   ///< whole messages echoed and verified
  std::uint64_t bytes = 0;  ///< echoed bytes verified
  std::uint64_t conns = 0;  ///< churn: connections completed; idle: connections held
  /// Per message (churn: connect to verified echo); open loop: from the intended send time.
  histogram latency;
  histogram uncorrected;  ///< open loop: from the actual send time
  histogram connect;      ///< connect() to established (TLS: handshake done)
  histogram first_byte;   ///< to the first echoed byte (churn, idle: from connect(); else: first send)
  error_counts errors;
  datagram_counts datagrams;  ///< UDP only
  schedule_counts schedule;   ///< open loop only

  run_result& operator+=(const run_result& o) noexcept {
    msgs += o.msgs;
    bytes += o.bytes;
    conns += o.conns;
    latency.merge(o.latency);
    uncorrected.merge(o.uncorrected);
    connect.merge(o.connect);
    first_byte.merge(o.first_byte);
    errors += o.errors;
    datagrams += o.datagrams;
    schedule += o.schedule;
    return *this;
  }
};

}  // namespace echo::bench
