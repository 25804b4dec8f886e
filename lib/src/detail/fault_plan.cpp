#include "detail/fault_plan.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

namespace echo::detail {
namespace {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// Integrity records list offsets up to this many, then how many more.
constexpr std::size_t max_offsets = 64;

std::uint64_t to_ms(nanoseconds d) noexcept {
  return d.count() <= 0 ? 0 : static_cast<std::uint64_t>(std::chrono::duration_cast<milliseconds>(d).count());
}

// Time to send `bytes` at `rate` bytes per second.
nanoseconds transfer_time(std::uint64_t bytes, std::uint64_t rate) noexcept {
  const long double seconds = static_cast<long double>(bytes) / static_cast<long double>(rate);
  return nanoseconds(static_cast<nanoseconds::rep>(seconds * 1e9L));
}

bool limits_bytes(fault_kind k) noexcept {
  return k == fault_kind::close_after || k == fault_kind::reset_after || k == fault_kind::stall ||
         k == fault_kind::early_fin;
}

}  // namespace

std::optional<boost::asio::ip::address> peer_address(int fd) noexcept {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  if (ss.ss_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, &ss, sizeof in);
    return boost::asio::ip::address_v4(ntohl(in.sin_addr.s_addr));
  }
  if (ss.ss_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &ss, sizeof in6);
    boost::asio::ip::address_v6::bytes_type b{};
    std::memcpy(b.data(), &in6.sin6_addr, b.size());
    return boost::asio::ip::address_v6(b);
  }
  return std::nullopt;
}

void drop_received(int fd) noexcept {
  // MSG_TRUNC on TCP drops the bytes without copying them; bounded so a flood cannot keep
  // us here.
  for (int i = 0; i < 64; ++i) {
    const auto n = ::recv(fd, nullptr, 1 << 20, MSG_DONTWAIT | MSG_TRUNC);
    if (n <= 0 && !(n < 0 && errno == EINTR)) return;
  }
}

std::unique_ptr<fault_plan> fault_plan::make(fault_engine& engine, const connection& c) {
  std::unique_ptr<fault_plan> plan(new fault_plan(engine, c, fault_random(engine.seed(), c.id)));
  plan->refresh();
  if (plan->faults_.empty()) return nullptr;
  return plan;
}

fault_plan::fault_plan(fault_engine& engine, connection c, fault_random rng)
    : engine_(engine), conn_(std::move(c)), rng_(rng) {}

void fault_plan::refresh() {
  auto set = engine_.active();
  generation_ = set->generation;
  for (auto& a : faults_) a.retired = true;
  // Faults that never acted leave no record: drop them.
  std::erase_if(faults_, [](const applied& a) { return !a.fired; });
  decide(set);
}

void fault_plan::decide(const std::shared_ptr<const fault_set>& set) {
  const auto now = clock::now();
  for (const auto& f : set->faults) {
    const auto& spec = f->spec;
    if (is_listener_fault(spec.kind)) continue;
    if (conn_.listener >= f->listeners.size() || !f->listeners[conn_.listener]) continue;
    if (spec.match && (!conn_.peer || !spec.match->contains(*conn_.peer))) continue;
    if (f->seen.fetch_add(1, std::memory_order_relaxed) < spec.after) continue;
    // probability=0 makes no draw at all: it cannot fire, whatever the generator does.
    if (!f->always && (f->threshold == 0 || rng_.next() >= f->threshold)) continue;
    if (spec.count && f->taken.fetch_add(1, std::memory_order_relaxed) >= *spec.count) continue;
    applied a;
    a.fault = f.get();
    a.owner = set;
    a.since = now;
    a.base = written_;
    a.next = now;
    faults_.push_back(std::move(a));
  }
}

void fault_plan::fire(applied& a) {
  if (a.fired) return;
  a.fired = true;
  engine_.count_fired(conn_.listener, a.fault->spec.kind);
}

step fault_plan::end_step(applied& a, step::kind what) {
  fire(a);
  a.done = true;
  a.at = written_;
  return {what, 0, {}, nullptr};
}

std::optional<step> fault_plan::ends(clock::time_point now) {
  for (auto& a : faults_) {
    if (a.retired) continue;
    const auto& spec = a.fault->spec;
    switch (spec.kind) {
      case fault_kind::close_after:
      case fault_kind::reset_after: {
        const bool due = spec.bytes ? written_ - a.base >= *spec.bytes : now - a.since >= *spec.time;
        if (due)
          return end_step(
              a, spec.kind == fault_kind::close_after ? step::kind::end_close : step::kind::end_reset);
        break;
      }
      case fault_kind::early_fin:
        if (written_ - a.base >= spec.bytes.value_or(0)) return end_step(a, step::kind::end_fin);
        break;
      case fault_kind::stall:
        if (written_ - a.base >= spec.bytes.value_or(0)) return end_step(a, step::kind::hold);
        break;
      case fault_kind::garbage_then_close:
        if (a.done) {
          garbage_.clear();
          return step{step::kind::end_fin, 0, {}, nullptr};
        }
        break;
      default: break;
    }
  }
  return std::nullopt;
}

