#include "detail/udp_listener.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <random>
#include <span>

#include <fmt/format.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "detail/chargen_pattern.hpp"
#include "detail/object_executor.hpp"
#include "detail/session_context.hpp"
#include "detail/source_budget.hpp"
#include "echo/endpoint_text.hpp"
#include "echo/logger.hpp"
#include "echo/setup_error.hpp"

namespace asio = boost::asio;
using asio::ip::udp;
using boost::system::error_code;

namespace echo::detail {
namespace {

std::string udp_text(const udp::endpoint& ep) {
  return endpoint_text(asio::ip::tcp::endpoint(ep.address(), ep.port()));
}

[[noreturn]] void fail(const std::string& what, const udp::endpoint& ep, const error_code& ec) {
  throw setup_error(fmt::format("cannot {} udp://{}: {}", what, udp_text(ep), ec.message()), ec);
}

// Room for the one pktinfo a datagram carries (both, on a dual-stack socket with IP_PKTINFO).
constexpr std::size_t control_size = CMSG_SPACE(sizeof(in6_pktinfo)) + CMSG_SPACE(sizeof(in_pktinfo));

struct alignas(cmsghdr) control_buffer {
  char data[control_size];
};

constexpr bool is_mapped(const in6_addr& a) noexcept { return IN6_IS_ADDR_V4MAPPED(&a); }

std::uint32_t mapped_v4(const in6_addr& a) noexcept {
  std::uint32_t v4 = 0;
  std::memcpy(&v4, a.s6_addr + 12, 4);
  return ntohl(v4);
}

bool impossible_v4_source(std::uint32_t host_order) noexcept {
  return host_order == INADDR_ANY || host_order == INADDR_BROADCAST || IN_MULTICAST(host_order);
}

bool group_v4_destination(std::uint32_t host_order) noexcept {
  return host_order == INADDR_BROADCAST || IN_MULTICAST(host_order);
}

}  // namespace

/// Where a datagram came from and arrived at, read from its name and control messages.
struct udp_arrival {
  source_budget::address_key source{};
  std::uint16_t port = 0;
  bool bad_source = false;
  bool group_destination = false;
  bool have_v4 = false;  ///< IP_PKTINFO: an IPv4 datagram
  bool have_v6 = false;  ///< IPV6_PKTINFO: IPv6, or IPv4 on a dual-stack socket (mapped)
  in_pktinfo v4{};
  in6_pktinfo v6{};
};

class udp_listener::loop : public std::enable_shared_from_this<udp_listener::loop> {
 public:
  loop(asio::io_context& io, std::shared_ptr<session_context> context, bool use_strands,
       const udp_limits& limits, service_kind service)
      : socket_(object_executor(io, use_strands)),
        retry_timer_(socket_.get_executor()),
        context_(std::move(context)),
        service_(service),
        budget_(limits),
        receive_buffer_(limits.receive_buffer),
        slots_(new char[batch * max_datagram]),
        random_(std::random_device{}()) {}

  void bind(const udp::endpoint& endpoint, const std::optional<bool>& v6only);
  void set_counters(std::uint16_t index, std::string name) {
    counters_ = &context_->listeners[index];
    name_ = std::move(name);
  }
  udp::socket& socket() noexcept { return socket_; }
  const udp_listener_stats& stats() const noexcept { return stats_; }

