#include "detail/admin_listener.hpp"

#include <algorithm>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>

#include "detail/admin_routes.hpp"
#include "detail/admin_session.hpp"
#include "detail/object_executor.hpp"
#include "echo/endpoint_text.hpp"
#include "echo/logger.hpp"
#include "echo/setup_error.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace echo::detail {
namespace {

// Opens, binds and listens on `endpoint`; the error and what failed, or {} on success.
error_code open_acceptor(tcp::acceptor& acceptor, const tcp::endpoint& endpoint, const char*& what) {
  error_code ec;
  what = "open a socket for";
  acceptor.open(endpoint.protocol(), ec);
  if (ec) return ec;
  what = "set SO_REUSEADDR on";
  acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (ec) return ec;
  if (endpoint.address().is_v6() && endpoint.address().is_unspecified()) {
    what = "clear IPV6_V6ONLY on";
    acceptor.set_option(asio::ip::v6_only(false), ec);
    if (ec) return ec;
  }
  what = "bind";
  acceptor.bind(endpoint, ec);
  if (ec) return ec;
  what = "listen on";
  acceptor.listen(asio::socket_base::max_listen_connections, ec);
  return ec;
}

}  // namespace

admin_listener::admin_listener(asio::io_context& io, const listener_spec& spec, bool use_strands,
                               std::shared_ptr<const admin_routes> routes, admin_limits limits)
    : io_(io),
      acceptor_(object_executor(io, use_strands)),
      pause_timer_(acceptor_.get_executor()),
      routes_(std::move(routes)),
      limits_(limits),
      use_strands_(use_strands) {
  tcp::endpoint endpoint(spec.address ? *spec.address : asio::ip::address(asio::ip::address_v6::any()),
                         spec.port);
  const char* what = "";
  auto ec = open_acceptor(acceptor_, endpoint, what);
  if (ec == std::errc::address_family_not_supported && !spec.address) {
    // A kernel without IPv6: serve IPv4 alone rather than nothing.
    error_code ignored;
    acceptor_.close(ignored);
    endpoint = tcp::endpoint(tcp::v4(), spec.port);
    ec = open_acceptor(acceptor_, endpoint, what);
  }
  if (!ec) {
    what = "read the bound address of";
    local_ = acceptor_.local_endpoint(ec);
  }
  if (ec)
    throw setup_error(
        fmt::format("cannot {} admin listener http://{}: {}", what, endpoint_text(endpoint), ec.message()),
        ec);
}

admin_listener::~admin_listener() = default;

std::string admin_listener::address() const { return endpoint_text(local_); }

void admin_listener::start() {
  asio::dispatch(acceptor_.get_executor(), [this] { do_accept(); });
}

void admin_listener::stop() {
  asio::dispatch(acceptor_.get_executor(), [this] {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    pause_timer_.cancel();
    for (auto& weak : sessions_) {
      if (auto s = weak.lock()) s->stop();
    }
    sessions_.clear();
  });
}

std::size_t admin_listener::live_sessions() {
  std::erase_if(sessions_, [](const std::weak_ptr<admin_session>& s) { return s.expired(); });
  return sessions_.size();
}

void admin_listener::do_accept() {
  if (stopped_) return;
  // Each connection gets its own executor: a strand when several threads run.
  acceptor_.async_accept(
      object_executor(io_, use_strands_),
      [this](const error_code& ec, tcp::socket socket) { on_accept(ec, std::move(socket)); });
}

void admin_listener::on_accept(const error_code& ec, tcp::socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // Out of descriptors, most likely: retrying at once would spin.
    static log_limit limit(log_level::warn, "admin_accept_error");
    log_event(limit, "admin accept failed: pausing", {{"listener", name()}, {"error", ec.message()}});
    pause_timer_.expires_after(error_pause);
    pause_timer_.async_wait([this](const error_code& e) { on_resume(e); });
    return;
  }
  if (live_sessions() >= limits_.max_connections) {
    // Policy: accept and close at once, as the echo listeners do at their cap.
    static log_limit limit(log_level::warn, "admin_refused");
    log_event(limit, "admin connection refused: at its connection limit",
              {{"reason", "limit"}, {"max_connections", limits_.max_connections}});
    error_code ignored;
    socket.close(ignored);
    do_accept();
    return;
  }
  auto session = std::make_shared<admin_session>(std::move(socket), routes_, limits_);
  sessions_.push_back(session);
  session->start();
  do_accept();
}

void admin_listener::on_resume(const error_code& ec) {
  if (ec == asio::error::operation_aborted || stopped_) return;
  do_accept();
}

}  // namespace echo::detail
