#pragma once

#include "options.hpp"
#include "run_result.hpp"

#include "echo/client/verified_stream.hpp"

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include <netinet/in.h>
#include <sys/socket.h>

namespace echo::bench {

/// State the main thread shares with all workers; only atomics.
struct run_control {
  std::atomic<bool> stop{false};        ///< finish in-flight work, close, return
  std::atomic<bool> go{false};          ///< all connected: start the load
  std::atomic<std::uint32_t> ready{0};  ///< workers done connecting (idle: and echoing)
};

/// One client thread: one epoll loop driving its share of the connections through
/// the mode's message pattern; each connection's sending and verifying is a
/// client::verified_stream. Nothing is allocated per message: buffers are per worker,
/// payloads are regenerated from the connection's pattern on send and on verify.
class worker {
 public:
  worker(const options& opts, const sockaddr_storage& target, socklen_t target_len, std::uint32_t index,
         std::uint32_t connections, std::uint64_t count_share, run_control& control);
  ~worker();
  worker(const worker&) = delete;
  worker& operator=(const worker&) = delete;

  /// Thread body. Returns when all its connections are finished.
  void run();

  [[nodiscard]] const run_result& result() const noexcept { return result_; }
  /// Messages so far, for the progress line (relaxed; read from another thread).
  [[nodiscard]] std::uint64_t progress() const noexcept { return progress_.load(std::memory_order_relaxed); }

 private:
  enum class state : std::uint8_t { unused, connecting, ready, active, draining, held, done };

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
  };

  void open(connection& c);
  void on_event(connection& c, std::uint32_t events);
  void on_connected(connection& c);
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
  run_result result_;
  std::atomic<std::uint64_t> progress_{0};
};

}  // namespace echo::bench
