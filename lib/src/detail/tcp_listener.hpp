#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <chrono>
#include <cstdint>
#include <memory>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "echo/listener.hpp"

namespace echo::detail {

struct session_context;

/// TCP accept loop. It never dies and never spins:
/// - operation_aborted / closed acceptor: stop;
/// - EMFILE, ENFILE, ENOBUFS, ENOMEM: close the waiting clients (using a reserve fd), then
///   pause accepting on a timer with exponential backoff, logging at most once per second;
/// - at max_connections: accept and close at once; existing sessions are untouched;
/// - anything else: log (rate-limited) and go on; a run of such errors also backs off.
class tcp_listener final : public listener {
 public:
  /// Opens, binds and listens; with `reuse_port`, sets SO_REUSEPORT before binding. Throws
  /// setup_error naming the address on failure.
  tcp_listener(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint,
               std::shared_ptr<session_context> context, bool use_strands, int backlog, bool reuse_port);
  /// Adopts `fd`, a socket already bound and listening (passed by a service manager), and
  /// gives it the options the other constructor gives a socket it binds. Owns `fd` from the
  /// call on, closing it also when it throws setup_error naming the fd: not open, not a
  /// socket, not IPv4/IPv6, not TCP, or not listening.
  tcp_listener(boost::asio::io_context& io, int fd, std::shared_ptr<session_context> context,
               bool use_strands);
  ~tcp_listener() override;

  void start() override;
  void stop() override;
  std::string_view kind() const noexcept override { return "tcp"; }
  std::string address() const override;
  std::uint16_t port() const noexcept override { return local_.port(); }
  const listener_stats* counters() const noexcept override { return counters_; }

  boost::asio::ip::tcp::endpoint local_endpoint() const { return local_; }

  static constexpr std::chrono::milliseconds min_pause{10};
  static constexpr std::chrono::milliseconds max_pause{500};

 private:
  void prepare(const boost::asio::ip::tcp::endpoint& endpoint);
  void do_accept();
  template <class Socket>
  void on_accept(const boost::system::error_code& ec, Socket socket);
  template <class Socket>
  void reject(Socket& socket);
  void on_accept_error(const boost::system::error_code& ec);
  void do_pause(const boost::system::error_code& cause);
  std::size_t shed_pending() noexcept;
  void on_resume(const boost::system::error_code& ec);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer pause_timer_;
  boost::asio::ip::tcp::endpoint local_;
  std::shared_ptr<session_context> context_;
  std::uint16_t counters_index_ = 0;
  listener_stats* counters_ = nullptr;  ///< in context_->listeners, so sessions outlive us safely
  const bool use_strands_;
  bool stopped_ = false;
  bool nodelay_inherited_ = false;  ///< accepted sockets came with TCP_NODELAY from the listener
  unsigned consecutive_errors_ = 0;
  std::chrono::milliseconds pause_{min_pause};
  // An fd held back (on /dev/null) so that, out of descriptors, the listener can still
  // accept-and-close waiting clients instead of leaving them hanging in the backlog.
  int reserve_fd_ = -1;
};

}  // namespace echo::detail
