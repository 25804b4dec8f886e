#pragma once

#include "histogram.hpp"
#include "options.hpp"

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <sys/socket.h>

namespace echo::bench {

class tls_client;

/// --mode probe: --count attempts at --target, --rate per second, each one connection
/// (or, for udp://, one datagram) that sends a seeded payload, verifies its echo and
/// closes. Every attempt ends in exactly one class, named as network-policy tests name
/// outcomes: OK, REFUSED, TIMEOUT, DNS, RESET, TLS, SHORT, MISMATCH, UNREACHABLE. The
/// name is resolved again for every attempt, as a client in a cluster would.
class prober {
 public:
  explicit prober(const options& opts);
  ~prober();
  prober(const prober&) = delete;
  prober& operator=(const prober&) = delete;

  /// Runs every attempt, prints a JSON line for each and a summary; returns the exit
  /// code: 0 when every attempt ended OK (or in the --expect class), otherwise 1.
  int run();

 private:
  struct outcome {
    std::string cls = "OK";
    std::string detail;
    std::string address;
    double connect_us = -1;
    double total_us = 0;
    std::uint64_t echoed = 0;  ///< stream: bytes echoed and verified
  };

  outcome attempt(std::uint64_t index);
  void stream_attempt(outcome& o, int fd, std::uint64_t index, std::int64_t deadline_ns);
  void datagram_attempt(outcome& o, int fd, std::uint64_t index, std::int64_t deadline_ns);
  /// True when a TLS handshake with `addr` completes before the deadline.
  bool speaks_tls(const sockaddr_storage& addr, socklen_t len, std::int64_t deadline_ns);

  const options& opts_;
  std::unique_ptr<tls_client> tls_;
  std::unique_ptr<tls_client> tls_check_;  ///< tcp://: asks a silent port whether it speaks TLS
  std::map<std::string, std::uint64_t> classes_;
  histogram ok_latency_;
};

}  // namespace echo::bench
