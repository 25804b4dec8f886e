#include "worker.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <limits>
#include <stdexcept>
#include <string>

#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <unistd.h>

namespace echo::bench {
namespace {

using client::stream_error;
using step = client::verified_stream::step;

constexpr std::size_t buffer_size = 256 * 1024;
// Bounded so a 10k-connection run does not overflow the server's accept backlog
// (overflowed SYNs are retried after 1 s and would make connect time meaningless).
constexpr std::uint32_t max_connecting = 256;
// Stream mode keeps at most this much unechoed data per connection: enough to keep
// loopback busy, small enough that a buffering server (seed) cannot balloon.
constexpr std::uint64_t stream_window = 512 * 1024;
constexpr int max_events = 256;
constexpr std::int64_t loop_tick_ns = 50'000'000;
// Open loop: messages in flight per connection are bounded by the stream window, by this
// count, and by a share of a run-wide budget (16 B each: 64 MB), so 100,000 connections
// still fit.
constexpr std::uint64_t max_flights = 1024;
constexpr std::uint64_t flights_budget = 4u << 20;
// How long before a due send the loop stops sleeping and polls. On a VM an idle vCPU halts,
// and waking it for a timer took tens of microseconds here, as long as a loopback echo: with
// 50 µs of polling the sends at 1000 msgs/s left 15-40 µs late at the median, corrected and
// uncorrected p50 parted by 20-90 %; with 200 µs they agree within 4 %.
constexpr std::int64_t spin_ns = 200'000;

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

std::uint64_t round_up(std::uint64_t v, std::uint64_t unit) noexcept { return (v + unit - 1) / unit * unit; }

}  // namespace

worker::worker(const options& opts, const sockaddr_storage& target, socklen_t target_len, std::uint32_t index,
               std::uint32_t connections, std::uint64_t count_share, run_control& control)
    : opts_(opts),
      target_(target),
      target_len_(target_len),
      index_(index),
      control_(control),
      conns_(connections),
      rbuf_(new std::byte[buffer_size]),
      sbuf_(new std::byte[buffer_size]) {
  if (opts.kind == transport::tls) tls_ = std::make_unique<tls_client>(opts);
  if (opts.interval_s > 0) intervals_ = std::make_unique<interval_log>(opts.interval_s);
  open_loop_ = opts.open_loop();
  if (open_loop_) {
    max_in_flight_ = std::clamp<std::uint64_t>(
        std::min(stream_window / opts.size, flights_budget / std::uint64_t{opts.connections}), 1,
        max_flights);
  }
  epfd_ = epoll_create1(EPOLL_CLOEXEC);
  if (epfd_ < 0) throw std::runtime_error(std::string("epoll_create1: ") + std::strerror(errno));
  timeout_ns_ = static_cast<std::int64_t>(opts.timeout_s * 1e9);
  // Ids interleave across workers so every connection of the run has its own stream.
  next_id_ = index;
  churn_left_ = opts.count ? count_share : std::numeric_limits<std::uint64_t>::max();
  if (opts.run_mode != mode::churn) {
    // Spread the messages of this worker over its connections.
    const std::uint64_t n = connections;
    for (std::uint64_t i = 0; i < n; ++i)
      conns_[i].msgs_left = opts.count ? count_share / n + (i < count_share % n ? 1 : 0)
                                       : std::numeric_limits<std::uint64_t>::max();
  }
}

worker::~worker() {
  for (auto& c : conns_) {
    tls_client::release(c.ssl);
    if (c.fd >= 0) ::close(c.fd);
  }
  if (epfd_ >= 0) ::close(epfd_);
}

void worker::open(connection& c) {
  c = connection{.fd = -1, .generation = c.generation + 1, .st = state::connecting, .msgs_left = c.msgs_left};
  ++connecting_;  // before anything can fail(): fail() undoes it for connecting slots
  if (opts_.run_mode == mode::churn || opts_.run_mode == mode::idle) c.msgs_left = 1;
  c.stream = client::verified_stream(client::pattern::connection_seed(opts_.seed, next_id_));
  c.id = next_id_;
  next_id_ += opts_.threads;
  c.last_progress_ns = c.msg_start_ns = c.connect_start_ns = now_ns();
  c.fd = ::socket(target_.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                  opts_.kind == transport::mptcp ? IPPROTO_MPTCP : 0);
  if (c.fd < 0) {
    fail(c, stream_error::connect);
    return;
  }
  const int one = 1;
  if (target_.ss_family != AF_UNIX) ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (opts_.run_mode == mode::churn && opts_.source_addrs > 1 && target_.ss_family == AF_INET) {
    // Churn leaves every closed connection in TIME_WAIT on our side (we close
    // first). Rotating the source address multiplies the 4-tuples available;
    // IP_BIND_ADDRESS_NO_PORT defers the port choice to connect(), which then
    // only needs the full 4-tuple to be unique.
    ::setsockopt(c.fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sockaddr_in src{};
    src.sin_family = AF_INET;
    const std::uint32_t k = next_source_++ % opts_.source_addrs;
    src.sin_addr.s_addr = htonl(0x7F000001u + k + (index_ * 0x10000u));  // 127.<worker>.x.y
    if (::bind(c.fd, reinterpret_cast<const sockaddr*>(&src), sizeof src) < 0) {
      fail(c, stream_error::connect);
      return;
    }
  }
  epoll_event ev{};
  ev.events = EPOLLOUT;
  ev.data.u64 =
      (static_cast<std::uint64_t>(c.generation) << 32) | static_cast<std::uint64_t>(&c - conns_.data());
  c.interest = EPOLLOUT;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, c.fd, &ev) < 0) {
    fail(c, stream_error::io);
    return;
  }
  if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&target_), target_len_) < 0 && errno != EINPROGRESS)
    fail(c, stream_error::connect);
}

