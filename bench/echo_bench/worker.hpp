#pragma once

#include "interval_log.hpp"
#include "load_worker.hpp"
#include "options.hpp"
#include "run_result.hpp"
#include "send_schedule.hpp"
#include "tls_client.hpp"

#include "echo/client/verified_stream.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

namespace echo::bench {

/// One client thread: one epoll loop driving its share of the connections through
/// the mode's message pattern; each connection's sending and verifying is a
/// client::verified_stream. Nothing is allocated per message: buffers are per worker,
/// payloads are regenerated from the connection's pattern on send and on verify.
/// The stream kind (TCP, Unix, or TLS over TCP) changes only how a connection is
/// opened and which calls move its bytes; the message logic is the same for all.
///
/// Open loop (--rate): each connection sends on its own schedule whether or not the echoes
/// have come back, so several messages may be in flight; the echo stream is one byte
/// stream, so message k's echo is complete once received() reaches (k + 1) * size, in
/// order. Each message in flight keeps its intended and its actual send time, the two
/// ends its corrected and uncorrected latency are measured from.
class worker final : public load_worker {
 public:
  worker(const options& opts, const sockaddr_storage& target, socklen_t target_len, std::uint32_t index,
         std::uint32_t connections, std::uint64_t count_share, run_control& control);
  ~worker() override;
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  void run() override;

  [[nodiscard]] const run_result& result() const noexcept override { return result_; }
  [[nodiscard]] std::uint64_t progress() const noexcept override {
    return progress_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] interval_log* intervals() noexcept override { return intervals_.get(); }

 private:
  /// Open loop: one message sent (or due) and not yet echoed.
  struct flight {
    std::int64_t intended_ns = 0;
    std::int64_t actual_ns = 0;  ///< 0 until its first byte is sent
  };
  /// handshaking: TLS only, between the TCP connect and the first byte.
  enum class state : std::uint8_t { unused, connecting, handshaking, ready, active, draining, held, done };

  struct connection {
    int fd = -1;
    std::uint32_t generation = 0;
    state st = state::unused;
    bool want_out = false;
    std::uint32_t interest = 0;
    client::verified_stream stream{};
    std::uint64_t target = 0;     ///< send up to here (pingpong: end of this message)
    std::uint64_t msgs_left = 0;  ///< count mode
    std::int64_t msg_start_ns = 0;
    std::int64_t last_progress_ns = 0;
    ssl_st* ssl = nullptr;        ///< TLS only
    std::size_t tls_pending = 0;  ///< TLS: length of a blocked write, offered again
    std::uint64_t id = 0;         ///< pattern id, unique in the run
    std::int64_t connect_start_ns = 0;
    std::int64_t first_send_ns = 0;
    bool first_byte_seen = false;
    // Open loop. Messages are numbered from 0; those in [echoed, scheduled) are in the
    // ring `flights` (capacity max_in_flight_), those in [started, scheduled) not sent yet.
    std::vector<flight> flights{};
    std::uint64_t scheduled = 0;
    std::uint64_t started = 0;
    std::uint64_t echoed = 0;
    send_schedule schedule{};
  };

  void open(connection& c);
  void on_event(connection& c, std::uint32_t events);
  void on_connected(connection& c);
  void on_handshake(connection& c);
  void on_established(connection& c);
  client::verified_stream::step send_some(connection& c, std::size_t len);
  void release(connection& c, bool graceful);
  void start(connection& c);
  void next_message(connection& c);
  void on_readable(connection& c);
  void on_verified(connection& c, std::uint64_t before);
  void try_send(connection& c);
  void begin_drain(connection& c);
  void update_interest(connection& c);
  void fail(connection& c, client::stream_error kind);
  void close_ok(connection& c);
  void check_timeouts(std::int64_t now);
  void begin_stop();
  void event_loop_until(bool (worker::*done)() const);
  [[nodiscard]] bool all_settled() const;
  [[nodiscard]] bool all_done() const;
  [[nodiscard]] bool has_connecting_capacity() const;
  void open_pending();
  // Open loop.
  void start_schedule(connection& c);
  void pace(connection& c, std::int64_t now);
  void mark_started(connection& c, std::int64_t now);
  void on_echoed(connection& c, std::int64_t now);
  void count_unsent(connection& c);
  /// Paces every active connection; the time the next one is due (or `now` + a tick).
  std::int64_t pace_all(std::int64_t now);
  [[nodiscard]] bool measured(std::int64_t t) const noexcept { return t >= measure_from_ns_; }
  void count_message(std::uint64_t latency_ns);

  const options& opts_;
  sockaddr_storage target_;
  socklen_t target_len_;
  std::uint32_t index_;
  run_control& control_;
  int epfd_ = -1;
  std::vector<connection> conns_;
  std::size_t next_to_open_ = 0;  ///< initial connects are opened in bounded batches
  std::uint32_t connecting_ = 0;
  std::uint64_t churn_left_ = 0;  ///< churn: connections still to open (count mode)
  std::uint64_t next_id_ = 0;     ///< per-connection pattern ids, unique across workers
  std::uint32_t next_source_ = 0;
  bool stopping_ = false;
  std::int64_t timeout_ns_ = 0;
  std::unique_ptr<std::byte[]> rbuf_;
  std::unique_ptr<std::byte[]> sbuf_;
  std::unique_ptr<tls_client> tls_;  ///< set for the TLS stream kind
  bool open_loop_ = false;
  std::uint64_t max_in_flight_ = 1;
  std::int64_t start_ns_ = 0;
  std::int64_t measure_from_ns_ = 0;  ///< 0 until the load starts: setup is always counted
  std::int64_t stop_at_ns_ = 0;
  std::unique_ptr<interval_log> intervals_;
  run_result result_;
  std::atomic<std::uint64_t> progress_{0};
};

}  // namespace echo::bench
