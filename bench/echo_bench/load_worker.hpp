#pragma once

#include "run_result.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>

namespace echo::bench {

/// State the main thread shares with all workers; only atomics.
struct run_control {
  std::atomic<bool> stop{false};        ///< finish in-flight work, close, return
  std::atomic<bool> go{false};          ///< all connected: start the load
  std::atomic<std::uint32_t> ready{0};  ///< workers done connecting (idle: and echoing)
  /// CLOCK_MONOTONIC ns when the load starts (set before go) and when figures start
  /// counting (after --warmup).
  std::atomic<std::int64_t> start_ns{0};
  std::atomic<std::int64_t> measure_from_ns{0};
  std::atomic<std::int64_t> stop_at_ns{0};  ///< open loop: nothing is due at or after this
};

/// ns the calling thread has spent runnable but waiting for a CPU (the run queue), from
/// /proc/thread-self/schedstat; 0 where the kernel does not say. How much of an open-loop
/// client's lateness other work on the machine explains.
inline std::uint64_t thread_cpu_wait_ns() noexcept {
  std::FILE* f = std::fopen("/proc/thread-self/schedstat", "r");
  if (f == nullptr) return 0;
  unsigned long long running = 0;
  unsigned long long waiting = 0;
  const int n = std::fscanf(f, "%llu %llu", &running, &waiting);
  std::fclose(f);
  return n == 2 ? waiting : 0;
}

/// One client thread as the runner sees it: the stream worker (TCP, TLS, Unix) or the
/// datagram one (UDP). run() counts itself into run_control::ready once its sockets
/// are up, waits for go, and returns once stop is set and its work is finished.
class load_worker {
 public:
  virtual ~load_worker() = default;

  /// Thread body. Returns when all its connections (sockets) are finished.
  virtual void run() = 0;
  [[nodiscard]] virtual const run_result& result() const noexcept = 0;
  /// Messages so far, for the progress line (relaxed; read from another thread).
  [[nodiscard]] virtual std::uint64_t progress() const noexcept = 0;
  /// The worker's per-interval figures, or nullptr when it keeps none (UDP).
  [[nodiscard]] virtual class interval_log* intervals() noexcept { return nullptr; }
};

}  // namespace echo::bench
