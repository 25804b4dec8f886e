#include "detail/stream_listener.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>
#include <type_traits>

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/strand.hpp>

#include "detail/object_executor.hpp"
#include "detail/pipe_pool.hpp"
#include "detail/read_path.hpp"
#include "detail/session_context.hpp"
#include "detail/session_trace.hpp"
#include "detail/stream_session.hpp"
#include "detail/tls_session.hpp"
#include "echo/endpoint_text.hpp"
#include "echo/listen_url.hpp"
#include "echo/logger.hpp"
#include "echo/setup_error.hpp"

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;

namespace echo::detail {
namespace {

// Out of descriptors or kernel memory: accepting again at once would fail again at once.
bool is_resource_exhaustion(const error_code& ec) noexcept {
  return ec == asio::error::no_descriptors || ec == asio::error::no_buffer_space ||
         ec == asio::error::no_memory || ec == error_code(ENFILE, boost::system::system_category());
}

using local_protocol = asio::local::stream_protocol;

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

// "/run/echo.sock", or "@name" for the abstract namespace (whose name starts with a NUL).
std::string local_text(const local_protocol::endpoint& ep) {
  std::string path = ep.path();
  if (!path.empty() && path.front() == '\0') path.front() = '@';
  return path;
}

std::string text_of(const tcp::endpoint& ep) { return endpoint_text(ep); }
std::string text_of(const local_protocol::endpoint& ep) { return local_text(ep); }

template <class Endpoint>
[[noreturn]] void fail(const std::string& what, const Endpoint& ep, const error_code& ec) {
  throw setup_error(fmt::format("cannot {} {}: {}", what, text_of(ep), ec.message()), ec);
}

using reuse_port_option = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

int socket_option(int fd, int name, int& value) noexcept {
  socklen_t len = sizeof value;
  return ::getsockopt(fd, SOL_SOCKET, name, &value, &len) == 0 ? 0 : errno;
}

// The checks sd_is_socket_inet(fd, 0, SOCK_STREAM, 1, 0) makes, plus TCP itself; returns
// the protocol to adopt `fd` as. Closes `fd` before throwing: the caller gave it up.
tcp check_adoptable(int fd) {
  const auto reject = [fd](std::string_view why, std::errc code) {
    ::close(fd);
    throw setup_error(fmt::format("cannot adopt fd {} from the service manager: {}", fd, why),
                      std::make_error_code(code));
  };
  int domain = 0;
  if (const int e = socket_option(fd, SO_DOMAIN, domain); e != 0) {
    if (e == EBADF) {
      throw setup_error(
          fmt::format("cannot adopt fd {} from the service manager: not an open descriptor", fd),
          std::make_error_code(std::errc::bad_file_descriptor));
    }
    reject(e == ENOTSOCK ? "not a socket" : std::strerror(e), std::errc::not_a_socket);
  }
  if (domain != AF_INET && domain != AF_INET6)
    reject(domain == AF_UNIX ? "a Unix socket, not IPv4 or IPv6"
                             : fmt::format("address family {}, not IPv4 or IPv6", domain),
           std::errc::address_family_not_supported);
  int type = 0;
  if (const int e = socket_option(fd, SO_TYPE, type); e != 0)
    reject(std::strerror(e), std::errc::not_a_socket);
  if (type != SOCK_STREAM)
    reject(type == SOCK_DGRAM ? "a datagram socket, not a stream socket"
                              : fmt::format("socket type {}, not a stream socket", type),
           std::errc::wrong_protocol_type);
  int protocol = 0;
  if (const int e = socket_option(fd, SO_PROTOCOL, protocol); e != 0)
    reject(std::strerror(e), std::errc::not_a_socket);
  if (protocol != IPPROTO_TCP)
    reject(fmt::format("protocol {}, not TCP", protocol), std::errc::protocol_not_supported);
  int listening = 0;
  if (const int e = socket_option(fd, SO_ACCEPTCONN, listening); e != 0)
    reject(std::strerror(e), std::errc::not_a_socket);
  if (listening == 0)
    reject("not listening (a bound, listening socket is expected)", std::errc::invalid_argument);
  // The socket must not leak into children; sd_listen_fds() sets this for the same reason.
  if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) reject(std::strerror(errno), std::errc::bad_file_descriptor);
  return domain == AF_INET ? tcp::v4() : tcp::v6();
}

}  // namespace

