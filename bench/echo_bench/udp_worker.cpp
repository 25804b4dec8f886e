#include "udp_worker.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <string>

#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace echo::bench {
namespace {

constexpr std::size_t header_size = 8;  // the sequence number, little-endian
constexpr std::size_t buffer_size = 64 * 1024;
// Flood window: at most this many datagrams unechoed per socket, and about this many
// bytes over all sockets of a worker's run, so the default 208 KiB socket buffer of a
// single-socket server is not what a run measures.
constexpr std::uint64_t max_window = 64;
constexpr std::uint64_t window_bytes = 128 * 1024;
// What a queued datagram costs a socket buffer beyond its payload (the kernel's
// buffer accounting), roughly.
constexpr std::uint64_t skb_overhead = 1024;
// Reads per readiness event and socket: enough to empty a window, bounded so one busy
// socket cannot starve the others.
constexpr int reads_per_event = 64;
constexpr int max_events = 256;
constexpr int loop_tick_ms = 10;
// As in the stream worker: the last stretch before a due send is polled, not slept.
constexpr std::int64_t spin_ns = 200'000;

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

void put_seq(std::byte* out, std::uint64_t seq) noexcept {
  for (std::size_t i = 0; i < header_size; ++i) out[i] = static_cast<std::byte>(seq >> (8 * i));
}

std::uint64_t get_seq(const std::byte* in) noexcept {
  std::uint64_t seq = 0;
  for (std::size_t i = 0; i < header_size; ++i)
    seq |= std::uint64_t{std::to_integer<std::uint8_t>(in[i])} << (8 * i);
  return seq;
}

}  // namespace

udp_worker::udp_worker(const options& opts, const sockaddr_storage& target, socklen_t target_len,
                       std::uint32_t index, std::uint32_t sockets, std::uint64_t count_share,
                       run_control& control)
    : opts_(opts),
      target_(target),
      target_len_(target_len),
      control_(control),
      sockets_(sockets),
      buf_(new std::byte[buffer_size]) {
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  // The server has one socket buffer for all of them: the window is shared out.
  open_loop_ = opts.open_loop();
  window_ =
      open_loop_ ? history_size
      : opts.run_mode == mode::stream
          ? std::clamp<std::uint64_t>(
                window_bytes / ((opts.size + skb_overhead) * std::uint64_t{opts.connections}), 1, max_window)
          : 1;
  loss_timeout_ns_ = static_cast<std::int64_t>(opts.loss_timeout_s * 1e9);
  next_id_ = index;
  const std::uint64_t n = sockets;
  for (std::uint64_t i = 0; i < n; ++i) {
    auto& u = sockets_[i];
    u.to_send = opts.count ? count_share / n + (i < count_share % n ? 1 : 0)
                           : std::numeric_limits<std::uint64_t>::max();
    u.history = std::make_unique<std::array<slot, history_size>>();
    // Ids interleave across workers, as the stream worker's do: one pattern per socket.
    u.pattern = client::pattern(client::pattern::connection_seed(opts.seed, next_id_));
    u.id = next_id_;
    next_id_ += opts.threads;
  }
}

udp_worker::~udp_worker() {
  for (auto& u : sockets_)
    if (u.fd >= 0) ::close(u.fd);
  if (epfd_ >= 0) ::close(epfd_);
}

void udp_worker::open(udp_socket& u) {
  u.fd = ::socket(target_.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (u.fd < 0) {
    fail(u, errno);
    return;
  }
  // Connected: the kernel filters out datagrams from anyone but the server, and a
  // port nobody listens on comes back as ECONNREFUSED instead of silence.
  if (::connect(u.fd, reinterpret_cast<const sockaddr*>(&target_), target_len_) < 0) {
    fail(u, errno);
    return;
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<std::uint64_t>(&u - sockets_.data());
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, u.fd, &ev) < 0) fail(u, errno);
}

void udp_worker::fail(udp_socket& u, int err) {
  result_.errors.add(err == ECONNREFUSED ? client::stream_error::connect : client::from_errno(err));
  if (u.fd >= 0) ::close(u.fd);
  u.fd = -1;
  u.done = true;
}

