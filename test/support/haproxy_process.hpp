#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "child_process.hpp"
#include "temp_file.hpp"

namespace echo::test {

/// The haproxy binary on PATH (or in /usr/sbin, /usr/local/sbin), or "" if there is none.
std::string find_haproxy();

/// A real haproxy in TCP mode, run in the foreground (-db): a frontend on 127.0.0.1 at a
/// port it picks, relaying every connection to one backend server with a PROXY protocol
/// header. Ready when constructed (its frontend is listening); stopped on destruction.
/// Throws std::runtime_error, with haproxy's stderr, if it cannot be started.
class haproxy_process {
 public:
  /// What haproxy puts in front of each relayed connection.
  enum class header : std::uint8_t {
    v1,       ///< send-proxy
    v2,       ///< send-proxy-v2, addresses only
    v2_tlvs,  ///< send-proxy-v2 with TLVs after the addresses (a CRC32C and the ALPN)
  };

  /// `backend_host`: a numeric loopback address of the server to relay to.
  haproxy_process(const std::string& backend_host, std::uint16_t backend_port, header kind);
  haproxy_process(const haproxy_process&) = delete;
  haproxy_process& operator=(const haproxy_process&) = delete;
  ~haproxy_process();

  /// The frontend's port on 127.0.0.1.
  std::uint16_t port() const noexcept { return port_; }
  /// Everything haproxy wrote to stderr so far.
  std::string stderr_text() const;

 private:
  std::unique_ptr<temp_file> config_;
  std::unique_ptr<child_process> child_;
  std::uint16_t port_ = 0;
};

}  // namespace echo::test
