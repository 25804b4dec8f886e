#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/udp.hpp>

#include "detail/udp_limits.hpp"
#include "detail/udp_listener_stats.hpp"
#include "echo/listener.hpp"
#include "echo/listener_spec.hpp"

namespace echo::detail {

struct session_context;

/// A datagram listener (udp://HOST:PORT): answers each datagram from its own socket, with
/// no sessions. Echo sends the datagram back whole, discard counts it, chargen answers with
/// 0-512 bytes of the RFC 864 pattern.
///
/// - The reactor says when the socket is readable; the loop then reads up to `batch`
///   datagrams per recvmmsg and answers them with one sendmmsg, until the socket is empty or
///   `turn_batches` batches have gone by, when it yields to other handlers and resumes.
/// - Replies leave from the address the datagram arrived at (IP_PKTINFO / IPV6_PKTINFO), so
///   a socket on 0.0.0.0 or [::] answers from the address the client chose.
/// - Not an amplifier and not half of a loop: datagrams from ports whose services answer
///   (0, 7, 13, 19, 37, our own), from impossible sources, to broadcast or multicast
///   addresses, and beyond the source's udp_limits budget are dropped and counted.
/// - A reply the kernel cannot take yet (sendmmsg: EAGAIN) waits for writability; reading
///   waits with it, so at most one batch is ever held.
///
/// The loop's state lives in an object its handlers share, so destroying the listener (which
/// stops it) is safe while handlers are queued or running on other threads.
class udp_listener final : public listener {
 public:
  /// Largest UDP payload over IPv4, and so the largest datagram echoed; larger ones (IPv6
  /// allows up to 65,527 bytes) are counted as truncated and dropped.
  static constexpr std::size_t max_datagram = 65'507;
  static constexpr std::size_t batch = 32;
  static constexpr unsigned turn_batches = 4;
  /// Largest chargen reply (RFC 864: between 0 and 512 characters).
  static constexpr std::size_t chargen_max = 512;

  /// Opens and binds `spec.address:spec.port` (unset: [::]; make_listener falls back to
  /// 0.0.0.0 on a kernel without IPv6), dual-stack on [::] unless `spec.v6only` says
  /// otherwise. Throws setup_error naming
  /// udp://address:port on failure.
  udp_listener(boost::asio::io_context& io, const listener_spec& spec,
               std::shared_ptr<session_context> context, bool use_strands, const udp_limits& limits);
  /// Stops the loop; handlers still queued find it stopped.
  ~udp_listener() override;

  void start() override;
  void stop() override;
  std::string_view kind() const noexcept override { return "udp"; }
  std::string address() const override;
  std::uint16_t port() const noexcept override { return local_.port(); }
  const listener_stats* counters() const noexcept override { return counters_; }

  /// Datagram-level counters (live, readable from any thread).
  const udp_listener_stats& datagram_counters() const noexcept;
  boost::asio::ip::udp::endpoint local_endpoint() const { return local_; }

 private:
  class loop;

  std::shared_ptr<loop> loop_;
  boost::asio::ip::udp::endpoint local_;
  const listener_stats* counters_ = nullptr;
};

}  // namespace echo::detail