void fault_plan::check_generation() {
  if (engine_.generation() != generation_) refresh();
}

step fault_plan::on_start() {
  check_generation();
  for (auto& a : faults_) {
    if (a.retired || a.done) continue;
    const auto& spec = a.fault->spec;
    if (spec.kind == fault_kind::accept_delay) {
      fire(a);
      a.done = true;
      return {step::kind::go, 0, spec.delay, nullptr};
    }
    if (spec.kind == fault_kind::banner) {
      fire(a);
      a.done = true;
      a.n = spec.text.size();
      written_ += spec.text.size();
      return {step::kind::go, spec.text.size(), {}, reinterpret_cast<const std::byte*>(spec.text.data())};
    }
  }
  return before_read();
}

step fault_plan::after_read(std::span<std::byte> data) {
  check_generation();
  const auto now = clock::now();
  const auto first = received_;
  received_ += data.size();
  last_read_ = data.size();
  repeats_ = 0;
  if (auto e = ends(now)) return *e;
  nanoseconds delay{0};
  for (auto& a : faults_) {
    if (a.retired) continue;
    const auto& spec = a.fault->spec;
    switch (spec.kind) {
      case fault_kind::blackhole:
        fire(a);
        a.n += data.size();
        return {step::kind::discard, 0, {}, nullptr};
      case fault_kind::garbage_then_close: {
        if (a.done) break;
        fire(a);
        a.done = true;
        const auto n = static_cast<std::size_t>(*spec.bytes);
        garbage_.resize(n);
        for (auto& b : garbage_) b = static_cast<std::byte>(rng_.next());
        a.at = written_;
        a.n = n;
        written_ += n;
        return {step::kind::go, n, {}, garbage_.data()};
      }
      case fault_kind::corrupt: {
        // Geometric gaps between flipped bytes: one draw per flip, not one per byte.
        const double keep = std::log1p(-a.fault->spec.ratio);
        std::size_t i = 0;
        for (;;) {
          const double u = (static_cast<double>(rng_.next() >> 11) + 1.0) * 0x1p-53;
          const double gap = keep == 0 ? 0 : std::floor(std::log(u) / keep);
          if (gap >= static_cast<double>(data.size() - i)) break;
          i += static_cast<std::size_t>(gap);
          data[i] ^= static_cast<std::byte>(1U << (rng_.next() % 8));
          fire(a);
          ++a.n;
          if (a.offsets.size() < max_offsets) a.offsets.push_back(first + i);
          else ++a.more;
          if (++i >= data.size()) break;
        }
        break;
      }
      case fault_kind::latency: {
        auto d = nanoseconds(spec.delay);
        if (spec.jitter.count() > 0) {
          const auto j = static_cast<std::uint64_t>(nanoseconds(spec.jitter).count());
          d += nanoseconds(static_cast<nanoseconds::rep>(rng_.between(0, 2 * j))) - nanoseconds(spec.jitter);
        }
        fire(a);
        ++a.n;
        a.lo = std::min(a.lo, to_ms(d));
        a.hi = std::max(a.hi, to_ms(d));
        delay += d;
        break;
      }
      case fault_kind::amplify:
        fire(a);
        ++a.n;
        repeats_ = std::max(repeats_, spec.factor - 1);
        break;
      case fault_kind::slow_read: {
        // The next read waits until these bytes would have taken at the rate.
        fire(a);
        a.n += data.size();
        a.next = std::max(a.next, now) + transfer_time(data.size(), spec.rate);
        break;
      }
      default: break;
    }
  }
  return {step::kind::go, 0, delay, nullptr};
}

step fault_plan::before_write(std::size_t pending) {
  check_generation();
  const auto now = clock::now();
  if (auto e = ends(now)) return *e;
  std::uint64_t chunk = pending;
  nanoseconds delay{0};
  for (auto& a : faults_) {
    if (a.retired) continue;
    const auto& spec = a.fault->spec;
    if (limits_bytes(spec.kind)) {
      // ends() let us through, so some of the allowance is left.
      if (spec.bytes) chunk = std::min(chunk, *spec.bytes - (written_ - a.base));
      continue;
    }
    switch (spec.kind) {
      case fault_kind::slice: chunk = std::min(chunk, rng_.between(spec.size_min, spec.size_max)); break;
      case fault_kind::bandwidth: {
        // Small pieces on a schedule: the rate holds over any stretch longer than a piece.
        chunk = std::min(chunk, std::max<std::uint64_t>(1, spec.rate / 50));
        break;
      }
      default: break;
    }
  }
  for (auto& a : faults_) {
    if (a.retired) continue;
    const auto& spec = a.fault->spec;
    if (spec.kind == fault_kind::slice) {
      fire(a);
      ++a.n;
      a.lo = std::min(a.lo, chunk);
      a.hi = std::max(a.hi, chunk);
      delay += spec.delay;
    } else if (spec.kind == fault_kind::bandwidth) {
      fire(a);
      a.n += chunk;
      // Unused time is not saved up beyond a moment: a pause does not buy a burst.
      if (a.next < now - milliseconds(20)) a.next = now - milliseconds(20);
      if (a.next > now) delay = std::max<nanoseconds>(delay, a.next - now);
      a.next += transfer_time(chunk, spec.rate);
    }
  }
  written_ += chunk;
  return {step::kind::go, static_cast<std::size_t>(chunk), delay, nullptr};
}

