#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "echo/fault_report.hpp"

namespace echo {

/// One echo connection as the admin listener's GET /connections reports it. Stream
/// connections only: a UDP listener has none.
struct connection_record {
  std::uint64_t id = 0;              ///< the connection id every log line about it carries
  std::string listener;              ///< the admitting listener's name, e.g. "tcp://127.0.0.1:7007"
  std::string peer;                  ///< the socket's peer, "127.0.0.1:51234" ("?" if the kernel forgot)
  std::string proxy_source;          ///< the client a PROXY header named; empty without one
  std::uint64_t bytes_received = 0;  ///< read from the peer
  std::uint64_t bytes_sent = 0;      ///< written to the peer
  std::chrono::system_clock::time_point started{};
  /// From accept to the end, or to now while open.
  std::chrono::nanoseconds duration{};
  /// How it ended: eof, reset, error, idle-timeout, write-timeout, shutdown, forced,
  /// plan-fin, plan-reset, proxy-header; empty while open.
  std::string end;
  /// What each fault did to it, in the order they first acted: known once it has ended
  /// (a fault's account is kept on the connection's own executor), so `faults_known` is
  /// false while it is open.
  std::vector<fault_effect> faults;
  bool faults_known = false;
};

/// What GET /connections serves: the open connections and the latest closed ones.
struct connection_list {
  std::vector<connection_record> open;    ///< by id
  std::vector<connection_record> closed;  ///< newest first, at most closed_capacity
  std::size_t closed_capacity = 0;        ///< 0: no records are kept
  std::uint64_t closed_total = 0;         ///< recorded since start; older ones are dropped
};

}  // namespace echo
