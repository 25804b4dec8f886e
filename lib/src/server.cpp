#include "echo/server.hpp"

#include <boost/asio/detail/reactor.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>

#include "echo/logger.hpp"
#include "echo/object_executor.hpp"
#include "echo/session_base.hpp"
#include "echo/session_context.hpp"
#include "echo/setup_error.hpp"
#include "echo/tcp_listener.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace echo {
namespace {

std::unique_ptr<tcp_listener> make_default_listener(asio::io_context& io, const config& cfg,
                                                    std::shared_ptr<session_context> context,
                                                    bool multi_threaded) {
  try {
    return std::make_unique<tcp_listener>(io, tcp::endpoint(tcp::v6(), cfg.port), context,
                                          multi_threaded, cfg.backlog);
  } catch (const setup_error& e) {
    // A kernel without IPv6 (ipv6.disable=1): serve IPv4 alone rather than nothing.
    if (e.code() != std::errc::address_family_not_supported) throw;
    log_info("IPv6 unavailable ({}); listening on IPv4 only", e.what());
  }
  return std::make_unique<tcp_listener>(io, tcp::endpoint(tcp::v4(), cfg.port), context,
                                        multi_threaded, cfg.backlog);
}

}  // namespace

server::server(asio::io_context& io, const config& cfg, bool multi_threaded)
    : executor_(object_executor(io, multi_threaded)),
      context_(std::make_shared<session_context>(multi_threaded, cfg)),
      deadline_(executor_),
      sweep_(executor_) {
  context_->reactor = &asio::use_service<asio::detail::reactor>(io);
  std::unique_ptr<tcp_listener> tcp;
  if (cfg.bind) {
    const auto address = asio::ip::make_address(*cfg.bind);  // validated by the parser
    tcp = std::make_unique<tcp_listener>(io, tcp::endpoint(address, cfg.port), context_,
                                         multi_threaded, cfg.backlog);
  } else {
    tcp = make_default_listener(io, cfg, context_, multi_threaded);
  }
  port_ = tcp->local_endpoint().port();
  listeners_.push_back(std::move(tcp));
}

server::~server() { context_->registry.clear_on_empty(); }

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
    const auto live = context_->registry.size();
    log_info("shutting down: {} session(s) get up to {} ms to finish", live, grace.count());
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
  for (auto& l : listeners_) l->stop();
  auto live = context_->registry.close_admission(
      [this] { asio::post(executor_, [this] { on_drained(); }); });
  for (auto& s : live) s->drain();
}

void server::on_deadline(const error_code& ec) {
  if (ec == asio::error::operation_aborted || state_ != state::draining) return;
  const auto left = context_->registry.size();
  if (left != 0) log_warn("shutdown deadline reached: closing {} session(s)", left);
  close_all_sessions();
}

void server::close_all_sessions() {
  for (auto& s : context_->registry.snapshot()) s->close();
}

void server::do_sweep() {
  sweep_.expires_after(session_context::tick);
  sweep_.async_wait([this](const error_code& ec) { on_sweep(ec); });
}

void server::on_sweep(const error_code& ec) {
  if (ec == asio::error::operation_aborted || state_ == state::stopped) return;
  const auto now = context_->now_tick.fetch_add(1, std::memory_order_relaxed) + 1;
  context_->registry.select([&](const session_base& s) -> std::vector<std::shared_ptr<session_base>>* {
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
  log_info("all sessions closed");
  if (on_stopped_) on_stopped_();
}

const stats& server::counters() const noexcept { return context_->counters; }

std::size_t server::session_count() const noexcept { return context_->registry.size(); }

}  // namespace echo
