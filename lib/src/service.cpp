#include "echo/service.hpp"

#include <signal.h>

#include <csignal>
#include <string>

#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "detail/admin_listener.hpp"
#include "detail/admin_routes.hpp"
#include "detail/connections_json.hpp"
#include "detail/faults_json.hpp"
#include "detail/metrics_text.hpp"
#include "detail/object_executor.hpp"
#include "detail/process_metrics.hpp"
#include "detail/server_metrics.hpp"
#include "echo/config_error.hpp"
#include "echo/exit_code.hpp"
#include "echo/logger.hpp"
#include "echo/version.hpp"

namespace asio = boost::asio;
using boost::system::error_code;

namespace echo {
namespace {

const char* signal_name(int n) noexcept {
  switch (n) {
    case SIGINT: return "SIGINT";
    case SIGTERM: return "SIGTERM";
    case SIGHUP: return "SIGHUP";
    default: return "signal";
  }
}

// The signal mask survives exec, and some launchers spawn with signals blocked: a process
// that starts with SIGTERM blocked would sit through every stop request of its orchestrator
// until it is killed. The signals the service handles are unblocked on the calling thread
// (the threads the runtime starts later inherit that); which ones were blocked is returned.
std::string unblock_handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (const int n : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, n);
  sigset_t old;
  if (::pthread_sigmask(SIG_UNBLOCK, &set, &old) != 0) return {};
  std::string blocked;
  for (const int n : {SIGINT, SIGTERM, SIGHUP}) {
    if (sigismember(&old, n) != 1) continue;
    if (!blocked.empty()) blocked += ',';
    blocked += signal_name(n);
  }
  return blocked;
}

}  // namespace

service::service(const config& cfg)
    : cfg_(cfg),
      runtime_(effective_threads(cfg), /*exclusive=*/true),
      server_(runtime_.context(), cfg_, runtime_.multi_threaded()),
      signals_(detail::object_executor(runtime_.context(), runtime_.multi_threaded()), SIGINT, SIGTERM),
      reload_signals_(signals_.get_executor(), SIGHUP),
      delay_(signals_.get_executor()) {
  if (const auto blocked = unblock_handled_signals(); !blocked.empty())
    log_event(log_level::warn, "signals_unblocked", "started with signals blocked: unblocked them",
              {{"signals", blocked}});
  if (cfg_.admin) {
    detail::admin_routes::actions act;
    act.metrics = [this] {
      detail::metrics_text out;
      detail::write_server_metrics(out, server_);
      detail::write_process_metrics(out);
      return out.take();
    };
    act.ready = [this] { return ready(); };
    act.hold_unready = [this](bool hold) { hold_unready(hold); };
    act.connections = [this] { return detail::connections_json(server_.connections()); };
    act.faults = [this] { return detail::faults_json(server_); };
    act.replace_faults = [this](std::string_view body) -> std::string {
      try {
        server_.set_faults(detail::parse_faults_json(body));
      } catch (const config_error& e) {  // usage_error too: the SPEC parser's
        return e.what();
      }
      log_event(log_level::info, "faults_replaced", "fault set replaced through the admin listener",
                {{"faults", fault_list()}});
      return {};
    };
    act.reset_faults = [this] {
      server_.reset_faults();
      log_event(log_level::info, "faults_reset",
                "fault set reset to the configured one through the admin listener",
                {{"faults", fault_list()}});
    };
    auto routes = std::make_shared<detail::admin_routes>(std::move(act), effective_admin_token(cfg_));
    admin_ = std::make_unique<detail::admin_listener>(runtime_.context(), *cfg_.admin,
                                                      runtime_.multi_threaded(), std::move(routes));
    admin_->start();
  }
  // Once every session is gone, stop waiting for signals so run() can return.
  server_.on_stopped([this] {
    if (admin_) admin_->stop();
    asio::post(signals_.get_executor(), [this] {
      finished_ = true;
      error_code ignored;
      signals_.cancel(ignored);
      reload_signals_.cancel(ignored);
    });
  });
  do_wait_signal();
  do_wait_reload();
  server_.start();
  log_start();
}

