#pragma once

#include <boost/asio/io_context.hpp>

namespace echo {

/// The io_context and the threads that run it. N threads: all run the same io_context and
/// sessions serialise on their own strands. One thread: Asio runs single-threaded, with no
/// per-socket locks; an `exclusive` runtime (the service's: nothing but its own thread ever
/// touches it once run() starts) drops the scheduler lock too, so the hot path takes none.
class runtime {
 public:
  /// `exclusive`: no other thread will post to the io_context or call stop() while run()
  /// is running (signals arrive through Asio's signal pipe, on the running thread).
  explicit runtime(unsigned threads, bool exclusive = false);
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  boost::asio::io_context& context() noexcept { return io_; }
  unsigned threads() const noexcept { return threads_; }
  bool multi_threaded() const noexcept { return threads_ > 1; }

  /// Runs the io_context on threads() threads, the caller's included, until it runs out of
  /// work or stop() is called. Rethrows the first exception that escaped a handler.
  void run();
  /// Last resort: makes run() return as soon as the running handlers finish.
  void stop() noexcept { io_.stop(); }

 private:
  unsigned threads_;
  boost::asio::io_context io_;
};

}  // namespace echo
