#include "echo_client.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "echo/client/verified_stream.hpp"
#include "socket_util.hpp"

namespace echo::test {
namespace {

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

int remaining_ms(std::chrono::steady_clock::time_point deadline) {
  const auto left =
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
  return left.count() < 0 ? 0 : static_cast<int>(left.count());
}

}  // namespace

echo_client::echo_client(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  sockaddr_storage addr{};
  const socklen_t len = make_sockaddr(host, port, addr);
  fd_ = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail("socket");
  int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), len) != 0) {
    if (errno != EINPROGRESS) {
      const int e = errno;
      ::close(fd_);
      errno = e;
      fail("connect");
    }
    pollfd p{fd_, POLLOUT, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) != 1) {
      ::close(fd_);
      throw std::runtime_error("connect timed out");
    }
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) {
      ::close(fd_);
      errno = err;
      fail("connect");
    }
  }
}

echo_client::echo_client(echo_client&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

echo_client::~echo_client() { close(); }

void echo_client::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void echo_client::send_all(const void* data, std::size_t size) {
  const auto* p = static_cast<const char*>(data);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (size > 0) {
    const ssize_t n = ::send(fd_, p, size, MSG_NOSIGNAL);
    if (n > 0) {
      p += n;
      size -= static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno != EAGAIN && errno != EINTR) fail("send");
    pollfd pf{fd_, POLLOUT, 0};
    if (::poll(&pf, 1, remaining_ms(deadline)) == 0) throw std::runtime_error("send timed out");
  }
}

bool echo_client::wait_readable(std::chrono::steady_clock::time_point deadline) {
  pollfd p{fd_, POLLIN, 0};
  return ::poll(&p, 1, remaining_ms(deadline)) == 1;
}

bool echo_client::try_recv_exact(std::size_t n, std::chrono::milliseconds timeout, std::string& out) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buf[65536];
  while (out.size() < n) {
    const ssize_t r = ::recv(fd_, buf, std::min(sizeof buf, n - out.size()), 0);
    if (r > 0) {
      out.append(buf, static_cast<std::size_t>(r));
      continue;
    }
    if (r == 0) throw std::runtime_error("unexpected EOF after " + std::to_string(out.size()) + " bytes");
    if (errno != EAGAIN && errno != EINTR) fail("recv");
    if (!wait_readable(deadline)) return false;
  }
  return true;
}

std::string echo_client::recv_exact(std::size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  if (!try_recv_exact(n, timeout, out))
    throw std::runtime_error("recv timed out after " + std::to_string(out.size()) + " of " +
                             std::to_string(n) + " bytes");
  return out;
}

void echo_client::shutdown_write() {
  if (::shutdown(fd_, SHUT_WR) != 0) fail("shutdown");
}

echo_client::end echo_client::wait_end(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    char c;
    const ssize_t r = ::recv(fd_, &c, 1, 0);
    if (r == 0) return end::eof;
    if (r > 0) return end::data;
    if (echo::client::from_errno(errno) == echo::client::stream_error::reset) return end::reset;
    if (errno != EAGAIN && errno != EINTR) fail("recv");
    if (!wait_readable(deadline)) return end::timeout;
  }
}

echo::client::stream_error echo_client::echo_pattern(std::uint64_t seed, std::size_t n,
                                                     std::chrono::milliseconds timeout) {
  using echo::client::stream_error;
  using step = echo::client::verified_stream::step;
  echo::client::verified_stream stream(echo::client::pattern::connection_seed(seed, 0));
  std::vector<std::byte> out(std::min<std::size_t>(n, 64 * 1024)), in(64 * 1024);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool connected = false;
  while (stream.received() < n) {
    const bool sending = stream.sent() < n;
    pollfd p{fd_, static_cast<short>(POLLIN | (sending || !connected ? POLLOUT : 0)), 0};
    if (::poll(&p, 1, poll_timeout_ms(deadline, 100)) <= 0) {
      if (std::chrono::steady_clock::now() >= deadline) return stream_error::timeout;
      continue;
    }
    if (!connected) {
      if (const auto e = echo::client::verified_stream::connect_result(fd_); e != stream_error::none)
        return e;
      connected = true;
    }
    if (p.revents & (POLLIN | POLLERR | POLLHUP)) {
      const step s = stream.receive(fd_, in);
      if (s.what == step::kind::failed) return s.error;
    }
    if ((p.revents & POLLOUT) && sending) {
      const step s = stream.send(fd_, std::min<std::uint64_t>(n - stream.sent(), out.size()), out);
      if (s.what == step::kind::failed) return s.error;
    }
  }
  return stream_error::none;
}

}  // namespace echo::test