  void start() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->do_wait_read(); });
  }
  void stop() {
    asio::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->do_close(); });
  }

 private:
  void do_wait_read();
  void on_readable(const error_code& ec);
  void do_drain();
  void do_wait_write();
  void on_writable(const error_code& ec);
  void do_close();
  void on_receive_error(int error);

  /// Reads one batch and prepares its replies; returns the datagrams read, 0 when none were
  /// waiting, -1 after an error.
  int receive_batch();
  bool prepare_reply(std::size_t i, std::int64_t now_ns);
  udp_arrival read_arrival(msghdr& m, const sockaddr_in6& peer) const noexcept;
  void set_reply_control(msghdr& reply, std::size_t j, const udp_arrival& a) noexcept;
  /// Sends what is left of the batch; false when the socket is full (a wait is armed).
  bool send_batch();

  udp::socket socket_;
  asio::steady_timer retry_timer_;
  std::shared_ptr<session_context> context_;
  listener_stats* counters_ = nullptr;
  std::string name_;
  const service_kind service_;
  source_budget budget_;
  const std::uint32_t receive_buffer_;
  udp_listener_stats stats_;
  std::uint16_t local_port_ = 0;
  bool v6_ = false;
  /// Whether datagrams carry where they arrived (see bind).
  bool pktinfo_ = true;
  bool stopped_ = false;
  unsigned batches_this_turn_ = 0;

  // One batch: received datagrams stay in their slots and echoes are sent from there.
  std::unique_ptr<char[]> slots_;
  std::array<mmsghdr, batch> in_{};
  std::array<iovec, batch> in_iov_{};
  std::array<sockaddr_in6, batch> peers_{};
  std::array<control_buffer, batch> in_control_{};
  std::array<mmsghdr, batch> out_{};
  std::array<iovec, batch> out_iov_{};
  std::array<control_buffer, batch> out_control_{};
  std::size_t out_count_ = 0;
  std::size_t out_next_ = 0;

  std::minstd_rand random_;
  std::uint64_t chargen_line_ = 0;
};

void udp_listener::loop::bind(const udp::endpoint& endpoint, const std::optional<bool>& v6only) {
  error_code ec;
  socket_.open(endpoint.protocol(), ec);
  if (ec) fail("open a socket for", endpoint, ec);
  v6_ = endpoint.address().is_v6();
  const int fd = socket_.native_handle();
  const int on = 1;
  // [::] serves IPv4 too, whatever net.ipv6.bindv6only says, unless asked for IPv6 only (as
  // the stream listeners do).
  if (v6_ && (v6only || endpoint.address().is_unspecified())) {
    socket_.set_option(asio::ip::v6_only(v6only.value_or(false)), ec);
    if (ec) fail("set IPV6_V6ONLY on", endpoint, ec);
  }
  // A socket bound to one unicast address receives only what was sent to that address, and
  // its replies can leave from no other: pktinfo would tell it nothing. Asking for it costs
  // the kernel a control message on every receive and every send, so only a wildcard or
  // group bind does.
  const auto& a = endpoint.address();
  pktinfo_ =
      a.is_unspecified() || a.is_multicast() || (a.is_v4() && a.to_v4() == asio::ip::address_v4::broadcast());
  if (!pktinfo_) {
    // Nothing to ask for.
  } else if (v6_) {
    if (::setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on) != 0)
      fail("set IPV6_RECVPKTINFO on", endpoint, error_code(errno, boost::system::system_category()));
    // IPv4 datagrams on a dual-stack socket then carry IP_PKTINFO as well, whose
    // ipi_spec_dst tells a broadcast destination from a local one. Best effort: without it
    // only limited broadcast and multicast destinations are recognised.
    (void)::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  } else if (::setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &on, sizeof on) != 0) {
    fail("set IP_PKTINFO on", endpoint, error_code(errno, boost::system::system_category()));
  }
  if (receive_buffer_ != 0) {
    // Above net.core.rmem_max the kernel quietly gives the maximum, which is what we want.
    socket_.set_option(asio::socket_base::receive_buffer_size(static_cast<int>(receive_buffer_)), ec);
    if (ec) fail("set SO_RCVBUF on", endpoint, ec);
  }
  socket_.bind(endpoint, ec);
  if (ec) fail("bind", endpoint, ec);
  local_port_ = socket_.local_endpoint(ec).port();
  if (ec) fail("read the bound address of", endpoint, ec);

  for (std::size_t i = 0; i < batch; ++i) {
    in_iov_[i] = {slots_.get() + i * max_datagram, max_datagram};
    in_[i].msg_hdr.msg_iov = &in_iov_[i];
    in_[i].msg_hdr.msg_iovlen = 1;
    in_[i].msg_hdr.msg_name = &peers_[i];
    in_[i].msg_hdr.msg_control = pktinfo_ ? in_control_[i].data : nullptr;
    out_[i].msg_hdr.msg_iov = &out_iov_[i];
    out_[i].msg_hdr.msg_iovlen = 1;
  }
}