template <class Protocol>
stream_listener<Protocol>::stream_listener(asio::io_context& io, const endpoint_type& endpoint,
                                           const listener_spec& spec,
                                           std::shared_ptr<session_context> context, bool use_strands,
                                           const stream_listen_options& options)
    : io_(io),
      acceptor_(object_executor(io, use_strands)),
      pause_timer_(acceptor_.get_executor()),
      context_(std::move(context)),
      use_strands_(use_strands),
      kind_(to_string(spec.kind)),
      service_(spec.service),
      proxy_(spec.proxy),
      tls_(spec.kind == transport::tls ? options.tls : nullptr) {
  if (spec.kind == transport::tls && !tls_)
    throw setup_error(
        fmt::format("cannot listen on {}: no TLS certificate configured", format_listen_url(spec)),
        std::make_error_code(std::errc::invalid_argument));
  open(endpoint, spec, options);
  prepare(endpoint);
}

template <class Protocol>
void stream_listener<Protocol>::open(const endpoint_type& endpoint, const listener_spec& spec,
                                     const stream_listen_options& options) {
  error_code ec;
  if constexpr (is_unix) {
    bind_unix(endpoint, spec, options);
    return;
  } else {
    if (spec.kind == transport::mptcp) {
      // Asio's tcp protocol always asks for IPPROTO_TCP; MPTCP is the same stream API with
      // another protocol number, so the socket is made here and handed over.
      const int fd = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
      if (fd < 0) {
        const error_code e(errno, boost::system::system_category());
        if (errno == EPROTONOSUPPORT || errno == EINVAL || errno == ENOPROTOOPT)
          throw setup_error(fmt::format("cannot listen on mptcp://{}: this kernel has no multipath TCP ({}; "
                                        "needs CONFIG_MPTCP and sysctl net.mptcp.enabled=1)",
                                        text_of(endpoint), e.message()),
                            e);
        fail("open an MPTCP socket for", endpoint, e);
      }
      acceptor_.assign(endpoint.protocol(), fd, ec);
      if (ec) {
        ::close(fd);
        fail("adopt the MPTCP socket for", endpoint, ec);
      }
    } else {
      acceptor_.open(endpoint.protocol(), ec);
      if (ec) fail("open a socket for", endpoint, ec);
    }
    // SO_REUSEADDR lets a restarted server bind while old connections sit in TIME_WAIT; on
    // Linux it does not let two live listeners share a port, so "in use" is still detected.
    acceptor_.set_option(typename asio::basic_socket_acceptor<Protocol>::reuse_address(true), ec);
    if (ec) fail("set SO_REUSEADDR on", endpoint, ec);
    if (options.reuse_port) {
      // Several processes (or listeners) bind the same port; the kernel spreads new
      // connections among them by a hash of the 4-tuple. All of them must set it.
      acceptor_.set_option(reuse_port_option(true), ec);
      if (ec) fail("set SO_REUSEPORT on", endpoint, ec);
    }
    // [::] serves IPv4 too (as v4-mapped addresses), whatever net.ipv6.bindv6only says,
    // unless the listener asks for IPv6 only.
    if (endpoint.address().is_v6() && (spec.v6only || endpoint.address().is_unspecified())) {
      acceptor_.set_option(asio::ip::v6_only(spec.v6only.value_or(false)), ec);
      if (ec) fail("set IPV6_V6ONLY on", endpoint, ec);
    }
    acceptor_.bind(endpoint, ec);
    if (ec) fail("bind", endpoint, ec);
    backlog_ = options.backlog;
    acceptor_.listen(options.backlog, ec);
    if (ec) fail("listen on", endpoint, ec);
  }
}

