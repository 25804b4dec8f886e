#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "echo/config.hpp"
#include "echo/connection_record.hpp"
#include "echo/fault_report.hpp"
#include "echo/fault_spec.hpp"
#include "echo/listener.hpp"
#include "echo/stats.hpp"
#include "echo/step_plan.hpp"

namespace echo {

namespace detail {
struct fault_set;
class tls_context;
struct session_context;
class session_base;
}  // namespace detail

/// Listeners plus the sessions they admit, with graceful shutdown. A server is one-shot:
/// construct (validates, binds; throws), start(), shutdown(); construct a new one to serve
/// again. It must outlive the io_context's run() that serves it.
class server {
 public:
  /// Validates `cfg` (throws config_error) and binds every listener it lists, in order
  /// (throws setup_error naming the address). `multi_threaded` selects strands.
  server(boost::asio::io_context& io, const config& cfg, bool multi_threaded);
  server(const server&) = delete;
  server& operator=(const server&) = delete;
  ~server();

  /// Gives every connection admitted from now on the plan `plans` makes for it (called on
  /// the connection's executor as it starts, so concurrently when several threads run).
  /// Call before start().
  void set_step_plans(plan_factory plans);

  /// Begins accepting.
  void start();

  // The fault engine. Every member is thread-safe and may be called before or after start().
  // A change reaches every live connection at its next step (a read, a write, a wait ending)
  // and every connection accepted after it; listener faults (no-accept, refuse) take hold
  // or end at once.

  /// Replaces the active fault set. Checked as the command line is (validate_faults with
  /// this server's allow_corruption, and every `listener=` must name one of its listeners):
  /// throws config_error (setting "fault") naming the first bad SPEC, and then changes
  /// nothing. after= and count= count afresh from the change.
  void set_faults(std::vector<fault_spec> faults);
  /// The active fault set, in the order it was given.
  std::vector<fault_spec> faults() const;
  /// Back to the configured set: config::faults plus the catalogue's.
  void reset_faults();
  /// The configured set, as reset_faults() restores it.
  std::vector<fault_spec> configured_faults() const;
  /// The seed in use (config::seed, or the one drawn at start).
  std::uint64_t fault_seed() const noexcept;
  /// Whether integrity faults are allowed (config::allow_corruption).
  bool corruption_allowed() const noexcept;
  /// Per listener (stream listeners, config order) and fault kind: how many times it fired.
  /// Every pair is listed, zeros included, so exported series exist from the start.
  std::vector<fault_fired> faults_fired() const;
  /// With --catalogue: one line per catalogue listener, "PORT  BEHAVIOUR  SPEC"; empty
  /// otherwise.
  std::vector<std::string> catalogue_table() const;

  /// Graceful stop (thread-safe, idempotent): stop accepting now, let sessions finish what
  /// they hold for up to `grace`, then close the rest. `on_stopped` then fires.
  void shutdown(std::chrono::milliseconds grace);
  /// Immediate stop (thread-safe): stop accepting and close every session now.
  void abort();
  /// Called once, on an io_context thread, when shutdown has closed every session.
  void on_stopped(std::function<void()> callback);

  /// Listeners in config order, each with its real bound address.
  const std::vector<std::unique_ptr<listener>>& listeners() const noexcept { return listeners_; }
  /// The first listener's port (what port 0 resolved to).
  std::uint16_t port() const noexcept { return listeners_.front()->port(); }
  /// The ready output: one line per listener, in config order (see README).
  std::vector<std::string> ready_lines() const;

  const stats& counters() const noexcept;
  /// Re-reads the TLS certificate, key and client CA for new handshakes (thread-safe); live
  /// sessions keep theirs. Empty on success or when no listener speaks TLS; otherwise why
  /// the new files were refused (the old ones stay in use).
  std::string reload_tls();
  /// What tls:// listeners serve with; null when there are none.
  const detail::tls_context* tls() const noexcept { return tls_.get(); }

  /// Bytes each way, summed over the listeners (each listener's own are in its counters()).
  byte_totals bytes() const noexcept;
  std::size_t session_count() const noexcept;

  /// The open connections and the latest closed ones. Records are kept only when the config
  /// has an admin listener and a connection_history above 0; otherwise both lists are
  /// empty. Thread-safe when multi_threaded; a single-threaded server takes no locks, so
  /// call it on the io_context's thread then (as the admin listener does).
  connection_list connections() const;

 private:
  enum class state { created, running, draining, stopped };

  void on_faults_changed(const detail::fault_set& set);
  void begin_shutdown();
  void on_deadline(const boost::system::error_code& ec);
  void on_drained();
  void log_summary() const;
  void close_all_sessions();
  void do_sweep();
  void on_sweep(const boost::system::error_code& ec);

  boost::asio::any_io_executor executor_;
  std::shared_ptr<detail::session_context> context_;
  /// Which listeners the catalogue added: [catalogue_first_, listeners_.size()).
  std::size_t catalogue_first_ = 0;
  std::shared_ptr<detail::tls_context> tls_;
  std::vector<std::unique_ptr<listener>> listeners_;
  boost::asio::steady_timer deadline_;
  // One timer for every session's timeouts: see session_context.
  boost::asio::steady_timer sweep_;
  std::vector<std::shared_ptr<detail::session_base>> due_;
  std::function<void()> on_stopped_;
  state state_ = state::created;
  // For the shutdown summary: when the drain began and how many sessions it had to end.
  std::chrono::steady_clock::time_point drain_started_{};
  std::uint64_t drain_sessions_ = 0;
};

}  // namespace echo