void udp_worker::update_interest(udp_socket& u, bool want_out) {
  if (want_out == u.want_out || u.fd < 0) return;
  epoll_event ev{};
  ev.events = EPOLLIN | (want_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  ev.data.u64 = static_cast<std::uint64_t>(&u - sockets_.data());
  if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, u.fd, &ev) < 0) {
    fail(u, errno);
    return;
  }
  u.want_out = want_out;
}

void udp_worker::try_send(udp_socket& u) {
  const std::size_t size = opts_.size;
  bool blocked = false;
  advance(u);
  std::int64_t now = open_loop_ ? now_ns() : 0;
  while (!stopping_ && u.to_send > 0 && u.next_seq - u.oldest < window_ && (!open_loop_ || due(u, now))) {
    const std::uint64_t seq = u.next_seq;
    put_seq(buf_.get(), seq);
    u.pattern.fill(seq * size + header_size, buf_.get() + header_size, size - header_size);
    // Timed before the call, as the stream worker times a send: on loopback the call
    // itself runs much of the server's receive path.
    const std::int64_t sent = now_ns();
    const ssize_t n = ::send(u.fd, buf_.get(), size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS || errno == EINTR) {
        blocked = true;
        break;
      }
      fail(u, errno);
      return;
    }
    const std::int64_t intended = open_loop_ ? u.schedule.due_ns() : sent;
    (*u.history)[seq % history_size] =
        slot{.sent_ns = sent, .intended_ns = intended, .what = fate::in_flight};
    ++u.next_seq;
    if (measured(intended)) {
      ++result_.datagrams.sent;
      if (open_loop_) {
        ++result_.schedule.sent;
        result_.schedule.lag.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, sent - intended)));
      }
    }
    if (open_loop_) {
      u.schedule.advance();
      now = sent;
    }
    if (u.to_send != std::numeric_limits<std::uint64_t>::max()) --u.to_send;
  }
  update_interest(u, blocked);
  settle(u);
}

void udp_worker::on_readable(udp_socket& u) {
  for (int i = 0; i < reads_per_event && !u.done; ++i) {
    const ssize_t n = ::recv(u.fd, buf_.get(), buffer_size, MSG_TRUNC);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) break;
      fail(u, errno);
      return;
    }
    on_datagram(u, static_cast<std::size_t>(n), now_ns());
  }
  if (!u.done) try_send(u);
}

void udp_worker::on_datagram(udp_socket& u, std::size_t len, std::int64_t now) {
  const std::size_t size = opts_.size;
  // MSG_TRUNC: len is the datagram's real length even when it did not fit.
  if (len != size) {
    result_.errors.add(client::stream_error::mismatch);
    return;
  }
  const std::uint64_t seq = get_seq(buf_.get());
  if (seq >= u.next_seq || u.pattern.mismatch(seq * size + header_size, buf_.get() + header_size,
                                              size - header_size) != size - header_size) {
    result_.errors.add(client::stream_error::mismatch);
    return;
  }
  if (u.next_seq - seq > history_size) {
    ++result_.datagrams.late;
    return;
  }
  slot& s = (*u.history)[seq % history_size];
  switch (s.what) {
    case fate::echoed: ++result_.datagrams.duplicated; return;
    case fate::lost: ++result_.datagrams.late; return;
    case fate::in_flight: break;
  }
  s.what = fate::echoed;
  if (seq + 1 < u.newest_echo) ++result_.datagrams.reordered;
  u.newest_echo = std::max(u.newest_echo, seq + 1);
  if (!measured(s.intended_ns)) return;
  result_.latency.record(static_cast<std::uint64_t>(now - s.intended_ns));
  if (open_loop_) result_.uncorrected.record(static_cast<std::uint64_t>(now - s.sent_ns));
  ++result_.msgs;
  result_.bytes += size;
  progress_.store(result_.msgs, std::memory_order_relaxed);
}

