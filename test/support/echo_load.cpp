#include "echo_load.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "echo/client/verified_stream.hpp"
#include "rng.hpp"
#include "socket_util.hpp"

namespace echo::test {
namespace {

using clock = std::chrono::steady_clock;
using echo::client::stream_error;
using step = echo::client::verified_stream::step;

struct connection {
  int fd = -1;
  bool connected = false;
  bool done = false;
  echo::client::verified_stream stream{};  // offsets, window, verification, half-close
  std::size_t chunk_left = 0;              // rest of the current random-sized write
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
    c.stream = echo::client::verified_stream(echo::client::pattern::connection_seed(o.seed, i));
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
    result.first_problem = "conn " + std::to_string(i) + ": " + what + " (sent " +
                           std::to_string(conns[i].stream.sent()) + ", received " +
                           std::to_string(conns[i].stream.received()) + ")";
  };
  const auto finish = [&](connection& c) {
    c.done = true;
    --open;
    ::close(c.fd);
    c.fd = -1;
  };
  // Counts a connection the engine failed, under the names the tests assert on.
  const auto failed = [&](std::size_t i, const step& s, const char* call) {
    auto& c = conns[i];
    switch (s.error) {
      case stream_error::extra_bytes:
        ++result.extra_bytes;
        problem(i, "more bytes than sent");
        break;
      case stream_error::mismatch:
        ++result.mismatches;
        problem(i, "mismatch at offset " + std::to_string(c.stream.received() + s.bytes));
        break;
      case stream_error::short_echo:
        if (o.server_closes) {
          ++result.eof_prefix;
          c.stream.half_close(c.fd);  // our FIN lets the draining server close
        } else {
          ++result.short_echoes;
          problem(i, "EOF before the whole echo");
        }
        break;
      default:
        ++result.resets;
        problem(i, std::string(call) + ": " + std::strerror(s.sys_error));
        break;
    }
    finish(c);
  };
  // Whether a connection still starts new writes: until its byte count or the send phase
  // is over, and while its unechoed bytes stay under the window.
  const auto wants_to_send = [&](const connection& c, bool sending) {
    if (by_bytes ? c.stream.sent() >= o.bytes_per_connection : !sending) return false;
    return c.stream.sent() < c.stream.window_end(o.max_outstanding);
  };

  while (open > 0 && clock::now() < deadline) {
    const bool sending = clock::now() < send_until;
    fds.clear();
    index.clear();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      auto& c = conns[i];
      if (c.done) continue;
      short events = POLLIN;
      if (!c.connected || (!c.stream.half_closed() && (c.chunk_left > 0 || wants_to_send(c, sending))))
        events |= POLLOUT;
      fds.push_back({c.fd, events, 0});
      index.push_back(i);
    }
    const int ready = ::poll(fds.data(), fds.size(), poll_timeout_ms(deadline, 50));
    if (ready < 0 && errno != EINTR) break;
    const bool still_sending = clock::now() < send_until;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      const short re = fds[k].revents;
      if (re == 0) continue;
      const std::size_t i = index[k];
      auto& c = conns[i];
      if (!c.connected) {
        int err = 0;
        if (echo::client::verified_stream::connect_result(c.fd, &err) != stream_error::none) {
          ++result.connect_failures;
          problem(i, std::string("connect: ") + std::strerror(err));
          finish(c);
          continue;
        }
        c.connected = true;
      }
      if (re & (POLLIN | POLLERR | POLLHUP)) {
        for (;;) {
          const step s = c.stream.receive(c.fd, in);
          if (s.what == step::kind::blocked) break;
          if (s.what == step::kind::failed) {
            failed(i, s, "recv");
            break;
          }
          if (s.what == step::kind::ended) {
            ++result.completed;
            finish(c);
            break;
          }
          if (c.stream.received() == s.bytes && o.active) o.active->fetch_add(1, std::memory_order_relaxed);
          result.bytes_verified += s.bytes;
          if (o.progress) o.progress->fetch_add(s.bytes, std::memory_order_relaxed);
          if (!o.half_close && by_bytes && c.stream.received() == o.bytes_per_connection) {
            ++result.completed;
            finish(c);
            break;
          }
        }
        if (c.done) continue;
      }
      if ((re & POLLOUT) && !c.stream.half_closed()) {
        if (c.chunk_left == 0 && wants_to_send(c, still_sending)) {
          c.chunk_left = sizes.between(o.min_write, o.max_write);
          if (by_bytes)
            c.chunk_left = static_cast<std::size_t>(
                std::min<std::uint64_t>(c.chunk_left, o.bytes_per_connection - c.stream.sent()));
        }
        if (c.chunk_left > 0) {
          const step s = c.stream.send(c.fd, c.chunk_left, out);
          if (s.what == step::kind::failed) {
            failed(i, s, "send");
            continue;
          }
          result.bytes_sent += s.bytes;
          c.chunk_left -= s.bytes;
        }
      }
      // Done sending: once the current write is out, half-close and expect the echo.
      const bool sent_all = by_bytes ? c.stream.sent() == o.bytes_per_connection : !still_sending;
      if (o.half_close && !o.server_closes && !c.stream.half_closed() && c.connected && c.chunk_left == 0 &&
          sent_all) {
        if (const step s = c.stream.half_close(c.fd); s.what == step::kind::failed) failed(i, s, "shutdown");
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