void worker::on_connected(connection& c) {
  if (const auto e = client::verified_stream::connect_result(c.fd); e != stream_error::none) {
    fail(c, e);
    return;
  }
  if (tls_) {
    c.ssl = tls_->attach(c.fd);
    if (c.ssl == nullptr) {
      fail(c, stream_error::connect);
      return;
    }
    c.st = state::handshaking;
    on_handshake(c);
    return;
  }
  on_established(c);
}

void worker::on_handshake(connection& c) {
  const step s = tls_client::handshake(c.ssl, c.want_out);
  switch (s.what) {
    case step::kind::moved: on_established(c); return;
    case step::kind::failed: fail(c, s.error); return;
    default:
      c.last_progress_ns = now_ns();
      update_interest(c);
      return;
  }
}

void worker::on_established(connection& c) {
  --connecting_;
  c.last_progress_ns = now_ns();
  if (measured(c.connect_start_ns))
    result_.connect.record(static_cast<std::uint64_t>(c.last_progress_ns - c.connect_start_ns));
  if (opts_.run_mode == mode::pingpong || opts_.run_mode == mode::stream) {
    // Wait for the others: the load starts for all connections at once.
    c.st = state::ready;
    c.want_out = false;
    update_interest(c);
    return;
  }
  start(c);  // churn and idle: echo one message right away
}

void worker::start(connection& c) {
  c.st = state::active;
  if (open_loop_) {
    start_schedule(c);
    pace(c, now_ns());
    return;
  }
  if (opts_.run_mode == mode::stream) {
    try_send(c);
    return;
  }
  next_message(c);
}

void worker::next_message(connection& c) {
  if (c.msgs_left == 0 || (stopping_ && opts_.run_mode == mode::pingpong)) {
    begin_drain(c);
    return;
  }
  if (c.msgs_left != std::numeric_limits<std::uint64_t>::max()) --c.msgs_left;
  c.target = c.stream.sent() + opts_.size;
  if (opts_.run_mode == mode::pingpong) c.msg_start_ns = now_ns();
  try_send(c);
}

