#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>

#include <boost/asio/basic_socket_acceptor.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "echo/listener.hpp"
#include "echo/listener_spec.hpp"

namespace echo::detail {

struct session_context;
class tls_context;
struct session_trace;

/// What a stream listener takes from the server-wide configuration.
struct stream_listen_options {
  int backlog = 4096;
  bool reuse_port = false;            ///< SO_REUSEPORT (TCP and MPTCP)
  std::optional<unsigned> unix_mode;  ///< for unix paths without their own mode
  std::shared_ptr<tls_context> tls;   ///< what tls:// listeners serve with
};

/// Stream accept loop, for TCP, MPTCP (`Protocol` tcp, opened as IPPROTO_MPTCP) and Unix
/// stream sockets (`Protocol` local::stream_protocol). It never dies and never spins:
/// - operation_aborted / closed acceptor: stop;
/// - EMFILE, ENFILE, ENOBUFS, ENOMEM: close the waiting clients (using a reserve fd), then
///   pause accepting on a timer with exponential backoff, logging at most once per second;
/// - at max_connections: accept and close at once; existing sessions are untouched;
/// - anything else: log (rate-limited) and go on; a run of such errors also backs off.
template <class Protocol>
class stream_listener final : public listener {
 public:
  using endpoint_type = typename Protocol::endpoint;
  static constexpr bool is_unix = std::is_same_v<Protocol, boost::asio::local::stream_protocol>;

  /// Opens, binds and listens on `endpoint` with `spec`'s options (kind tcp, mptcp or unix;
  /// v6only; mode; service). A unix path is bound only if nothing listens there: a stale
  /// socket file is replaced, a live one or any other file is an error; the file is removed
  /// again when the listener is destroyed. Throws setup_error naming the address on failure.
  stream_listener(boost::asio::io_context& io, const endpoint_type& endpoint, const listener_spec& spec,
                  std::shared_ptr<session_context> context, bool use_strands,
                  const stream_listen_options& options);
  /// Adopts `fd`, a TCP socket already bound and listening (passed by a service manager),
  /// and gives it the options the other constructor gives a socket it binds. Owns `fd` from
  /// the call on, closing it also when it throws setup_error naming the fd: not open, not a
  /// socket, not IPv4/IPv6, not TCP, or not listening.
  stream_listener(boost::asio::io_context& io, int fd, std::shared_ptr<session_context> context,
                  bool use_strands);
  ~stream_listener() override;

  void start() override;
  void stop() override;
  std::string_view kind() const noexcept override { return kind_; }
  std::string address() const override;
  std::string name() const override;
  std::uint16_t port() const noexcept override;
  const listener_stats* counters() const noexcept override { return counters_; }
  bool reads_proxy_header() const noexcept override { return proxy_ != proxy_protocol::off; }

  endpoint_type local_endpoint() const { return local_; }

  /// The listener faults, as the connect phase allows them (see README): `refuse` stops
  /// listening (connects fail with ECONNREFUSED), `no_accept` stops accepting and keeps the
  /// accept queue full (connects time out), `none` serves again. Thread-safe; IP listeners
  /// only (a Unix listener ignores it).
  enum class connect_fault : std::uint8_t { none, no_accept, refuse };
  void set_connect_fault(connect_fault fault);

  /// Connections taken per accept completion at most (HAProxy's maxaccept, nginx's
  /// multi_accept): one accept per completion waits behind every other ready handler each
  /// time, so under load a burst of connects sat in the backlog for a second; more per
  /// completion would hold the sessions already served back for longer.
  static constexpr int accept_batch = 16;
  static constexpr std::chrono::milliseconds min_pause{10};
  static constexpr std::chrono::milliseconds max_pause{500};

 private:
  void open(const endpoint_type& endpoint, const listener_spec& spec, const stream_listen_options& options);
  void bind_unix(const endpoint_type& endpoint, const listener_spec& spec,
                 const stream_listen_options& options);
  void prepare(const endpoint_type& endpoint);
  void do_accept();
  template <class Socket>
  void on_accept(const boost::system::error_code& ec, Socket socket);
  template <class Socket>
  void take(Socket socket);
  template <class Socket>
  void reject(Socket& socket, bool descriptors = false);
  template <class Session>
  void admit(std::shared_ptr<Session> session, std::unique_ptr<session_trace> trace);
  void on_accept_error(const boost::system::error_code& ec);
  void do_pause(const boost::system::error_code& cause);
  std::size_t shed_pending() noexcept;
  void on_resume(const boost::system::error_code& ec);
  void apply_connect_fault(connect_fault fault);
  void enter_no_accept();
  void leave_connect_fault();
  template <class Socket>
  bool is_filler(Socket& socket);

  boost::asio::io_context& io_;
  boost::asio::basic_socket_acceptor<Protocol> acceptor_;
  boost::asio::steady_timer pause_timer_;
  endpoint_type local_;
  std::shared_ptr<session_context> context_;
  std::uint16_t counters_index_ = 0;
  listener_stats* counters_ = nullptr;  ///< in context_->listeners, so sessions outlive us safely
  const bool use_strands_;
  std::string_view kind_ = "tcp";
  service_kind service_ = service_kind::echo;
  proxy_protocol proxy_ = proxy_protocol::off;
  std::shared_ptr<tls_context> tls_;  ///< set: every session speaks TLS
  /// The socket file this listener created (unix paths), removed when it goes; its inode,
  /// so that a file some later process bound there is left alone.
  std::string owned_path_;
  ino_t owned_inode_ = 0;
  bool stopped_ = false;
  bool started_ = false;
  int backlog_ = 4096;
  connect_fault connect_fault_ = connect_fault::none;
  /// no-accept's own connection, which fills the accept queue; once no-accept ends it is
  /// told from clients by its address (for a bounded number of accepts) and closed.
  int filler_fd_ = -1;
  std::optional<endpoint_type> filler_peer_;
  unsigned filler_checks_ = 0;
  bool nodelay_inherited_ = false;  ///< accepted sockets came with TCP_NODELAY from the listener
  unsigned consecutive_errors_ = 0;
  std::chrono::milliseconds pause_{min_pause};
  // An fd held back (on /dev/null) so that, out of descriptors, the listener can still
  // accept-and-close waiting clients instead of leaving them hanging in the backlog.
  int reserve_fd_ = -1;
};

}  // namespace echo::detail

namespace echo::detail {
using tcp_listener = stream_listener<boost::asio::ip::tcp>;
using unix_listener = stream_listener<boost::asio::local::stream_protocol>;
}  // namespace echo::detail