void udp_worker::advance(udp_socket& u) {
  while (u.oldest < u.next_seq && (*u.history)[u.oldest % history_size].what != fate::in_flight) ++u.oldest;
}

void udp_worker::settle(udp_socket& u) {
  advance(u);
  const bool no_more = stopping_ || u.to_send == 0;
  if (no_more && u.oldest == u.next_seq && !u.done) {
    ::close(u.fd);
    u.fd = -1;
    u.done = true;
  }
}

void udp_worker::check_losses(std::int64_t now) {
  for (auto& u : sockets_) {
    if (u.done) continue;
    // Sent in sequence order, so the timed-out ones are a prefix of those in flight.
    for (std::uint64_t seq = u.oldest; seq < u.next_seq; ++seq) {
      slot& s = (*u.history)[seq % history_size];
      if (s.what != fate::in_flight) continue;
      if (now - s.sent_ns < loss_timeout_ns_) break;
      s.what = fate::lost;
      ++result_.datagrams.lost;
    }
    try_send(u);
  }
}

bool udp_worker::due(const udp_socket& u, std::int64_t now) const noexcept {
  return u.schedule.due_ns() <= now && u.schedule.due_ns() < stop_at_ns_;
}

void udp_worker::count_unsent(udp_socket& u) {
  while (u.schedule.due_ns() < stop_at_ns_) {
    if (measured(u.schedule.due_ns())) ++result_.schedule.unsent;
    u.schedule.advance();
  }
}

bool udp_worker::all_done() const {
  return std::all_of(sockets_.begin(), sockets_.end(), [](const udp_socket& u) { return u.done; });
}

void udp_worker::run() {
  for (auto& u : sockets_) open(u);
  control_.ready.fetch_add(1);
  control_.ready.notify_all();
  control_.go.wait(false);
  start_ns_ = control_.start_ns.load();
  measure_from_ns_ = control_.measure_from_ns.load();
  stop_at_ns_ = control_.stop_at_ns.load();
  if (open_loop_) {
    ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
    for (auto& u : sockets_) u.schedule = send_schedule(opts_, start_ns_, u.id);
  }
  const std::uint64_t waited = thread_cpu_wait_ns();
  for (auto& u : sockets_)
    if (!u.done) try_send(u);
  epoll_event events[max_events];
  std::int64_t next_scan = now_ns() + loop_tick_ms * 1'000'000;
  std::int64_t wake = next_scan;
  while (!all_done()) {
    if (!stopping_ && control_.stop.load(std::memory_order_relaxed)) {
      stopping_ = true;
      for (auto& u : sockets_) {
        if (open_loop_ && !u.done) count_unsent(u);
        if (!u.done) settle(u);
      }
    }
    std::int64_t wait_ns =
        std::clamp<std::int64_t>(wake - now_ns(), 0, std::int64_t{loop_tick_ms} * 1'000'000);
    wait_ns = wait_ns < spin_ns ? 0 : wait_ns - spin_ns;
    const timespec timeout{.tv_sec = 0, .tv_nsec = wait_ns};
    const int n = ::epoll_pwait2(epfd_, events, max_events, &timeout, nullptr);
    if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      auto& u = sockets_[events[i].data.u64];
      if (u.done) continue;
      if (events[i].events & (EPOLLIN | EPOLLERR)) on_readable(u);
      else if (events[i].events & EPOLLOUT) try_send(u);
    }
    const std::int64_t now = now_ns();
    if (now >= next_scan) {
      check_losses(now);
      next_scan = now + loop_tick_ms * 1'000'000;
    }
    wake = next_scan;
    if (open_loop_ && !stopping_) {
      for (auto& u : sockets_) {
        if (u.done) continue;
        if (due(u, now) && !u.want_out) try_send(u);
        if (!u.done && u.next_seq - u.oldest < window_) wake = std::min(wake, u.schedule.due_ns());
      }
    }
  }
  result_.schedule.cpu_wait_ns = thread_cpu_wait_ns() - waited;
}

}  // namespace echo::bench