void worker::try_send(connection& c) {
  if (opts_.run_mode == mode::stream) {
    if (stopping_ || c.msgs_left == 0) c.target = round_up(c.stream.sent(), opts_.size);
    else
      c.target =
          std::max(c.stream.sent(), c.stream.window_end(std::max<std::uint64_t>(stream_window, opts_.size)));
    if (c.msgs_left != std::numeric_limits<std::uint64_t>::max() && !stopping_) {
      // Count mode: this connection's stream ends after msgs_left messages.
      const std::uint64_t end = c.msgs_left * opts_.size;
      c.target = std::min(c.target, end);
    }
  }
  c.want_out = false;
  const std::uint64_t sent_before = c.stream.sent();
  // A message's actual send time is when its first byte is offered: on loopback the send
  // call itself runs the receiver's side and takes as long as a good part of the echo.
  const std::int64_t offered_ns = open_loop_ ? now_ns() : 0;
  while (c.stream.sent() < c.target) {
    const std::size_t len = std::min<std::uint64_t>(c.target - c.stream.sent(), buffer_size);
    const step s = send_some(c, len);
    if (s.what == step::kind::failed) {
      fail(c, s.error);
      return;
    }
    if (s.what == step::kind::moved && s.bytes > 0 && c.first_send_ns == 0) c.first_send_ns = now_ns();
    // A short send means the socket buffer is full: don't spend a syscall on EAGAIN.
    if (s.what == step::kind::blocked || s.bytes < len) {
      c.want_out = true;
      break;
    }
  }
  const std::uint64_t sent = c.stream.sent();
  if (open_loop_ && sent != sent_before) {
    // The no-progress clock runs from the first message sent into a quiet connection.
    if (sent_before == c.stream.received()) c.last_progress_ns = offered_ns;
    mark_started(c, offered_ns);
  }
  if (opts_.run_mode == mode::stream && sent == c.target && sent % opts_.size == 0 &&
      (stopping_ ||
       (c.msgs_left != std::numeric_limits<std::uint64_t>::max() && sent == c.msgs_left * opts_.size))) {
    begin_drain(c);
    return;
  }
  update_interest(c);
}

client::verified_stream::step worker::send_some(connection& c, std::size_t len) {
  if (c.ssl != nullptr)
    return tls_client::send(c.ssl, c.stream, len, {sbuf_.get(), buffer_size}, c.tls_pending, c.want_out);
  return c.stream.send(c.fd, len, {sbuf_.get(), buffer_size});
}

void worker::begin_drain(connection& c) {
  // Half-close (TLS: close_notify) and read to the end: proves the server echoes
  // everything before it closes and never sends more than it got.
  c.want_out = false;
  const step s =
      c.ssl != nullptr ? tls_client::half_close(c.ssl, c.stream, c.want_out) : c.stream.half_close(c.fd);
  if (s.what == step::kind::failed) {
    fail(c, s.error);
    return;
  }
  // A close_notify the socket would not take yet is retried once it is writable.
  c.want_out = s.what == step::kind::blocked && c.want_out;
  c.st = state::draining;
  c.last_progress_ns = now_ns();
  update_interest(c);
}

void worker::on_readable(connection& c) {
  // Bytes in the ready and held states are extra_bytes too: nothing is unechoed then.
  const std::uint64_t before = c.stream.received();
  const step s = c.ssl != nullptr ? tls_client::receive(c.ssl, c.stream, {rbuf_.get(), buffer_size})
                                  : c.stream.receive(c.fd, {rbuf_.get(), buffer_size});
  switch (s.what) {
    case step::kind::blocked: return;
    case step::kind::ended: close_ok(c); return;
    case step::kind::failed: fail(c, s.error); return;
    case step::kind::moved: break;
  }
  c.last_progress_ns = now_ns();
  if (!c.first_byte_seen) {
    c.first_byte_seen = true;
    // Churn and idle send as soon as they are connected; the others wait for the whole
    // run to connect first, so their first byte is timed from their first send.
    const bool from_connect = opts_.run_mode == mode::churn || opts_.run_mode == mode::idle;
    const std::int64_t from = from_connect ? c.connect_start_ns : c.first_send_ns;
    if (from != 0 && measured(from))
      result_.first_byte.record(static_cast<std::uint64_t>(c.last_progress_ns - from));
  }
  if (measured(c.last_progress_ns)) result_.bytes += s.bytes;
  if (intervals_) intervals_->current().bytes += s.bytes;
  on_verified(c, before);
}