template <class Protocol>
void stream_listener<Protocol>::bind_unix(const endpoint_type& endpoint, const listener_spec& spec,
                                          const stream_listen_options& options) {
  if constexpr (is_unix) {
    error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (ec) fail("open a socket for", endpoint, ec);
    const bool abstract = !spec.path.empty() && spec.path.front() == '@';
    if (!abstract) {
      struct stat st {};
      if (::lstat(spec.path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
          fail("bind", endpoint, error_code(EEXIST, boost::system::system_category()));
        // Only a file nobody listens on is stale: a live server keeps its socket.
        local_protocol::socket probe(io_);
        error_code connect_ec;
        probe.connect(endpoint, connect_ec);
        if (!connect_ec)
          throw setup_error(fmt::format("cannot bind {}: another process is listening there", spec.path),
                            std::make_error_code(std::errc::address_in_use));
        if (connect_ec != asio::error::connection_refused)
          fail("check whether something listens on", endpoint, connect_ec);
        if (::unlink(spec.path.c_str()) != 0 && errno != ENOENT)
          fail("remove the stale socket file", endpoint, error_code(errno, boost::system::system_category()));
        log_event(log_level::info, "unix_stale_socket_replaced", "replaced a stale socket file",
                  {{"path", spec.path}});
      }
    }
    acceptor_.bind(endpoint, ec);
    if (ec) fail("bind", endpoint, ec);
    if (!abstract) {
      struct stat st {};
      if (::stat(spec.path.c_str(), &st) == 0) {
        owned_path_ = spec.path;
        owned_inode_ = st.st_ino;
      }
      // Before listen(): until then a connect is refused, so there is no window in which
      // the file's mode is looser than asked.
      if (const auto mode = spec.mode ? spec.mode : options.unix_mode; mode) {
        if (::chmod(spec.path.c_str(), static_cast<mode_t>(*mode)) != 0)
          fail("set the mode of", endpoint, error_code(errno, boost::system::system_category()));
      }
    }
    backlog_ = options.backlog;
    acceptor_.listen(options.backlog, ec);
    if (ec) fail("listen on", endpoint, ec);
  }
}

template <class Protocol>
stream_listener<Protocol>::stream_listener(asio::io_context& io, int fd,
                                           std::shared_ptr<session_context> context, bool use_strands)
    : io_(io),
      acceptor_(object_executor(io, use_strands)),
      pause_timer_(acceptor_.get_executor()),
      context_(std::move(context)),
      use_strands_(use_strands) {
  if constexpr (is_unix) {
    ::close(fd);
    throw setup_error("only TCP sockets can be adopted", std::make_error_code(std::errc::not_supported));
  } else {
    const auto protocol = check_adoptable(fd);
    error_code ec;
    acceptor_.assign(protocol, fd, ec);
    if (ec) {
      ::close(fd);
      throw setup_error(fmt::format("cannot adopt fd {} from the service manager: {}", fd, ec.message()), ec);
    }
    const auto endpoint = acceptor_.local_endpoint(ec);
    if (ec)
      throw setup_error(fmt::format("cannot read the address of adopted fd {}: {}", fd, ec.message()), ec);
    // Bound and listening already (by the service manager, with its Backlog= and options);
    // what follows is what every listener gets.
    prepare(endpoint);
  }
}

// The options every listening socket gets, bound here or adopted.
template <class Protocol>
void stream_listener<Protocol>::prepare(const endpoint_type& endpoint) {
  error_code ec;
  if constexpr (!is_unix) {
    acceptor_.set_option(tcp::no_delay(true), ec);  // inherited by accepted sockets (on_accept)
    if (ec) fail("set TCP_NODELAY on", endpoint, ec);
    // Inherited by every accepted socket: lets their reads skip the recv that would only
    // say EAGAIN (see pooled_read_op). Old kernels (and MPTCP on some) lack it; reads then
    // cost one more recv.
    if (!report_queued_bytes(acceptor_.native_handle()))
      log_event(log_level::info, "tcp_inq_unavailable", "TCP_INQ unavailable: one more recv per message",
                {{"listener", std::string(kind_) + "://" + text_of(endpoint)}});
  }
  local_ = acceptor_.local_endpoint(ec);
  if (ec) fail("read the bound address of", endpoint, ec);
  // shed_pending() calls accept4 directly and must never block.
  acceptor_.non_blocking(true, ec);
  if (ec) fail("make non-blocking", endpoint, ec);
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  // Last, once nothing can throw: a failed bind leaves no counters behind.
  counters_index_ = context_->add_listener();
  counters_ = &context_->listeners[counters_index_];
}

template <class Protocol>
stream_listener<Protocol>::~stream_listener() {
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
  if (filler_fd_ >= 0) ::close(filler_fd_);
  if (!owned_path_.empty()) {
    // Only our own file: a later server may have replaced it after a stale-file check.
    struct stat st {};
    if (::stat(owned_path_.c_str(), &st) == 0 && st.st_ino == owned_inode_) ::unlink(owned_path_.c_str());
  }
}

template <class Protocol>
std::string stream_listener<Protocol>::address() const {
  return text_of(local_);
}

template <class Protocol>
std::string stream_listener<Protocol>::name() const {
  if constexpr (is_unix) {
    const auto path = text_of(local_);
    return path.front() == '@' ? "unix:" + path : "unix://" + path;
  } else {
    return std::string(kind_) + "://" + text_of(local_);
  }
}

template <class Protocol>
std::uint16_t stream_listener<Protocol>::port() const noexcept {
  if constexpr (is_unix) return 0;
  else return local_.port();
}

template <class Protocol>
void stream_listener<Protocol>::start() {
  asio::dispatch(acceptor_.get_executor(), [this] {
    started_ = true;
    do_accept();
  });
}

template <class Protocol>
void stream_listener<Protocol>::set_connect_fault(connect_fault fault) {
  asio::dispatch(acceptor_.get_executor(), [this, fault] { apply_connect_fault(fault); });
}

template <class Protocol>
void stream_listener<Protocol>::apply_connect_fault(connect_fault fault) {
  if constexpr (is_unix) {
    (void)fault;
  } else {
    if (stopped_ || fault == connect_fault_) return;
    if (connect_fault_ != connect_fault::none) leave_connect_fault();
    connect_fault_ = fault;
    if (fault == connect_fault::none) {
      log_event(log_level::info, "listener_fault_end", "listener fault removed: accepting",
                {{"listener", name()}});
      if (started_) do_accept();
      return;
    }
    error_code ignored;
    acceptor_.cancel(ignored);  // the pending accept completes aborted and does not re-arm
    pause_timer_.cancel();
    const auto kind = fault == connect_fault::refuse ? fault_kind::refuse : fault_kind::no_accept;
    context_->faults.count_fired(counters_index_, kind);
    if (fault == connect_fault::refuse) {
      // shutdown(SHUT_RD) takes a listening socket out of LISTEN: queued and new connects
      // are refused. The descriptor stays ours, so the same socket listens again later.
      ::shutdown(acceptor_.native_handle(), SHUT_RD);
      // Bound to port 0, the socket gave its port back as it stopped listening (it still
      // reports it): take the same one again (SO_REUSEADDR is set) so that the listener
      // comes back where it was. A socket bound to a port by number kept it: EINVAL.
      error_code ec;
      acceptor_.bind(local_, ec);
      if (ec == asio::error::invalid_argument) ec.clear();
      if (ec)
        log_event(log_level::error, "listener_fault_error", "refuse: cannot keep the port",
                  {{"listener", name()}, {"error", ec.message()}});
    } else {
      enter_no_accept();
    }
    log_event(log_level::info, "listener_fault", "listener fault in effect",
              {{"listener", name()}, {"fault", to_string(kind)}});
  }
}

template <class Protocol>
void stream_listener<Protocol>::enter_no_accept() {
  if constexpr (!is_unix) {
    // The kernel completes backlog+1 handshakes without accept(); with backlog 0 and our
    // own connection in that one slot, every later SYN is dropped: connects time out.
    error_code ec;
    acceptor_.listen(0, ec);
    auto target = local_;
    if (target.address().is_unspecified())
      target.address(target.address().is_v6() ? asio::ip::address(asio::ip::address_v6::loopback())
                                              : asio::ip::address(asio::ip::address_v4::loopback()));
    filler_fd_ = ::socket(target.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (filler_fd_ < 0) return;
    if (::connect(filler_fd_, target.data(), static_cast<socklen_t>(target.size())) != 0 &&
        errno != EINPROGRESS) {
      ::close(filler_fd_);
      filler_fd_ = -1;
      return;
    }
    endpoint_type self;
    auto len = static_cast<socklen_t>(self.capacity());
    if (::getsockname(filler_fd_, self.data(), &len) == 0) {
      self.resize(len);
      filler_peer_ = self;
    }
  }
}

template <class Protocol>
void stream_listener<Protocol>::leave_connect_fault() {
  error_code ec;
  acceptor_.listen(backlog_, ec);
  if (ec)
    log_event(log_level::error, "listener_fault_error", "cannot listen again after a listener fault",
              {{"listener", name()}, {"error", ec.message()}});
  if (filler_fd_ >= 0) {
    ::close(filler_fd_);
    filler_fd_ = -1;
    filler_checks_ = backlog_ > 0 ? static_cast<unsigned>(std::min(backlog_, 1024)) + 1 : 2;
  }
}

template <class Protocol>
template <class Socket>
bool stream_listener<Protocol>::is_filler(Socket& socket) {
  --filler_checks_;
  error_code ec;
  const auto peer = socket.remote_endpoint(ec);
  const bool filler = !ec && peer == *filler_peer_;
  if (filler || filler_checks_ == 0) {
    filler_peer_.reset();
    filler_checks_ = 0;
  }
  return filler;
}

template <class Protocol>
void stream_listener<Protocol>::stop() {
  asio::dispatch(acceptor_.get_executor(), [this] {
    if (stopped_) return;
    stopped_ = true;
    error_code ignored;
    acceptor_.close(ignored);
    pause_timer_.cancel();
    log_event(log_level::debug, "listener_closed", "listener closed", {{"listener", name()}});
  });
}

template <class Protocol>
void stream_listener<Protocol>::do_accept() {
  if (stopped_ || connect_fault_ != connect_fault::none) return;
  // The new socket is created on its session's executor right away: its own strand when
  // several threads run, the plain io_context otherwise.
  if (use_strands_) {
    acceptor_.async_accept(asio::make_strand(io_),
                           [this](const error_code& ec, auto socket) { on_accept(ec, std::move(socket)); });
  } else {
    acceptor_.async_accept(io_.get_executor(),
                           [this](const error_code& ec, auto socket) { on_accept(ec, std::move(socket)); });
  }
}

template <class Protocol>
template <class Socket>
void stream_listener<Protocol>::on_accept(const error_code& ec, Socket socket) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    on_accept_error(ec);
    return;
  }
  consecutive_errors_ = 0;
  pause_ = min_pause;
  take(std::move(socket));
  // More may be waiting: take them now (the acceptor is non-blocking), up to the batch.
  for (int i = 1; i < accept_batch && !stopped_ && connect_fault_ == connect_fault::none; ++i) {
    error_code more_ec;
    Socket next = [&] {
      if constexpr (std::is_same_v<typename Socket::executor_type, asio::io_context::executor_type>)
        return acceptor_.accept(io_.get_executor(), more_ec);
      else return acceptor_.accept(asio::make_strand(io_), more_ec);
    }();
    if (more_ec == asio::error::would_block || more_ec == asio::error::try_again) break;
    if (more_ec) {
      on_accept_error(more_ec);  // it accepts again or pauses
      return;
    }
    take(std::move(next));
  }
  do_accept();
}

