#include "prober.hpp"

#include "tls_client.hpp"

#include "echo/client/pattern.hpp"
#include "echo/client/verified_stream.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace echo::bench {
namespace {

using step = client::verified_stream::step;

std::int64_t now_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

// The class a failed socket call stands for.
const char* class_of(int err) noexcept {
  switch (err) {
    case ECONNREFUSED:
    case ENOENT:  // a Unix path nobody listens on
      return "REFUSED";
    case ETIMEDOUT: return "TIMEOUT";
    case ECONNRESET:
    case EPIPE:
    case ECONNABORTED: return "RESET";
    default: return "UNREACHABLE";  // ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL, ENETDOWN ...
  }
}

// Waits until `fd` is ready for `events` or the deadline passes; the revents, or 0.
short wait_for(int fd, short events, std::int64_t deadline_ns) {
  for (int tries = 0; tries < 1000; ++tries) {
    const std::int64_t left = deadline_ns - now_ns();
    if (left <= 0) return 0;
    pollfd p{.fd = fd, .events = events, .revents = 0};
    const int n = ::poll(&p, 1, static_cast<int>((left + 999'999) / 1'000'000));
    if (n > 0) return p.revents;
    if (n < 0 && errno != EINTR) return POLLERR;
  }
  return 0;
}

// A TLS record header (alert or handshake, TLS 1.0-1.3): what a TLS server says to a
// client that did not open with a ClientHello.
bool looks_like_tls(const std::byte* p, std::size_t n) noexcept {
  if (n < 3) return false;
  const auto type = std::to_integer<unsigned>(p[0]);
  return (type == 0x15 || type == 0x16) && std::to_integer<unsigned>(p[1]) == 3 &&
         std::to_integer<unsigned>(p[2]) <= 4;
}

std::string json_escaped(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

}  // namespace

prober::prober(const options& opts) : opts_(opts) {
  if (opts.kind == transport::tls) tls_ = std::make_unique<tls_client>(opts);
}

prober::~prober() = default;

prober::outcome prober::attempt(std::uint64_t index) {
  outcome o;
  const std::int64_t start = now_ns();
  const std::int64_t deadline = start + static_cast<std::int64_t>(opts_.timeout_s * 1e9);
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  const int type = opts_.kind == transport::udp ? SOCK_DGRAM : SOCK_STREAM;
  if (opts_.kind == transport::unix_stream) {
    auto* un = reinterpret_cast<sockaddr_un*>(&addr);
    un->sun_family = AF_UNIX;
    const bool abstract = opts_.unix_path[0] == '@';
    std::memcpy(un->sun_path, opts_.unix_path.data(), opts_.unix_path.size());
    if (abstract) un->sun_path[0] = '\0';
    addr_len =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + opts_.unix_path.size() + (abstract ? 0 : 1));
    o.address = opts_.unix_path;
  } else {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = type;
    addrinfo* found = nullptr;
    const int rc = ::getaddrinfo(opts_.host.c_str(), std::to_string(opts_.port).c_str(), &hints, &found);
    if (rc != 0 || found == nullptr) {
      o.cls = "DNS";
      o.detail = ::gai_strerror(rc);
      o.total_us = static_cast<double>(now_ns() - start) / 1e3;
      return o;
    }
    std::memcpy(&addr, found->ai_addr, found->ai_addrlen);
    addr_len = static_cast<socklen_t>(found->ai_addrlen);
    ::freeaddrinfo(found);
    char text[INET6_ADDRSTRLEN] = "?";
    const void* a = addr.ss_family == AF_INET
                        ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&addr)->sin_addr)
                        : &reinterpret_cast<sockaddr_in6*>(&addr)->sin6_addr;
    ::inet_ntop(addr.ss_family, a, text, sizeof text);
    o.address = addr.ss_family == AF_INET6 ? fmt::format("[{}]:{}", text, opts_.port)
                                           : fmt::format("{}:{}", text, opts_.port);
  }

  const int fd = ::socket(addr.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    o.cls = "UNREACHABLE";
    o.detail = std::string("socket: ") + std::strerror(errno);
    return o;
  }
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) < 0 && errno != EINPROGRESS) {
    o.cls = class_of(errno);
    o.detail = std::strerror(errno);
  } else if (type == SOCK_STREAM) {
    const short ready = wait_for(fd, POLLOUT, deadline);
    int err = 0;
    if (ready == 0) {
      o.cls = "TIMEOUT";
      o.detail = "connect did not complete";
    } else if (client::verified_stream::connect_result(fd, &err) != client::stream_error::none) {
      o.cls = class_of(err);
      o.detail = std::strerror(err);
    } else {
      o.connect_us = static_cast<double>(now_ns() - start) / 1e3;
      stream_attempt(o, fd, index, deadline);
      // A TLS server closes on a plain client's first bytes, often without an alert, which
      // reads as a short echo or a reset; a second connection that offers a ClientHello
      // tells that apart from a server that really cut the echo short.
      if (opts_.kind == transport::tcp && o.echoed == 0 && (o.cls == "SHORT" || o.cls == "RESET") &&
          speaks_tls(addr, addr_len, deadline)) {
        o.cls = "TLS";
        o.detail = "no echo for plain TCP, and the port completes a TLS handshake: it expects TLS";
      }
    }
  } else {
    datagram_attempt(o, fd, index, deadline);
  }
  ::close(fd);
  o.total_us = static_cast<double>(now_ns() - start) / 1e3;
  return o;
}