void worker::on_verified(connection& c, std::uint64_t before) {
  if (opts_.run_mode == mode::stream) {
    const std::uint64_t whole = c.stream.received() / opts_.size - before / opts_.size;
    if (measured(c.last_progress_ns)) result_.msgs += whole;
    if (intervals_) intervals_->current().msgs += whole;
    progress_.store(result_.msgs, std::memory_order_relaxed);
    if (c.st == state::active) try_send(c);  // the window moved
    return;
  }
  if (open_loop_) {
    on_echoed(c, c.last_progress_ns);
    return;
  }
  if (c.st == state::draining) return;
  if (c.stream.received() < c.target) return;  // the echo of this message is still partial
  const std::int64_t now = c.last_progress_ns;
  if (measured(c.msg_start_ns)) {
    count_message(static_cast<std::uint64_t>(now - c.msg_start_ns));
  } else if (intervals_) {
    ++intervals_->current().msgs;
    intervals_->current().latency.record(static_cast<std::uint64_t>(now - c.msg_start_ns));
  }
  switch (opts_.run_mode) {
    case mode::pingpong: next_message(c); break;
    case mode::churn: {
      if (measured(c.connect_start_ns)) ++result_.conns;
      // The client closes first, gracefully (FIN, not RST via SO_LINGER 0): the
      // server then pays for a normal connection lifecycle, and TIME_WAIT stays
      // on our side where source-address rotation absorbs it.
      close_ok(c);
      const bool more = !stopping_ && churn_left_ > 0;
      if (more) {
        if (churn_left_ != std::numeric_limits<std::uint64_t>::max()) --churn_left_;
        open(c);
      }
      break;
    }
    case mode::idle:
      ++result_.conns;
      c.st = state::held;
      c.want_out = false;
      update_interest(c);
      break;
    case mode::stream:
    case mode::probe: break;
  }
}

void worker::count_message(std::uint64_t latency_ns) {
  result_.latency.record(latency_ns);
  ++result_.msgs;
  progress_.store(result_.msgs, std::memory_order_relaxed);
  if (intervals_) {
    ++intervals_->current().msgs;
    intervals_->current().latency.record(latency_ns);
  }
}

void worker::start_schedule(connection& c) {
  c.flights.assign(max_in_flight_, flight{});
  c.schedule = send_schedule(opts_, start_ns_, c.id);
}

void worker::pace(connection& c, std::int64_t now) {
  if (c.st != state::active) return;
  // Everything due is queued at once, each with its own intended time: a client that
  // fell behind catches up instead of quietly sending less.
  while (!stopping_ && c.schedule.due_ns() <= now && c.schedule.due_ns() < stop_at_ns_ &&
         c.scheduled - c.echoed < max_in_flight_) {
    c.flights[c.scheduled % max_in_flight_] = flight{.intended_ns = c.schedule.due_ns()};
    ++c.scheduled;
    c.target += opts_.size;
    c.schedule.advance();
  }
  if (c.stream.sent() < c.target && !c.want_out) try_send(c);
}

void worker::mark_started(connection& c, std::int64_t now) {
  while (c.started < c.scheduled && c.started * opts_.size < c.stream.sent()) {
    auto& f = c.flights[c.started % max_in_flight_];
    f.actual_ns = now;
    if (measured(f.intended_ns)) {
      ++result_.schedule.sent;
      result_.schedule.lag.record(static_cast<std::uint64_t>(std::max<std::int64_t>(0, now - f.intended_ns)));
    }
    ++c.started;
  }
}

void worker::on_echoed(connection& c, std::int64_t now) {
  while (c.echoed < c.scheduled && c.stream.received() >= (c.echoed + 1) * opts_.size) {
    const auto& f = c.flights[c.echoed % max_in_flight_];
    const auto corrected = static_cast<std::uint64_t>(now - f.intended_ns);
    if (measured(f.intended_ns)) {
      count_message(corrected);
      result_.uncorrected.record(static_cast<std::uint64_t>(now - f.actual_ns));
    } else if (intervals_) {
      ++intervals_->current().msgs;
      intervals_->current().latency.record(corrected);
    }
    ++c.echoed;
  }
  if (c.st != state::active) return;
  if (stopping_) {
    if (c.echoed == c.scheduled && c.stream.sent() == c.target) begin_drain(c);
    return;
  }
  pace(c, now);  // the in-flight limit may have held messages back
}