template <class Protocol>
template <class Socket>
void stream_listener<Protocol>::take(Socket socket) {
  if (filler_peer_ && filler_checks_ != 0 && connect_fault_ == connect_fault::none) [[unlikely]] {
    if (is_filler(socket)) {  // no-accept's own connection: not a client
      error_code ignored;
      socket.close(ignored);
      return;
    }
  }
#if ECHO_SPLICE_PATH
  if (!context_->session_fits_beside_pipes()) [[unlikely]] {
    reject(socket, true);
    return;
  }
#endif
  // The cap check and taking the slot are one atomic step: listeners on several threads
  // can never overshoot it.
  switch (context_->registry.reserve()) {
    case session_registry::admission::admitted: break;
    case session_registry::admission::full: reject(socket); return;
    case session_registry::admission::closed:  // shutdown began: the socket just closes
      return;
  }
  // fetch_add's own result: two listeners accepting at once never share an id.
  const auto id = context_->counters.accepted.fetch_add(1, std::memory_order_relaxed) + 1;
  stats::add(counters_->accepted);

  // An echo answers as soon as it can; Nagle would hold back small partial echoes. The
  // listener has TCP_NODELAY set and Linux copies it to accepted sockets; the first one
  // confirms that, so later ones skip the setsockopt (one syscall per connection).
  if constexpr (!is_unix) {
    if (!nodelay_inherited_) {
      error_code opt_ec;
      tcp::no_delay nodelay;
      socket.get_option(nodelay, opt_ec);
      nodelay_inherited_ = !opt_ec && nodelay.value();
      if (!nodelay_inherited_) socket.set_option(tcp::no_delay(true), opt_ec);
    }
  }
  // Per-connection logging and records cost nothing unless debug is on or an admin
  // listener keeps records: no peer lookup, no trace.
  std::unique_ptr<session_trace> trace;
  const bool debug = logger::instance().enabled(log_level::debug);
  if (debug || context_->history.enabled()) {
    error_code peer_ec;
    const auto peer = socket.remote_endpoint(peer_ec);
    trace = std::make_unique<session_trace>();
    trace->peer = peer_ec ? "?" : text_of(peer);
    if (trace->peer.empty()) trace->peer = "unnamed";  // a Unix client that did not bind
  }
  if (debug) {
    static log_limit limit(log_level::debug, "conn_open", 100, std::chrono::milliseconds(10));
    log_event(limit, "connection opened", {{"conn", id}, {"peer", trace->peer}, {"listener", name()}});
  }

  if constexpr (!is_unix) {
    if (tls_) {
      using tls_type = tls_session<typename Socket::executor_type>;
      admit(std::make_shared<tls_type>(std::move(socket), tls_, context_, id), std::move(trace));
      return;
    }
  }
  using session_type = stream_session<Protocol, typename Socket::executor_type>;
  admit(std::make_shared<session_type>(std::move(socket), context_, id), std::move(trace));
}

