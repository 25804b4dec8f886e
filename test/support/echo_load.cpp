#include "echo_load.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "echo/client/pattern.hpp"
#include "rng.hpp"
#include "socket_util.hpp"

namespace echo::test {
namespace {

using clock = std::chrono::steady_clock;

struct connection {
  int fd = -1;
  bool connected = false;
  bool shut = false;
  bool done = false;
  echo::client::pattern pattern{0};
  std::uint64_t sent = 0;
  std::uint64_t received = 0;
  std::size_t chunk_left = 0;  // rest of the current random-sized write
};

}  // namespace

load_result run_echo_load(const load_options& o) {
  load_result result;
  const auto start = clock::now();
  const auto deadline = start + o.timeout;
  const auto send_until = o.send_for ? start + *o.send_for : clock::time_point::max();
  const bool by_bytes = !o.send_for;
  rng sizes(o.seed ^ 0x5EED);

  std::vector<connection> conns(o.connections);
  std::size_t open = 0;
  for (std::size_t i = 0; i < conns.size(); ++i) {
    auto& c = conns[i];
    c.pattern = echo::client::pattern(echo::client::pattern::connection_seed(o.seed, i));
    c.fd = connect_nonblocking(o.host, o.port);
    if (c.fd < 0) {
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
  const auto problem = [&](std::size_t i, const std::string& what) {
    if (!result.first_problem.empty()) return;
    result.first_problem = "conn " + std::to_string(i) + ": " + what + " (sent " + std::to_string(conns[i].sent) +
                           ", received " + std::to_string(conns[i].received) + ")";
  };
  const auto finish = [&](connection& c) {
    c.done = true;
    --open;
    ::close(c.fd);
    c.fd = -1;
  };
  // Whether a connection still starts new writes: until its byte count or the send phase
  // is over, and while its unechoed bytes stay under the window.
  const auto wants_to_send = [&](const connection& c, bool sending) {
    if (by_bytes ? c.sent >= o.bytes_per_connection : !sending) return false;
    return c.sent - c.received < o.max_outstanding;
  };

  while (open > 0 && clock::now() < deadline) {
    const bool sending = clock::now() < send_until;
    fds.clear();
    index.clear();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      auto& c = conns[i];
      if (c.done) continue;
      short events = POLLIN;
      if (!c.connected || (!c.shut && (c.chunk_left > 0 || wants_to_send(c, sending)))) events |= POLLOUT;
      fds.push_back({c.fd, events, 0});
      index.push_back(i);
    }
    const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms(deadline, 50));
    if (ready < 0 && errno != EINTR) break;
    const bool still_sending = clock::now() < send_until;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      const short re = fds[k].revents;
      if (re == 0) continue;
      auto& c = conns[index[k]];
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err != 0) {
          ++result.connect_failures;
          problem(index[k], std::string("connect: ") + std::strerror(err));
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
              problem(index[k], "more bytes than sent");
              finish(c);
              break;
            }
            const auto bad = c.pattern.mismatch(c.received, in.data(), got);
            if (bad != got) {
              ++result.mismatches;
              problem(index[k], "mismatch at offset " + std::to_string(c.received + bad));
              finish(c);
              break;
            }
            if (c.received == 0 && o.active) o.active->fetch_add(1, std::memory_order_relaxed);
            c.received += got;
            result.bytes_verified += got;
            if (o.progress) o.progress->fetch_add(got, std::memory_order_relaxed);
            if (!o.half_close && by_bytes && c.received == o.bytes_per_connection) {
              ++result.completed;
              finish(c);
              break;
            }
            continue;
          }
          if (n == 0) {
            if (c.received == c.sent && c.shut) {
              ++result.completed;
            } else if (o.server_closes) {
              ++result.eof_prefix;
              ::shutdown(c.fd, SHUT_WR);  // our FIN lets the draining server close
            } else {
              ++result.short_echoes;
              problem(index[k], "EOF before the whole echo");
            }
            finish(c);
            break;
          }
          if (errno == EAGAIN || errno == EWOULDBLOCK) break;
          if (errno == EINTR) continue;
          ++result.resets;
          problem(index[k], std::string("recv: ") + std::strerror(errno));
          finish(c);
          break;
        }
        if (c.done) continue;
      }
      if ((re & POLLOUT) && !c.shut) {
        if (c.chunk_left == 0 && wants_to_send(c, still_sending)) {
          c.chunk_left = sizes.between(o.min_write, o.max_write);
          if (by_bytes) c.chunk_left = static_cast<std::size_t>(
              std::min<std::uint64_t>(c.chunk_left, o.bytes_per_connection - c.sent));
        }
        if (c.chunk_left > 0) {
          c.pattern.fill(c.sent, out.data(), c.chunk_left);
          const ssize_t w = ::send(c.fd, out.data(), c.chunk_left, MSG_NOSIGNAL);
          if (w > 0) {
            c.sent += static_cast<std::uint64_t>(w);
            result.bytes_sent += static_cast<std::uint64_t>(w);
            c.chunk_left -= static_cast<std::size_t>(w);
          } else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            ++result.resets;
            problem(index[k], std::string("send: ") + std::strerror(errno));
            finish(c);
            continue;
          }
        }
      }
      // Done sending: once the current write is out, half-close and expect the echo.
      const bool sent_all = by_bytes ? c.sent == o.bytes_per_connection : !still_sending;
      if (o.half_close && !o.server_closes && !c.shut && c.connected && c.chunk_left == 0 && sent_all) {
        ::shutdown(c.fd, SHUT_WR);
        c.shut = true;
      }
    }
  }
  for (std::size_t i = 0; i < conns.size(); ++i) {
    if (conns[i].done) continue;
    ++result.timeouts;
    problem(i, "unfinished at the deadline");
    ::close(conns[i].fd);
  }
  return result;
}

}  // namespace echo::test