void worker::count_unsent(connection& c) {
  // Due in the measured window but never queued (the in-flight limit held them back,
  // or the client could not keep up): the shortfall the report owns up to.
  while (c.schedule.due_ns() < stop_at_ns_) {
    if (measured(c.schedule.due_ns())) ++result_.schedule.unsent;
    c.schedule.advance();
  }
}

std::int64_t worker::pace_all(std::int64_t now) {
  std::int64_t next = now + loop_tick_ns;
  for (auto& c : conns_) {
    if (c.st != state::active) continue;
    pace(c, now);
    if (c.st == state::active && c.scheduled - c.echoed < max_in_flight_)
      next = std::min(next, c.schedule.due_ns());
  }
  return next;
}

void worker::update_interest(connection& c) {
  std::uint32_t wanted = EPOLLIN | (c.want_out ? static_cast<std::uint32_t>(EPOLLOUT) : 0u);
  if (c.st == state::connecting) wanted = EPOLLOUT;
  if (c.st == state::handshaking) wanted = c.want_out ? EPOLLOUT : EPOLLIN;
  if (wanted == c.interest) return;
  epoll_event ev{};
  ev.events = wanted;
  ev.data.u64 =
      (static_cast<std::uint64_t>(c.generation) << 32) | static_cast<std::uint64_t>(&c - conns_.data());
  if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, c.fd, &ev) < 0) {
    fail(c, stream_error::io);
    return;
  }
  c.interest = wanted;
}

void worker::release(connection& c, bool graceful) {
  if (c.st == state::connecting || c.st == state::handshaking) --connecting_;
  if (c.ssl != nullptr) {
    // A TLS close is announced (close_notify) unless the stream already was, or failed;
    // best effort: the socket closes right after either way.
    if (graceful && !c.stream.half_closed()) {
      bool ignored = false;
      (void)tls_client::half_close(c.ssl, c.stream, ignored);
    }
    tls_client::release(c.ssl);
    c.ssl = nullptr;
  }
  if (c.fd >= 0) ::close(c.fd);
  c.fd = -1;
  c.st = state::done;
}

void worker::fail(connection& c, stream_error kind) {
  result_.errors.add(kind);
  if (intervals_) ++intervals_->current().errors;
  release(c, false);
}

void worker::close_ok(connection& c) { release(c, true); }

void worker::on_event(connection& c, std::uint32_t events) {
  switch (c.st) {
    case state::connecting: on_connected(c); return;
    case state::handshaking: on_handshake(c); return;
    case state::unused:
    case state::done: return;
    default: break;
  }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
    on_readable(c);
    if (c.st == state::done) return;
    // TLS: a write that wanted to read first (a key update) goes on once it has.
    if (c.tls_pending != 0 && !c.want_out && c.st == state::active) try_send(c);
  }
  if (!(events & EPOLLOUT) || !c.want_out) return;
  if (c.st == state::active) try_send(c);
  else if (c.st == state::draining) begin_drain(c);
}

void worker::check_timeouts(std::int64_t now) {
  for (auto& c : conns_) {
    bool waiting = c.st == state::connecting || c.st == state::handshaking || c.st == state::active ||
                   c.st == state::draining;
    // Between two scheduled messages an open-loop connection owes nothing.
    if (open_loop_ && c.st == state::active && c.stream.outstanding() == 0 && c.stream.sent() == c.target)
      waiting = false;
    if (waiting && now - c.last_progress_ns > timeout_ns_) fail(c, stream_error::timeout);
  }
}

bool worker::has_connecting_capacity() const { return connecting_ < max_connecting; }

void worker::open_pending() {
  while (next_to_open_ < conns_.size() && has_connecting_capacity()) {
    auto& c = conns_[next_to_open_++];
    if (opts_.run_mode == mode::churn) {
      if (churn_left_ == 0) continue;
      if (churn_left_ != std::numeric_limits<std::uint64_t>::max()) --churn_left_;
    }
    open(c);
  }
}

bool worker::all_settled() const {
  if (next_to_open_ < conns_.size()) return false;
  return std::none_of(conns_.begin(), conns_.end(), [](const connection& c) {
    return c.st == state::connecting || c.st == state::handshaking || c.st == state::active ||
           c.st == state::unused;
  });
}