template <class Protocol>
template <class Session>
void stream_listener<Protocol>::admit(std::shared_ptr<Session> session,
                                      std::unique_ptr<session_trace> trace) {
  session->count_in_listener(counters_index_);
  session->set_service(service_);
  session->set_proxy(proxy_);
  if (trace) session->set_trace(std::move(trace));
  // Admission closed once shutdown began: the session dies here, closing its socket.
  if (context_->registry.add(*session)) session->start();
}

template <class Protocol>
template <class Socket>
void stream_listener<Protocol>::reject(Socket& socket, bool descriptors) {
  // Policy: accept and close at once. The client learns immediately (EOF, or RST if it
  // already sent data) instead of hanging in the backlog; live sessions are untouched.
  // Counted as the connections shed when out of descriptors are: that is what this avoids.
  stats::add(descriptors ? context_->counters.shed : context_->counters.rejected);
  stats::add(descriptors ? counters_->shed : counters_->rejected);
  static log_limit limit(log_level::warn, "conn_refused");
  if (descriptors)
    log_event(
        limit, "connection refused: sessions and splice pipes hold the descriptor room",
        {{"reason", "descriptors"}, {"listener", name()}, {"descriptor_room", context_->descriptor_room}});
  else
    log_event(
        limit, "connection refused: at max-connections",
        {{"reason", "limit"}, {"listener", name()}, {"max_connections", context_->registry.capacity()}});
  error_code ignored;
  socket.close(ignored);
}

