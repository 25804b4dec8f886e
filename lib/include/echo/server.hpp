#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "echo/config.hpp"
#include "echo/listener.hpp"
#include "echo/stats.hpp"

namespace echo {

struct session_context;

/// Listeners plus the sessions they admit, with graceful shutdown. A server is one-shot:
/// construct (binds; throws setup_error), start(), shutdown(); construct a new one to serve
/// again. It must outlive the io_context's run() that serves it.
class server {
 public:
  /// Binds every listener the config asks for. `multi_threaded` selects strands.
  server(boost::asio::io_context& io, const config& cfg, bool multi_threaded);
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  /// Begins accepting.
  void start();

  /// Graceful stop (thread-safe, idempotent): stop accepting now, let sessions finish what
  /// they hold for up to `grace`, then close the rest. `on_stopped` then fires.
  void shutdown(std::chrono::milliseconds grace);
  /// Immediate stop (thread-safe): stop accepting and close every session now.
  void abort();
  /// Called once, on an io_context thread, when shutdown has closed every session.
  void on_stopped(std::function<void()> callback);

  /// Listeners in the order they were created (their real bound addresses).
  const std::vector<std::unique_ptr<listener>>& listeners() const noexcept { return listeners_; }
  /// The first TCP listener's port (what port 0 resolved to).
  unsigned short port() const noexcept { return port_; }

  const stats& counters() const noexcept;
  std::size_t session_count() const noexcept;

 private:
  enum class state { created, running, draining, stopped };

  void begin_shutdown();
  void on_deadline(const boost::system::error_code& ec);
  void on_drained();
  void close_all_sessions();
  void do_sweep();
  void on_sweep(const boost::system::error_code& ec);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<session_context> context_;
  std::vector<std::unique_ptr<listener>> listeners_;
  boost::asio::steady_timer deadline_;
  // One timer for every session's timeouts: see session_context.
  boost::asio::steady_timer sweep_;
  std::vector<std::shared_ptr<class session_base>> due_;
  std::function<void()> on_stopped_;
  unsigned short port_ = 0;
  state state_ = state::created;
};

}  // namespace echo