step fault_plan::pace(clock::time_point now) {
  nanoseconds wait{0};
  for (auto& a : faults_) {
    if (a.retired || a.fault->spec.kind != fault_kind::slow_read) continue;
    if (a.next > now) wait = std::max<nanoseconds>(wait, a.next - now);
  }
  return {step::kind::go, 0, wait, nullptr};
}

step fault_plan::before_read() {
  check_generation();
  const auto now = clock::now();
  if (auto e = ends(now)) return *e;
  if (repeats_ > 0) {
    --repeats_;
    return {step::kind::repeat, 0, {}, nullptr};
  }
  return pace(now);
}

step fault_plan::on_peer_fin() {
  check_generation();
  for (auto& a : faults_) {
    if (a.retired) continue;
    const auto& spec = a.fault->spec;
    if (spec.kind == fault_kind::hold_close_wait) return end_step(a, step::kind::hold);
    if (spec.kind == fault_kind::slow_close) {
      fire(a);
      a.done = true;
      return {step::kind::go, 0, spec.delay, nullptr};
    }
  }
  return step::proceed();
}

std::optional<fault_plan::clock::time_point> fault_plan::wake_at() const {
  std::optional<clock::time_point> at;
  for (const auto& a : faults_) {
    const auto& spec = a.fault->spec;
    if (a.retired || a.done || !spec.time) continue;
    if (spec.kind != fault_kind::close_after && spec.kind != fault_kind::reset_after) continue;
    const auto t = a.since + *spec.time;
    if (!at || t < *at) at = t;
  }
  return at;
}

step fault_plan::on_wake() {
  check_generation();
  if (auto e = ends(clock::now())) return *e;
  return pace(clock::now());
}

int fault_plan::receive_buffer() const {
  for (const auto& a : faults_)
    if (!a.retired && a.fault->spec.kind == fault_kind::slow_read) return slow_read_buffer;
  return 0;
}

std::vector<fault_effect> fault_plan::effects() const {
  std::vector<fault_effect> out;
  for (const auto& a : faults_) {
    if (!a.fired) continue;
    const auto& spec = a.fault->spec;
    std::string what;
    switch (spec.kind) {
      case fault_kind::latency: what = fmt::format("delayed {} echoes {}ms..{}ms", a.n, a.lo, a.hi); break;
      case fault_kind::bandwidth: what = fmt::format("paced {} bytes", a.n); break;
      case fault_kind::slice: what = fmt::format("sizes {}-{} in {} writes", a.lo, a.hi, a.n); break;
      case fault_kind::close_after: what = fmt::format("fin and close at byte {}", a.at); break;
      case fault_kind::reset_after: what = fmt::format("reset at byte {}", a.at); break;
      case fault_kind::stall: what = fmt::format("stalled at byte {}", a.at); break;
      case fault_kind::blackhole: what = fmt::format("discarded {} bytes", a.n); break;
      case fault_kind::slow_read: what = fmt::format("read {} bytes slowly", a.n); break;
      case fault_kind::slow_close:
        what = fmt::format("fin {}ms after the client's", to_ms(spec.delay));
        break;
      case fault_kind::early_fin: what = fmt::format("fin at byte {}, reading on", a.at); break;
      case fault_kind::hold_close_wait: what = "never answered the client's fin"; break;
      case fault_kind::accept_delay: what = fmt::format("first read after {}ms", to_ms(spec.delay)); break;
      case fault_kind::banner: what = fmt::format("sent {} bytes first", a.n); break;
      case fault_kind::corrupt: {
        what = "corrupt offsets ";
        for (std::size_t i = 0; i < a.offsets.size(); ++i)
          what += fmt::format("{}{}", i ? "," : "", a.offsets[i]);
        if (a.more) what += fmt::format(" +{} more", a.more);
        break;
      }
      case fault_kind::garbage_then_close:
        what = fmt::format("garbage at offsets {}-{}, then fin", a.at, a.at + a.n - 1);
        break;
      case fault_kind::amplify: what = fmt::format("sent {} echoes x{}", a.n, spec.factor); break;
      case fault_kind::no_accept:
      case fault_kind::refuse: break;
    }
    out.push_back({a.fault->text, std::move(what)});
  }
  return out;
}

}  // namespace echo::detail