bool worker::all_done() const {
  if (next_to_open_ < conns_.size()) return false;
  return std::all_of(conns_.begin(), conns_.end(),
                     [](const connection& c) { return c.st == state::done || c.st == state::unused; });
}

void worker::begin_stop() {
  stopping_ = true;
  for (auto& c : conns_) {
    switch (c.st) {
      case state::ready:
      case state::held:
        if (opts_.run_mode == mode::idle) close_ok(c);
        else begin_drain(c);
        break;
      case state::active:
        // Stream: stop at the next message boundary (try_send decides);
        // pingpong and churn finish the message in flight; open loop sends what it
        // queued and drains once all of it is echoed.
        if (opts_.run_mode == mode::stream && !c.want_out) try_send(c);
        if (open_loop_) {
          count_unsent(c);
          if (c.echoed == c.scheduled && c.stream.sent() == c.target) begin_drain(c);
        }
        break;
      default: break;
    }
  }
}

void worker::event_loop_until(bool (worker::*done)() const) {
  epoll_event events[max_events];
  std::int64_t next_scan = now_ns() + 100'000'000;
  std::int64_t wake = next_scan;
  while (!(this->*done)()) {
    if (!stopping_ && control_.stop.load(std::memory_order_relaxed)) begin_stop();
    if (stopping_ && next_to_open_ < conns_.size()) next_to_open_ = conns_.size();
    open_pending();
    // Nanosecond timeouts (epoll_pwait2): a millisecond tick would make a uniform
    // schedule of more than 1000/s per connection bunch up.
    // The last stretch before a due send is polled, not slept: a timer wake-up alone
    // can be tens of microseconds late, as much as a loopback echo takes.
    std::int64_t wait_ns = std::clamp<std::int64_t>(wake - now_ns(), 0, loop_tick_ns);
    if (wait_ns < spin_ns) wait_ns = 0;
    else wait_ns -= spin_ns;
    const timespec timeout{.tv_sec = 0, .tv_nsec = wait_ns};
    const int n = ::epoll_pwait2(epfd_, events, max_events, &timeout, nullptr);
    if (n < 0 && errno != EINTR) throw std::runtime_error(std::string("epoll_wait: ") + std::strerror(errno));
    for (int i = 0; i < n; ++i) {
      const std::uint64_t data = events[i].data.u64;
      auto& c = conns_[data & 0xFFFFFFFFu];
      if (c.generation != static_cast<std::uint32_t>(data >> 32)) continue;  // stale slot
      on_event(c, events[i].events);
    }
    const std::int64_t now = now_ns();
    if (now >= next_scan) {
      check_timeouts(now);
      next_scan = now + 100'000'000;
    }
    wake = open_loop_ && !stopping_ && start_ns_ != 0 ? pace_all(now) : now + loop_tick_ns;
    if (intervals_) intervals_->roll(now);
  }
}

void worker::run() {
  // The default 50 us timer slack would make every scheduled send that much late.
  if (open_loop_) ::prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  if (opts_.run_mode != mode::churn) {
    // Connect (idle: and echo once) everything first, so the measured load
    // starts with all connections up at the same time.
    event_loop_until(&worker::all_settled);
    control_.ready.fetch_add(1);
    control_.ready.notify_all();
    if (opts_.run_mode == mode::idle) {
      event_loop_until(&worker::all_done);
      return;
    }
  } else {
    control_.ready.fetch_add(1);
    control_.ready.notify_all();
  }
  control_.go.wait(false);
  start_ns_ = control_.start_ns.load();
  measure_from_ns_ = control_.measure_from_ns.load();
  stop_at_ns_ = control_.stop_at_ns.load();
  if (intervals_) intervals_->begin(start_ns_, opts_.count.has_value() ? 0 : stop_at_ns_);
  const std::uint64_t waited = thread_cpu_wait_ns();
  for (auto& c : conns_)
    if (c.st == state::ready) start(c);
  event_loop_until(&worker::all_done);
  result_.schedule.cpu_wait_ns = thread_cpu_wait_ns() - waited;
  if (intervals_) intervals_->finish();
}

}  // namespace echo::bench