void udp_listener::loop::do_wait_read() {
  if (stopped_) return;
  batches_this_turn_ = 0;
  socket_.async_wait(udp::socket::wait_read,
                     [self = shared_from_this()](const error_code& ec) { self->on_readable(ec); });
}

void udp_listener::loop::on_readable(const error_code& ec) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    on_receive_error(ec.value());
    return;
  }
  do_drain();
}

void udp_listener::loop::do_drain() {
  while (!stopped_) {
    if (batches_this_turn_ == turn_batches) {
      // Still data, but other sockets get their turn first. A post, not a wait: the epoll
      // reactor is edge-triggered and would not report what is already queued until the
      // next datagram arrives.
      batches_this_turn_ = 0;
      asio::post(socket_.get_executor(), [self = shared_from_this()] { self->do_drain(); });
      return;
    }
    ++batches_this_turn_;
    const int n = receive_batch();
    if (n < 0) return;
    if (out_count_ != 0 && !send_batch()) return;
    // A short batch emptied the queue: waiting costs no more than the recvmmsg that would
    // say EAGAIN, and re-arming makes the reactor re-check readiness, so nothing is missed.
    if (static_cast<std::size_t>(n) < batch) {
      do_wait_read();
      return;
    }
  }
}

int udp_listener::loop::receive_batch() {
  for (std::size_t i = 0; i < batch; ++i) {
    in_[i].msg_hdr.msg_namelen = sizeof(sockaddr_in6);
    in_[i].msg_hdr.msg_controllen = pktinfo_ ? control_size : 0;
    in_[i].msg_hdr.msg_flags = 0;
  }
  int n = -1;
  do {
    n = ::recvmmsg(socket_.native_handle(), in_.data(), batch, MSG_DONTWAIT, nullptr);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
    on_receive_error(errno);
    return -1;
  }
  const auto now_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  std::uint64_t bytes = 0;
  out_count_ = 0;
  out_next_ = 0;
  for (std::size_t i = 0; i < static_cast<std::size_t>(n); ++i) {
    bytes += in_[i].msg_len;
    prepare_reply(i, now_ns);
  }
  stats::add(counters_->bytes_received, bytes);
  stats::add(stats_.received, static_cast<std::uint64_t>(n));
  return n;
}

udp_arrival udp_listener::loop::read_arrival(msghdr& h, const sockaddr_in6& peer) const noexcept {
  udp_arrival a;
  if (peer.sin6_family == AF_INET) {
    sockaddr_in v4{};
    std::memcpy(&v4, &peer, sizeof v4);
    a.port = ntohs(v4.sin_port);
    a.source[10] = a.source[11] = 0xff;
    std::memcpy(a.source.data() + 12, &v4.sin_addr, 4);
    a.bad_source = impossible_v4_source(ntohl(v4.sin_addr.s_addr));
  } else {
    a.port = ntohs(peer.sin6_port);
    std::memcpy(a.source.data(), &peer.sin6_addr, 16);
    a.bad_source = is_mapped(peer.sin6_addr)
                       ? impossible_v4_source(mapped_v4(peer.sin6_addr))
                       : IN6_IS_ADDR_UNSPECIFIED(&peer.sin6_addr) || IN6_IS_ADDR_MULTICAST(&peer.sin6_addr);
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&h); c != nullptr; c = CMSG_NXTHDR(&h, c)) {
    if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
      std::memcpy(&a.v4, CMSG_DATA(c), sizeof a.v4);
      a.have_v4 = true;
    } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
      std::memcpy(&a.v6, CMSG_DATA(c), sizeof a.v6);
      a.have_v6 = true;
    }
  }
  if (a.have_v4) {
    // For a datagram to one of our addresses the kernel's preferred source is that very
    // address; for a broadcast or multicast one it is some address of the interface.
    a.group_destination =
        a.v4.ipi_addr.s_addr != a.v4.ipi_spec_dst.s_addr || group_v4_destination(ntohl(a.v4.ipi_addr.s_addr));
  } else if (a.have_v6) {
    a.group_destination = is_mapped(a.v6.ipi6_addr) ? group_v4_destination(mapped_v4(a.v6.ipi6_addr))
                                                    : IN6_IS_ADDR_MULTICAST(&a.v6.ipi6_addr);
  }
  return a;
}

