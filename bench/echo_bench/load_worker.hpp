#pragma once

#include "run_result.hpp"

#include <atomic>
#include <cstdint>

namespace echo::bench {

/// State the main thread shares with all workers; only atomics.
struct run_control {
  std::atomic<bool> stop{false};        ///< finish in-flight work, close, return
  std::atomic<bool> go{false};          ///< all connected: start the load
  std::atomic<std::uint32_t> ready{0};  ///< workers done connecting (idle: and echoing)
};

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
};

}  // namespace echo::bench
