#include "echo_load.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "pattern.hpp"
#include "socket_util.hpp"

namespace echo::test {
namespace {

struct connection {
  int fd = -1;
  bool connected = false;
  bool shut = false;
  bool done = false;
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::size_t chunk_left = 0;  // rest of the current random-sized write
};

}  // namespace

load_result run_echo_load(const load_options& o) {
  load_result result;
  sockaddr_storage addr{};
  const socklen_t addr_len = make_sockaddr(o.host, o.port, addr);
  const auto deadline = std::chrono::steady_clock::now() + o.timeout;
  rng sizes(o.seed ^ 0x5EED);

  std::vector<connection> conns(o.connections);
  std::size_t open = 0;
  for (auto& c : conns) {
    c.fd = ::socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      ++result.connect_failures;
      c.done = true;
      continue;
    }
    int one = 1;
    ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(c.fd, reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0 &&
        errno != EINPROGRESS) {
      ++result.connect_failures;
      c.done = true;
      continue;
    }
    ++open;
  }

  std::vector<std::byte> out(o.max_write);
  std::vector<std::byte> in(256 * 1024);
  std::vector<pollfd> fds;
  std::vector<std::size_t> index;
  const auto finish = [&](connection& c) {
    c.done = true;
    --open;
    ::close(c.fd);
    c.fd = -1;
  };

  while (open > 0) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    fds.clear();
    index.clear();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      auto& c = conns[i];
      if (c.done) continue;
      short events = POLLIN;
      if (!c.connected || c.sent < o.bytes_per_connection) events |= POLLOUT;
      fds.push_back({c.fd, events, 0});
      index.push_back(i);
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    const int ready = ::poll(fds.data(), fds.size(), static_cast<int>(std::min<long long>(left.count() + 1, 100)));
    if (ready < 0 && errno != EINTR) break;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      const short re = fds[k].revents;
      if (re == 0) continue;
      auto& c = conns[index[k]];
      const std::uint64_t stream = index[k];
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++result.connect_failures;
          finish(c);
          continue;
        }
        c.connected = true;
      }
      if (re & (POLLIN | POLLERR | POLLHUP)) {
        for (;;) {
          const ssize_t n = ::recv(c.fd, in.data(), in.size(), 0);
          if (n > 0) {
            const auto got = static_cast<std::size_t>(n);
            if (c.received + got > c.sent) {
              ++result.extra_bytes;
              finish(c);
              break;
            }
            if (first_mismatch(o.seed, stream, c.received, std::span(in.data(), got)) != got) {
              ++result.mismatches;
              finish(c);
              break;
            }
            c.received += got;
            result.bytes_verified += got;
            if (!o.half_close && c.received == o.bytes_per_connection) {
              ++result.completed;
              finish(c);
              break;
            }
            continue;
          }
          if (n == 0) {
            if (c.received == o.bytes_per_connection && c.shut) ++result.completed;
            else ++result.short_echoes;
            finish(c);
            break;
          }
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == EINTR) continue;
          ++result.resets;
          finish(c);
          break;
        }
        if (c.done) continue;
      }
      if ((re & POLLOUT) && c.sent < o.bytes_per_connection) {
        if (c.chunk_left == 0) c.chunk_left = sizes.between(o.min_write, o.max_write);
        const auto n = std::min<std::uint64_t>(c.chunk_left, o.bytes_per_connection - c.sent);
        auto chunk = std::span(out.data(), static_cast<std::size_t>(n));
        fill_pattern(o.seed, stream, c.sent, chunk);
        const ssize_t w = ::send(c.fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (w > 0) {
          c.sent += static_cast<std::uint64_t>(w);
          c.chunk_left -= static_cast<std::size_t>(w);
        } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          ++result.resets;
          finish(c);
          continue;
        }
      }
      if (o.half_close && !c.shut && c.sent == o.bytes_per_connection) {
        ::shutdown(c.fd, SHUT_WR);
        c.shut = true;
      }
    }
  }
  for (auto& c : conns) {
    if (c.done) continue;
    ++result.timeouts;
    ::close(c.fd);
  }
  return result;
}

}  // namespace echo::test