void udp_listener::loop::set_reply_control(msghdr& reply, std::size_t j, const udp_arrival& a) noexcept {
  auto& buffer = out_control_[j];
  reply.msg_control = buffer.data;
  cmsghdr* c = nullptr;
  // The interface index goes back only for IPv6, where a link-local address means nothing
  // without it. For IPv4 the address alone sets the source and routing picks the interface,
  // so a reply still finds its way when the route back leaves by another interface.
  if (!v6_ && a.have_v4) {
    reply.msg_controllen = CMSG_SPACE(sizeof(in_pktinfo));
    c = CMSG_FIRSTHDR(&reply);
    c->cmsg_level = IPPROTO_IP;
    c->cmsg_type = IP_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in_pktinfo));
    in_pktinfo p{};
    p.ipi_spec_dst = a.v4.ipi_spec_dst;
    std::memcpy(CMSG_DATA(c), &p, sizeof p);
    return;
  }
  if (v6_ && (a.have_v4 || a.have_v6)) {
    reply.msg_controllen = CMSG_SPACE(sizeof(in6_pktinfo));
    c = CMSG_FIRSTHDR(&reply);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(in6_pktinfo));
    in6_pktinfo p{};
    if (a.have_v4) {
      // Linux takes a v4-mapped IPV6_PKTINFO for an IPv4 reply from a dual-stack socket.
      p.ipi6_addr.s6_addr[10] = p.ipi6_addr.s6_addr[11] = 0xff;
      std::memcpy(p.ipi6_addr.s6_addr + 12, &a.v4.ipi_spec_dst, 4);
    } else {
      p.ipi6_addr = a.v6.ipi6_addr;
      if (!is_mapped(a.v6.ipi6_addr)) p.ipi6_ifindex = a.v6.ipi6_ifindex;
    }
    std::memcpy(CMSG_DATA(c), &p, sizeof p);
    return;
  }
  // No pktinfo (the control buffer was cut short): the kernel picks the source.
  reply.msg_control = nullptr;
  reply.msg_controllen = 0;
}

bool udp_listener::loop::prepare_reply(std::size_t i, std::int64_t now_ns) {
  auto& m = in_[i];
  if ((m.msg_hdr.msg_flags & MSG_TRUNC) != 0) {
    stats::add(stats_.dropped_truncated);
    return false;
  }
  const udp_arrival a = read_arrival(m.msg_hdr, peers_[i]);
  if (a.port == 0 || a.port == 7 || a.port == 13 || a.port == 19 || a.port == 37 || a.port == local_port_) {
    stats::add(stats_.dropped_source_port);
    return false;
  }
  if (a.bad_source) {
    stats::add(stats_.dropped_source_address);
    return false;
  }
  if (a.group_destination) {
    stats::add(stats_.dropped_destination);
    return false;
  }
  std::size_t size = m.msg_len;
  char* data = slots_.get() + i * max_datagram;
  switch (service_) {
    case service_kind::discard: stats::add(stats_.discarded); return false;
    case service_kind::echo: break;
    case service_kind::chargen:
      size = std::uniform_int_distribution<std::size_t>(0, chargen_max)(random_);
      break;
  }
  if (!budget_.admit(a.source, size, now_ns)) {
    stats::add(stats_.dropped_budget);
    return false;
  }
  if (service_ == service_kind::chargen) {
    // Each reply starts on the next line, as inetd's does; the input is ignored.
    chargen_pattern::fill({data, size},
                          (chargen_line_++ % chargen_pattern::ring_size) * chargen_pattern::line_size);
  }
  const auto j = out_count_++;
  auto& reply = out_[j].msg_hdr;
  out_iov_[j] = {data, size};
  reply.msg_name = &peers_[i];
  reply.msg_namelen = m.msg_hdr.msg_namelen;
  reply.msg_flags = 0;
  if (pktinfo_) {
    set_reply_control(reply, j, a);
  } else {
    reply.msg_control = nullptr;
    reply.msg_controllen = 0;
  }
  return true;
}

