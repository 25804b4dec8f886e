#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "echo/config.hpp"
#include "echo/runtime.hpp"
#include "echo/server.hpp"

namespace echo {

namespace detail {
class admin_listener;
}

/// The whole process in one object: runtime, server and signal handling. SIGINT/SIGTERM
/// start a graceful shutdown; a second one aborts it. Signal handlers are installed in the
/// constructor, before the ready line can be printed, so a harness may signal as soon as it
/// has read that line.
class service {
 public:
  /// Validates (throws config_error), binds (throws setup_error) and installs signal
  /// handling.
  explicit service(const config& cfg);
  ~service();

  /// The ready output, one line per listener: "listening on 127.0.0.1:40123", then the
  /// admin listener's "listening on http://127.0.0.1:9100" if there is one.
  std::vector<std::string> ready_lines() const;
  /// Serves until shut down; returns the process exit code.
  int run();

  server& get_server() noexcept { return server_; }

  /// What /readyz reports: false from the first SIGTERM/SIGINT on (while the listeners may
  /// still accept for --shutdown-delay), and while readiness is held down.
  bool ready() const noexcept {
    return ready_.load(std::memory_order_relaxed) && !held_unready_.load(std::memory_order_relaxed);
  }
  /// Holds readiness down (POST /readyz/fail), or lets it follow the process again
  /// (POST /readyz/ok); a shutdown keeps it down either way. Thread-safe.
  void hold_unready(bool hold) noexcept;

 private:
  void do_wait_signal();
  void do_wait_reload();
  void on_signal(const boost::system::error_code& ec, int signal_number);
  void on_delay_over(const boost::system::error_code& ec, int signal_number);
  void log_start() const;
  void log_shutdown_begin(int signal_number) const;
  /// The active faults as one log field, SPECs joined by ';'.
  std::string fault_list() const;

  config cfg_;
  runtime runtime_;
  server server_;
  boost::asio::signal_set signals_;
  boost::asio::signal_set reload_signals_;  ///< SIGHUP: re-read the TLS certificate
  boost::asio::steady_timer delay_;
  std::atomic<bool> ready_{true};
  std::atomic<bool> held_unready_{false};
  int signals_seen_ = 0;
  bool finished_ = false;  // server stopped: a late request must not re-arm the signal wait
  int exit_code_ = 0;
  // Serves /metrics, /healthz, /readyz, /connections ... when cfg.admin is set; stops with
  // the server.
  std::unique_ptr<detail::admin_listener> admin_;
};

}  // namespace echo
