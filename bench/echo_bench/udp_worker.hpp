#pragma once

#include "load_worker.hpp"
#include "options.hpp"
#include "run_result.hpp"
#include "send_schedule.hpp"

#include "echo/client/pattern.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <sys/socket.h>

namespace echo::bench {

/// One client thread for UDP: one epoll loop over its share of connected UDP
/// sockets. Datagram k of a socket is its 8-byte sequence number k followed by the
/// socket's pattern at offset k * size, so every echo is verified on its own: a
/// wrong payload (or a sequence number never sent) is a mismatch and fails the run,
/// while loss (no echo within --loss-timeout), duplicates and reordering are only
/// counted. pingpong keeps one datagram in flight per socket; stream keeps a window
/// in flight (up to 64 per socket, about 128 KiB over all sockets), refilled as fast
/// as the socket takes datagrams: no rate limit. Open loop (--rate, pingpong) sends each
/// socket's datagrams on its schedule instead, up to history_size in flight, and times each
/// echo from its intended and from its actual send time.
class udp_worker final : public load_worker {
 public:
  udp_worker(const options& opts, const sockaddr_storage& target, socklen_t target_len, std::uint32_t index,
             std::uint32_t sockets, std::uint64_t count_share, run_control& control);
  ~udp_worker() override;
  udp_worker(const udp_worker&) = delete;
  udp_worker& operator=(const udp_worker&) = delete;

  void run() override;
  [[nodiscard]] const run_result& result() const noexcept override { return result_; }
  [[nodiscard]] std::uint64_t progress() const noexcept override {
    return progress_.load(std::memory_order_relaxed);
  }

 private:
  /// What a sent sequence number has come to; kept for the last history_size of them.
  enum class fate : std::uint8_t { in_flight, echoed, lost };
  static constexpr std::uint64_t history_size = 1024;

  struct slot {
    std::int64_t sent_ns = 0;
    std::int64_t intended_ns = 0;  ///< open loop; otherwise sent_ns
    fate what = fate::in_flight;
  };

  struct udp_socket {
    int fd = -1;
    bool done = false;
    bool want_out = false;
    client::pattern pattern{0};
    std::uint64_t next_seq = 0;     ///< the next datagram to send
    std::uint64_t oldest = 0;       ///< everything before it is echoed or lost
    std::uint64_t newest_echo = 0;  ///< one past the highest sequence echoed so far
    std::uint64_t to_send = 0;      ///< count mode: datagrams still to send
    std::unique_ptr<std::array<slot, history_size>> history;
    std::uint64_t id = 0;
    send_schedule schedule{};  ///< open loop
  };

  void open(udp_socket& u);
  void try_send(udp_socket& u);
  void on_readable(udp_socket& u);
  void on_datagram(udp_socket& u, std::size_t len, std::int64_t now);
  void advance(udp_socket& u);
  void settle(udp_socket& u);
  void check_losses(std::int64_t now);
  void fail(udp_socket& u, int err);
  void update_interest(udp_socket& u, bool want_out);
  [[nodiscard]] bool all_done() const;
  [[nodiscard]] bool measured(std::int64_t t) const noexcept { return t >= measure_from_ns_; }
  /// Open loop: whether the socket's next datagram is due by `now` (and before the end).
  [[nodiscard]] bool due(const udp_socket& u, std::int64_t now) const noexcept;
  /// Open loop: counts the datagrams due in the measured window that were never sent.
  void count_unsent(udp_socket& u);

  const options& opts_;
  sockaddr_storage target_;
  socklen_t target_len_;
  run_control& control_;
  int epfd_ = -1;
  std::uint64_t window_ = 1;
  std::int64_t loss_timeout_ns_ = 0;
  std::uint64_t next_id_ = 0;
  bool stopping_ = false;
  bool open_loop_ = false;
  std::int64_t start_ns_ = 0;
  std::int64_t measure_from_ns_ = 0;
  std::int64_t stop_at_ns_ = 0;
  std::vector<udp_socket> sockets_;
  std::unique_ptr<std::byte[]> buf_;
  run_result result_;
  std::atomic<std::uint64_t> progress_{0};
};

}  // namespace echo::bench
