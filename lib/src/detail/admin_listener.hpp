#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "detail/admin_limits.hpp"
#include "echo/listener_spec.hpp"

namespace echo::detail {

class admin_routes;
class admin_session;

/// The HTTP admin listener: accepts connections on its own socket and serves each with an
/// admin_session on that session's executor (a strand when several threads run), on the
/// same io_context as the echo listeners. At most `max_connections` sessions live at once;
/// a connection above that is accepted and closed at once, like the echo listeners' cap.
/// stop() closes the socket and every live admin connection, so the io_context can run out
/// of work.
class admin_listener {
 public:
  /// Opens, binds and listens (an unset address: [::] dual-stack, else 0.0.0.0). Throws
  /// setup_error naming the address.
  admin_listener(boost::asio::io_context& io, const listener_spec& spec, bool use_strands,
                 std::shared_ptr<const admin_routes> routes, admin_limits limits = {});
  admin_listener(const admin_listener&) = delete;
  admin_listener& operator=(const admin_listener&) = delete;
  ~admin_listener();

  /// Begins accepting.
  void start();
  /// Stops accepting and closes every admin connection (thread-safe, idempotent).
  void stop();

  /// The real bound address, e.g. "127.0.0.1:9100".
  std::string address() const;
  /// "http://127.0.0.1:9100", as ready lines and log events name listeners.
  std::string name() const { return "http://" + address(); }
  std::uint16_t port() const noexcept { return local_.port(); }

  static constexpr std::chrono::milliseconds error_pause{100};

 private:
  void do_accept();
  void on_accept(const boost::system::error_code& ec, boost::asio::ip::tcp::socket socket);
  void on_resume(const boost::system::error_code& ec);
  std::size_t live_sessions();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_timer_;
  boost::asio::ip::tcp::endpoint local_;
  std::shared_ptr<const admin_routes> routes_;
  const admin_limits limits_;
  const bool use_strands_;
  bool stopped_ = false;
  // Weak: a session lives as long as its operations; these let stop() reach the live ones
  // and tell how many there are (expired entries are pruned on each accept).
  std::vector<std::weak_ptr<admin_session>> sessions_;
};

}  // namespace echo::detail