template <class Protocol>
void stream_listener<Protocol>::on_accept_error(const error_code& ec) {
  stats::add(context_->counters.accept_errors);
  stats::add(counters_->accept_errors);
  if (is_resource_exhaustion(ec)) {
#if ECHO_SPLICE_PATH
    // Idle splice pipes hold descriptors a client could have: give them up first, and if
    // that freed any, the waiting client is accepted now rather than shed.
    if (ec != asio::error::no_buffer_space && ec != asio::error::no_memory && pipe_pool::shed() != 0) {
      do_accept();
      return;
    }
#endif
    do_pause(ec);
    return;
  }
  static log_limit limit(log_level::warn, "accept_error");
  log_event(limit, "accept failed", {{"listener", name()}, {"error", ec.message()}});
  // Errors that belong to one pending connection (EPROTO, ENETDOWN ...) pass; a long run of
  // errors means something persistent, and retrying at full speed would spin.
  if (++consecutive_errors_ >= 8) {
    do_pause(ec);
    return;
  }
  do_accept();
}

template <class Protocol>
std::size_t stream_listener<Protocol>::shed_pending() noexcept {
  if (reserve_fd_ < 0) return 0;
  ::close(reserve_fd_);
  std::size_t shed = 0;
  // Bounded: a connect flood must not keep us here.
  for (; shed < 256; ++shed) {
    const int fd = ::accept4(acceptor_.native_handle(), nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) break;
    ::close(fd);
  }
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  stats::add(context_->counters.shed, shed);
  stats::add(counters_->shed, shed);
  return shed;
}