bool udp_listener::loop::send_batch() {
  while (out_next_ < out_count_ && !stopped_) {
    const auto left = static_cast<unsigned>(out_count_ - out_next_);
    const int n = ::sendmmsg(socket_.native_handle(), &out_[out_next_], left, MSG_DONTWAIT);
    if (n > 0) {
      std::uint64_t bytes = 0;
      for (std::size_t k = out_next_; k < out_next_ + static_cast<std::size_t>(n); ++k)
        bytes += out_[k].msg_len;
      out_next_ += static_cast<std::size_t>(n);
      stats::add(stats_.sent, static_cast<std::uint64_t>(n));
      stats::add(counters_->bytes_sent, bytes);
      continue;
    }
    const int error = n < 0 ? errno : EIO;
    if (error == EINTR) continue;
    if (error == EAGAIN || error == EWOULDBLOCK) {
      do_wait_write();
      return false;
    }
    // The first reply left was refused (no route, a firewall, its source address gone):
    // it alone is lost; the rest of the batch still goes.
    stats::add(stats_.send_errors);
    static log_limit limit(log_level::warn, "udp_send_error");
    log_event(limit, "UDP reply not sent", {{"listener", name_}, {"error", std::strerror(error)}});
    ++out_next_;
  }
  out_count_ = 0;
  out_next_ = 0;
  return true;
}

void udp_listener::loop::do_wait_write() {
  socket_.async_wait(udp::socket::wait_write,
                     [self = shared_from_this()](const error_code& ec) { self->on_writable(ec); });
}

void udp_listener::loop::on_writable(const error_code& ec) {
  if (stopped_ || ec == asio::error::operation_aborted) return;
  if (ec) {
    // The batch cannot go: count it as unsent rather than hold it.
    stats::add(stats_.send_errors, out_count_ - out_next_);
    out_count_ = out_next_ = 0;
    on_receive_error(ec.value());
    return;
  }
  if (!send_batch()) return;
  batches_this_turn_ = 0;
  do_drain();
}

void udp_listener::loop::on_receive_error(int error) {
  stats::add(stats_.receive_errors);
  static log_limit limit(log_level::warn, "udp_receive_error");
  log_event(limit, "UDP receive failed", {{"listener", name_}, {"error", std::strerror(error)}});
  // Retrying at once could spin on an error that persists; a short pause bounds that.
  retry_timer_.expires_after(std::chrono::milliseconds(10));
  retry_timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (ec == asio::error::operation_aborted || self->stopped_) return;
    self->do_wait_read();
  });
}

void udp_listener::loop::do_close() {
  if (stopped_) return;
  stopped_ = true;
  error_code ignored;
  socket_.close(ignored);
  retry_timer_.cancel();
  log_event(log_level::debug, "listener_closed", "listener closed", {{"listener", name_}});
}

udp_listener::udp_listener(asio::io_context& io, const listener_spec& spec,
                           std::shared_ptr<session_context> context, bool use_strands,
                           const udp_limits& limits) {
  loop_ = std::make_shared<loop>(io, context, use_strands, limits, spec.service);
  const udp::endpoint endpoint(spec.address.value_or(asio::ip::address_v6::any()), spec.port);
  loop_->bind(endpoint, spec.v6only);
  error_code ec;
  local_ = loop_->socket().local_endpoint(ec);
  if (ec) fail("read the bound address of", endpoint, ec);
  // Last, once nothing can throw: a failed bind leaves no counters behind.
  const auto index = context->add_listener();
  loop_->set_counters(index, "udp://" + udp_text(local_));
  counters_ = &context->listeners[index];
}

udp_listener::~udp_listener() { loop_->stop(); }

std::string udp_listener::address() const { return udp_text(local_); }

void udp_listener::start() { loop_->start(); }

void udp_listener::stop() { loop_->stop(); }

const udp_listener_stats& udp_listener::datagram_counters() const noexcept { return loop_->stats(); }

}  // namespace echo::detail