void prober::stream_attempt(outcome& o, int fd, std::uint64_t index, std::int64_t deadline_ns) {
  client::verified_stream stream(client::pattern::connection_seed(opts_.seed, index));
  std::vector<std::byte> buf(std::min<std::size_t>(opts_.size, 256 * 1024) + 1);
  ssl_st* ssl = nullptr;
  const auto fail = [&](const char* cls, std::string detail) {
    o.cls = cls;
    o.detail = std::move(detail);
    o.echoed = stream.received();
    tls_client::release(ssl);
  };
  if (tls_) {
    ssl = tls_->attach(fd);
    if (ssl == nullptr) return fail("TLS", "SSL_new failed");
    bool want_write = false;
    for (int turns = 0; turns < 10000; ++turns) {
      const step s = tls_client::handshake(ssl, want_write);
      if (s.what == step::kind::moved) break;
      if (s.what == step::kind::failed) {
        const int err = errno;
        if (err == ECONNRESET || err == EPIPE) return fail("RESET", "reset during the TLS handshake");
        return fail("TLS", "handshake failed");
      }
      if (wait_for(fd, want_write ? POLLOUT : POLLIN, deadline_ns) == 0)
        return fail("TIMEOUT", "TLS handshake");
    }
  }
  // Send the whole payload, reading the echo as it comes (a payload larger than the
  // socket buffers would otherwise deadlock against a server that echoes as it reads).
  const std::uint64_t size = opts_.size;
  bool want_write = false;
  std::size_t pending = 0;
  for (int turns = 0; turns < 1'000'000 && stream.received() < size; ++turns) {
    if (stream.sent() < size) {
      const std::size_t len = std::min<std::uint64_t>(size - stream.sent(), buf.size());
      const step s = ssl != nullptr ? tls_client::send(ssl, stream, len, buf, pending, want_write)
                                    : stream.send(fd, len, buf);
      if (s.what == step::kind::failed)
        return fail(s.error == client::stream_error::reset ? "RESET" : "UNREACHABLE", to_string(s.error));
    }
    const short ready =
        wait_for(fd, static_cast<short>(POLLIN | (stream.sent() < size ? POLLOUT : 0)), deadline_ns);
    if (ready == 0) return fail("TIMEOUT", fmt::format("{} of {} bytes echoed", stream.received(), size));
    if (!(ready & (POLLIN | POLLERR | POLLHUP))) continue;
    const std::uint64_t before = stream.received();
    step s;
    if (ssl != nullptr) {
      s = tls_client::receive(ssl, stream, buf);
    } else {
      const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
      if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (n < 0) return fail(class_of(errno), std::strerror(errno));
      if (n == 0) s = stream.end_of_stream();
      else {
        s = stream.verify(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(n)));
        // A TLS server's alert to a plain client is the one mismatch worth naming.
        if (s.what == step::kind::failed && before == 0 &&
            looks_like_tls(buf.data(), static_cast<std::size_t>(n)))
          return fail("TLS", "the server answered with a TLS record: it expects TLS");
      }
    }
    if (s.what != step::kind::failed) continue;
    switch (s.error) {
      case client::stream_error::mismatch:
        return fail("MISMATCH", fmt::format("echo differs at byte {}", before + s.bytes));
      case client::stream_error::extra_bytes: return fail("MISMATCH", "more bytes echoed than sent");
      case client::stream_error::short_echo:
        return fail("SHORT", fmt::format("end of stream after {} of {} bytes", stream.received(), size));
      case client::stream_error::reset: return fail("RESET", "connection reset");
      case client::stream_error::timeout: return fail("TIMEOUT", "no echo");
      default: return fail("UNREACHABLE", to_string(s.error));
    }
  }
  if (stream.received() < size) return fail("TIMEOUT", "no echo");
  tls_client::release(ssl);
}