template <class Protocol>
void stream_listener<Protocol>::do_pause(const error_code& cause) {
  stats::add(context_->counters.accept_pauses);
  stats::add(counters_->accept_pauses);
  std::size_t shed = 0;
  if (is_resource_exhaustion(cause)) shed = shed_pending();
  if (shed != 0) {
    static log_limit limit(log_level::warn, "conn_refused_fds");
    log_event(limit, "connections refused: out of descriptors",
              {{"reason", "out-of-descriptors"}, {"listener", name()}, {"connections", shed}});
  }
  // Backoff doubles up to max_pause, so a lasting shortage pauses a few times a second:
  // one line a second says enough.
  static log_limit limit(log_level::warn, "accept_pause", 1);
  log_event(limit, "accept failed: pausing accepts",
            {{"listener", name()}, {"error", cause.message()}, {"pause_ms", pause_}});
  pause_timer_.expires_after(pause_);
  pause_ = std::min(pause_ * 2, std::chrono::milliseconds(max_pause));
  pause_timer_.async_wait([this](const error_code& ec) { on_resume(ec); });
}

template <class Protocol>
void stream_listener<Protocol>::on_resume(const error_code& ec) {
  if (ec == asio::error::operation_aborted || stopped_) return;
  do_accept();
}

template class stream_listener<asio::ip::tcp>;
template class stream_listener<asio::local::stream_protocol>;

}  // namespace echo::detail
