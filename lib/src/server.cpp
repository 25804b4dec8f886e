#include "echo/server.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "detail/catalogue.hpp"
#include "detail/make_listener.hpp"
#include "detail/object_executor.hpp"
#include "detail/session_base.hpp"
#include "detail/session_context.hpp"
#include "detail/tls_context.hpp"
#include "echo/logger.hpp"

#if ECHO_POOLED_READ
#include <boost/asio/detail/reactor.hpp>
#endif

namespace asio = boost::asio;
using boost::system::error_code;

namespace echo {
namespace {

const config& validated(const config& cfg) {
  validate(cfg);
  return cfg;
}

}  // namespace

server::server(asio::io_context& io, const config& cfg, bool multi_threaded)
    : executor_(detail::object_executor(io, multi_threaded)),
      context_(std::make_shared<detail::session_context>(multi_threaded, validated(cfg))),
      deadline_(executor_),
      sweep_(executor_) {
#if ECHO_POOLED_READ
  context_->reads.reactor = &asio::use_service<asio::detail::reactor>(io);
#endif
  // One TLS context for every tls:// listener: one certificate, reloaded in one place.
  if (std::any_of(cfg.listeners.begin(), cfg.listeners.end(),
                  [](const listener_spec& l) { return l.kind == transport::tls; }))
    tls_ = std::make_shared<detail::tls_context>(cfg.tls);
  const detail::listen_options options{{cfg.backlog, cfg.reuse_port, cfg.unix_mode, tls_},
                                       {cfg.udp_source_rate, cfg.udp_source_bytes, cfg.udp_receive_buffer}};
  for (const auto& spec : cfg.listeners)
    listeners_.push_back(detail::make_listener(spec, io, context_, multi_threaded, options));
  catalogue_first_ = listeners_.size();
  auto faults = cfg.faults;
  if (cfg.catalogue) {
    // Bound first, then named by what they got: with base port 0 only the kernel knows.
    auto spec = *cfg.catalogue;
    for (const auto& entry : detail::catalogue) {
      listeners_.push_back(detail::make_listener(spec, io, context_, multi_threaded, options));
      if (!entry.fault.empty()) {
        auto f = parse_fault_spec(entry.fault);
        f.listener = listeners_.back()->name();
        faults.push_back(std::move(f));
      }
      if (spec.port != 0) ++spec.port;
    }
  }
  context_->faults.on_change = [this](const detail::fault_set& set) { on_faults_changed(set); };
  std::vector<detail::listener_identity> identities;
  for (const auto& l : listeners_) identities.push_back({l->name(), l->address(), l->port()});
  context_->faults.configure(std::move(identities), std::move(faults));
  // Records name their listener; a listener's counters sit at its index in the context.
  context_->listener_names.resize(context_->listeners.size());
  for (const auto& l : listeners_) {
    if (const auto* c = l->counters()) {
      const auto index = static_cast<std::size_t>(c - context_->listeners.data());
      if (index < context_->listener_names.size()) context_->listener_names[index] = l->name();
    }
  }
}

void server::on_faults_changed(const detail::fault_set& set) {
  using connect_fault = detail::tcp_listener::connect_fault;
  for (std::size_t i = 0; i < listeners_.size(); ++i) {
    auto* tcp = dynamic_cast<detail::tcp_listener*>(listeners_[i].get());
    if (!tcp) continue;
    // refuse outranks no-accept: a closed port says more than a full queue.
    auto mode = connect_fault::none;
    for (const auto& f : set.faults) {
      if (!is_listener_fault(f->spec.kind) || i >= f->listeners.size() || !f->listeners[i]) continue;
      if (f->spec.kind == fault_kind::refuse) mode = connect_fault::refuse;
      else if (mode == connect_fault::none) mode = connect_fault::no_accept;
    }
    tcp->set_connect_fault(mode);
  }
  if (!set.connection_faults) return;
  // The registry is the server executor's to walk.
  asio::dispatch(executor_, [ctx = context_] {
    for (auto& s : ctx->registry.snapshot()) s->refresh_faults();
  });
}

void server::set_faults(std::vector<fault_spec> faults) { context_->faults.set(std::move(faults)); }

std::vector<fault_spec> server::faults() const { return context_->faults.active_specs(); }

void server::reset_faults() { context_->faults.reset(); }

std::vector<fault_spec> server::configured_faults() const { return context_->faults.configured(); }

std::uint64_t server::fault_seed() const noexcept { return context_->faults.seed(); }

bool server::corruption_allowed() const noexcept { return context_->faults.corruption_allowed(); }

std::vector<fault_fired> server::faults_fired() const {
  std::vector<std::string> names;
  for (const auto& l : listeners_) names.push_back(l->kind() == "udp" ? std::string() : l->name());
  auto all = context_->faults.fired(names);
  std::erase_if(all, [](const fault_fired& f) { return f.listener.empty(); });
  return all;
}

std::vector<std::string> server::catalogue_table() const {
  std::vector<std::string> lines;
  for (std::size_t i = catalogue_first_; i < listeners_.size(); ++i) {
    const auto& entry = detail::catalogue[i - catalogue_first_];
    lines.push_back(fmt::format("{:<5}  {:<52}  {}", listeners_[i]->port(), entry.behaviour,
                                entry.fault.empty() ? std::string_view("-") : entry.fault));
  }
  return lines;
}

void server::set_step_plans(plan_factory plans) { context_->plans = std::move(plans); }

std::vector<std::string> server::ready_lines() const {
  std::vector<std::string> lines;
  lines.reserve(listeners_.size());
  for (const auto& l : listeners_) {
    // TCP keeps the bare form harnesses already parse; other kinds name their scheme.
    if (l->kind() == "tcp") lines.push_back(fmt::format("listening on {}", l->address()));
    else lines.push_back("listening on " + l->name());
  }
  return lines;
}

server::~server() {
  context_->faults.on_change = nullptr;
  context_->registry.clear_on_empty();
}

void server::start() {
  asio::dispatch(executor_, [this] {
    if (state_ != state::created) return;
    state_ = state::running;
    for (auto& l : listeners_) l->start();
    do_sweep();
  });
}

void server::on_stopped(std::function<void()> callback) {
  asio::dispatch(executor_, [this, cb = std::move(callback)]() mutable {
    on_stopped_ = std::move(cb);
    if (state_ == state::stopped && on_stopped_) on_stopped_();
  });
}

void server::shutdown(std::chrono::milliseconds grace) {
  asio::dispatch(executor_, [this, grace] {
    if (state_ == state::draining || state_ == state::stopped) return;
    // Armed before admission closes: with no sessions, on_drained runs at once and must
    // find a timer to cancel.
    deadline_.expires_after(grace);
    deadline_.async_wait([this](const error_code& ec) { on_deadline(ec); });
    log_event(log_level::debug, "drain_begin", "draining sessions",
              {{"sessions", context_->registry.size()}, {"grace_ms", grace}});
    begin_shutdown();
  });
}

void server::abort() {
  asio::dispatch(executor_, [this] {
    if (state_ == state::stopped) return;
    if (state_ != state::draining) begin_shutdown();
    close_all_sessions();
  });
}

void server::begin_shutdown() {
  state_ = state::draining;
  drain_started_ = std::chrono::steady_clock::now();
  drain_sessions_ = context_->registry.size();
  for (auto& l : listeners_) l->stop();
  auto live = context_->registry.close_admission([this] { asio::post(executor_, [this] { on_drained(); }); });
  for (auto& s : live) s->drain();
}

void server::on_deadline(const error_code& ec) {
  if (ec == asio::error::operation_aborted || state_ != state::draining) return;
  const auto left = context_->registry.size();
  if (left != 0)
    log_event(log_level::warn, "shutdown_deadline", "shutdown deadline reached: closing sessions",
              {{"sessions", left}});
  close_all_sessions();
}

void server::close_all_sessions() {
  for (auto& s : context_->registry.snapshot()) s->close();
}

void server::do_sweep() {
  sweep_.expires_after(detail::session_context::tick);
  sweep_.async_wait([this](const error_code& ec) { on_sweep(ec); });
}

void server::on_sweep(const error_code& ec) {
  if (ec == asio::error::operation_aborted || state_ == state::stopped) return;
  const auto now = context_->now_tick.fetch_add(1, std::memory_order_relaxed) + 1;
  logger::instance().flush_suppressed(logger::now());
  context_->registry.select(
      [&](const detail::session_base& s) -> std::vector<std::shared_ptr<detail::session_base>>* {
        const auto due = s.deadline();
        return due != 0 && now >= due ? &due_ : nullptr;
      });
  for (auto& s : due_) s->expire();
  due_.clear();
  // A sweep that expired thousands of sessions at once must not pin that much capacity.
  if (due_.capacity() > 1024) due_.shrink_to_fit();
  do_sweep();
}

void server::on_drained() {
  if (state_ == state::stopped) return;
  state_ = state::stopped;
  deadline_.cancel();
  sweep_.cancel();
  log_summary();
  if (on_stopped_) on_stopped_();
}

void server::log_summary() const {
  // Whatever the rate limits held back is reported now, before the totals.
  logger::instance().flush_suppressed(logger::now(), /*force=*/true);
  const auto& c = context_->counters;
  const auto total = bytes();
  // Only the deadline and abort() force sessions closed: every other one finished by itself.
  const auto forced = stats::get(c.forced_closes);
  const auto graceful = drain_sessions_ > forced ? drain_sessions_ - forced : 0;
  log_event(log_level::info, "shutdown_summary", "all sessions closed",
            {{"drain_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - drain_started_)},
             {"sessions", drain_sessions_},
             {"graceful", graceful},
             {"forced", forced},
             {"accepted", stats::get(c.accepted)},
             {"refused", stats::get(c.rejected) + stats::get(c.shed)},
             {"bytes_in", total.received},
             {"bytes_out", total.sent}});
}

const stats& server::counters() const noexcept { return context_->counters; }

std::string server::reload_tls() { return tls_ ? tls_->reload() : std::string(); }

byte_totals server::bytes() const noexcept {
  byte_totals total;
  for (const auto& l : context_->listeners) {
    total.received += stats::get(l.bytes_received);
    total.sent += stats::get(l.bytes_sent);
  }
  return total;
}

std::size_t server::session_count() const noexcept { return context_->registry.size(); }

connection_list server::connections() const {
  connection_list out;
  out.closed_capacity = context_->history.capacity();
  if (!context_->history.enabled()) return out;
  // Each owner is held while its record is read, so no session is destroyed under us.
  for (const auto& s : context_->registry.snapshot()) {
    if (auto r = s->record()) out.open.push_back(std::move(*r));
  }
  std::sort(out.open.begin(), out.open.end(),
            [](const connection_record& a, const connection_record& b) { return a.id < b.id; });
  out.closed = context_->history.latest(out.closed_total);
  return out;
}

}  // namespace echo