bool prober::speaks_tls(const sockaddr_storage& addr, socklen_t len, std::int64_t deadline_ns) {
  if (!tls_check_) {
    options o = opts_;
    o.tls_insecure = true;  // the question is whether it speaks TLS, not who it is
    o.tls_name = opts_.host;
    tls_check_ = std::make_unique<tls_client>(o);
  }
  const int fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  bool done = false;
  ssl_st* ssl = nullptr;
  if ((::connect(fd, reinterpret_cast<const sockaddr*>(&addr), len) == 0 || errno == EINPROGRESS) &&
      wait_for(fd, POLLOUT, deadline_ns) != 0 &&
      client::verified_stream::connect_result(fd) == client::stream_error::none &&
      (ssl = tls_check_->attach(fd)) != nullptr) {
    bool want_write = false;
    for (int turns = 0; turns < 10000; ++turns) {
      const step s = tls_client::handshake(ssl, want_write);
      if (s.what != step::kind::blocked) {
        done = s.what == step::kind::moved;
        break;
      }
      if (wait_for(fd, want_write ? POLLOUT : POLLIN, deadline_ns) == 0) break;
    }
  }
  tls_client::release(ssl);
  ::close(fd);
  return done;
}

void prober::datagram_attempt(outcome& o, int fd, std::uint64_t index, std::int64_t deadline_ns) {
  client::pattern p(client::pattern::connection_seed(opts_.seed, index));
  std::vector<std::byte> out(opts_.size);
  std::vector<std::byte> in(65536);
  p.fill(0, out.data(), out.size());
  if (::send(fd, out.data(), out.size(), 0) < 0) {
    o.cls = class_of(errno);
    o.detail = std::strerror(errno);
    return;
  }
  if (wait_for(fd, POLLIN, deadline_ns) == 0) {
    o.cls = "TIMEOUT";
    o.detail = "no datagram echoed";
    return;
  }
  const ssize_t n = ::recv(fd, in.data(), in.size(), MSG_DONTWAIT);
  if (n < 0) {
    o.cls = class_of(errno);  // ICMP port unreachable comes back as ECONNREFUSED
    o.detail = std::strerror(errno);
    return;
  }
  const auto got = static_cast<std::size_t>(n);
  if (got < out.size()) {
    o.cls = "SHORT";
    o.detail = fmt::format("{} of {} bytes echoed", got, out.size());
  } else if (got > out.size() || p.mismatch(0, in.data(), got) != got) {
    o.cls = "MISMATCH";
    o.detail = got > out.size() ? "longer datagram than sent" : "echo differs";
  }
}

int prober::run() {
  const std::uint64_t count = opts_.count.value_or(1);
  const std::int64_t start = now_ns();
  const double gap_ns = 1e9 / opts_.rate;
  const std::string target = json_escaped(opts_.target ? opts_.target->text : "");
  for (std::uint64_t i = 0; i < count; ++i) {
    // On schedule: attempt i starts i / rate after the first (or at once, if late).
    const std::int64_t due = start + static_cast<std::int64_t>(static_cast<double>(i) * gap_ns);
    if (const std::int64_t wait = due - now_ns(); wait > 0)
      std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
    const outcome o = attempt(i);
    ++classes_[o.cls];
    if (o.cls == "OK") ok_latency_.record(static_cast<std::uint64_t>(o.total_us * 1e3));
    std::string line = fmt::format(R"({{"attempt":{},"target":"{}","address":"{}","class":"{}")", i + 1,
                                   target, json_escaped(o.address), o.cls);
    if (!o.detail.empty()) line += fmt::format(R"(,"detail":"{}")", json_escaped(o.detail));
    if (o.connect_us >= 0) line += fmt::format(R"(,"connect_us":{:.1f})", o.connect_us);
    line += fmt::format(R"(,"total_us":{:.1f}}})", o.total_us);
    std::puts(line.c_str());
    std::fflush(stdout);
  }
  const std::string wanted = opts_.expect_class.empty() ? "OK" : opts_.expect_class;
  const bool pass = classes_.size() == 1 && classes_.begin()->first == wanted;
  std::string counts;
  for (const auto& [cls, n] : classes_)
    counts += fmt::format(R"({}"{}":{})", counts.empty() ? "" : ",", cls, n);
  std::puts(
      fmt::format(R"({{"summary":{{"target":"{}","attempts":{},"classes":{{{}}},"expect":"{}","pass":{},)"
                  R"("ok_p50_us":{:.1f},"ok_p99_us":{:.1f},"ok_max_us":{:.1f}}}}})",
                  target, count, counts, wanted, pass, ok_latency_.quantile_ns(0.5) / 1e3,
                  ok_latency_.quantile_ns(0.99) / 1e3, static_cast<double>(ok_latency_.max_ns()) / 1e3)
          .c_str());
  std::fflush(stdout);
  return pass ? 0 : 1;
}

}  // namespace echo::bench