void service::log_start() const {
  std::vector<std::string> names;
  std::string all;
  for (const auto& l : server_.listeners()) {
    names.push_back(l->name());
    all += (all.empty() ? "" : ",") + names.back();
  }
  log_event(log_level::info, "start", "echo-svc starting",
            {{"version", version},
             {"threads", runtime_.threads()},
             {"max_connections", effective_max_connections(cfg_)},
             {"buffer_size", cfg_.buffer_size},
             {"idle_timeout_ms", cfg_.idle_timeout},
             {"write_timeout_ms", cfg_.write_timeout},
             {"shutdown_timeout_ms", cfg_.shutdown_timeout},
             {"shutdown_delay_ms", cfg_.shutdown_delay},
             {"backlog", cfg_.backlog},
             {"listeners", all},
             {"seed", server_.fault_seed()}});
  for (const auto& f : server_.faults())
    log_event(log_level::info, "fault", "fault in effect", {{"fault", format_fault_spec(f)}});
  if (admin_) names.push_back(admin_->name());
  for (const auto& name : names) log_event(log_level::info, "listening", "listening", {{"listener", name}});
}

void service::log_shutdown_begin(int signal_number) const {
  log_event(log_level::info, "shutdown_begin", "shutting down",
            {{"signal", signal_name(signal_number)},
             {"sessions", server_.session_count()},
             {"grace_ms", cfg_.shutdown_timeout}});
}

service::~service() = default;

std::string service::fault_list() const {
  std::string all;
  for (const auto& f : server_.faults()) {
    if (!all.empty()) all += ';';
    all += format_fault_spec(f);
  }
  return all;
}

void service::hold_unready(bool hold) noexcept {
  if (held_unready_.exchange(hold, std::memory_order_relaxed) == hold) return;
  log_event(log_level::info, hold ? "readiness_held" : "readiness_released",
            hold ? "readiness held down through the admin listener"
                 : "readiness released through the admin listener",
            {{"ready", ready()}});
}

std::vector<std::string> service::ready_lines() const {
  auto lines = server_.ready_lines();
  if (admin_) lines.push_back("listening on " + admin_->name());
  return lines;
}

int service::run() {
  runtime_.run();
  return exit_code_;
}

void service::do_wait_signal() {
  signals_.async_wait([this](const error_code& ec, int n) { on_signal(ec, n); });
}

void service::do_wait_reload() {
  reload_signals_.async_wait([this](const error_code& ec, int) {
    if (ec || finished_) return;
    // tls_context logs the outcome (tls_reloaded or tls_reload_failed, with why).
    if (server_.tls() == nullptr)
      log_event(log_level::info, "reload_ignored", "SIGHUP: nothing to reload (no TLS listener)");
    else server_.reload_tls();
    do_wait_reload();
  });
}

void service::on_signal(const error_code& ec, int signal_number) {
  if (ec == asio::error::operation_aborted || finished_) return;
  if (ec) {
    log_event(log_level::error, "signal_error", "waiting for signals failed", {{"error", ec.message()}});
    return;
  }
  if (++signals_seen_ == 1) {
    ready_.store(false, std::memory_order_relaxed);
    do_wait_signal();
    if (cfg_.shutdown_delay.count() == 0) {
      log_shutdown_begin(signal_number);
      server_.shutdown(cfg_.shutdown_timeout);
      return;
    }
    // Readiness fails now; the listeners keep accepting while load balancers notice and
    // take this instance out of rotation, so no client is refused in the meantime.
    log_event(log_level::info, "shutdown_delay",
              "not ready: accepting until the delay is over, then stopping",
              {{"signal", signal_name(signal_number)}, {"delay_ms", cfg_.shutdown_delay}});
    delay_.expires_after(cfg_.shutdown_delay);
    delay_.async_wait([this, signal_number](const error_code& e) { on_delay_over(e, signal_number); });
    return;
  }
  // Second signal: the operator wants out now.
  log_event(log_level::warn, "shutdown_abort", "signal received again: closing everything now",
            {{"signal", signal_name(signal_number)}, {"sessions", server_.session_count()}});
  exit_code_ = to_int(exit_code::signal_base) + signal_number;
  delay_.cancel();
  server_.abort();
  runtime_.stop();
}

void service::on_delay_over(const error_code& ec, int signal_number) {
  if (ec == asio::error::operation_aborted) return;
  log_shutdown_begin(signal_number);
  server_.shutdown(cfg_.shutdown_timeout);
}

}  // namespace echo
