#include "stress_support.hpp"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <thread>

#include "echo/client/verified_stream.hpp"
#include "socket_util.hpp"
#include "tcp_diag.hpp"

namespace echo::stress {
namespace {

std::string read_all(const std::string& path) {
  std::ifstream in(path);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

std::string read_file(const std::string& path) { return read_all(path); }

void record_figure(const std::string& line) {
  const char* path = std::getenv("ECHO_STRESS_FIGURES");
  std::ofstream out(path != nullptr && *path != '\0' ? path : "stress-figures.log", std::ios::app);
  const auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  out << stamp << ' ' << line << '\n';
}

std::uint16_t local_port(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
  if (addr.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  return ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
}

double env_number(const char* name, double fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const double d = std::strtod(v, &end);
  return (end != v && d > 0) ? d : fallback;
}

void raise_nofile() {
  rlimit lim{};
  // Left at a low soft limit, a test would fail later on EMFILE, far from the cause.
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0)
    throw std::runtime_error(std::string("getrlimit: ") + std::strerror(errno));
  if (lim.rlim_cur < lim.rlim_max) {
    lim.rlim_cur = lim.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0)
      throw std::runtime_error(std::string("setrlimit: ") + std::strerror(errno));
  }
}

std::optional<std::chrono::milliseconds> wait_fds_at_most(pid_t pid, std::size_t target,
                                                          std::chrono::milliseconds timeout) {
  const auto start = clock::now();
  const auto deadline = start + timeout;
  for (;;) {
    if (open_fds(pid) <= target)
      return std::chrono::duration_cast<std::chrono::milliseconds>(clock::now() - start);
    if (clock::now() >= deadline) return std::nullopt;
    ::poll(nullptr, 0, 10);  // deadline-bounded poll of an observable, not synchronisation
  }
}

std::uint64_t netstat_value(const std::string& key) {
  std::ifstream in("/proc/net/netstat");
  std::string names, values;
  while (std::getline(in, names) && std::getline(in, values)) {
    if (names.rfind("TcpExt:", 0) != 0) continue;
    std::istringstream n(names), v(values);
    std::string name, value;
    while (n >> name && v >> value)
      if (name == key) return std::stoull(value);
  }
  return 0;
}

std::size_t count_substr(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = haystack.find(needle); p != std::string::npos; p = haystack.find(needle, p + 1)) ++n;
  return n;
}

std::string lines_with(const std::string& text, const std::string& needle, std::size_t max) {
  std::istringstream in(text);
  std::string line, out;
  std::size_t n = 0;
  while (n < max && std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) {
      out += line + "\n";
      ++n;
    }
  }
  return out;
}

void abort_close(echo::test::unique_fd fd) {
  if (!fd) return;
  linger l{1, 0};
  // Without the linger option the close is an orderly FIN, and a test that means to storm
  // the server with resets would quietly test something else.
  if (::setsockopt(fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l) != 0)
    throw std::runtime_error(std::string("setsockopt SO_LINGER: ") + std::strerror(errno));
}

double elapsed_ms(clock::time_point since) {
  return std::chrono::duration<double, std::milli>(clock::now() - since).count();
}

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = p / 100.0 * static_cast<double>(v.size() - 1);
  return v[static_cast<std::size_t>(std::llround(rank))];
}

// ---------------------------------------------------------------------------------------
void open_probes(std::vector<probe_conn>& conns, std::size_t n, const std::string& host, std::uint16_t port) {
  for (std::size_t i = 0; i < n; ++i) {
    probe_conn c;
    c.tag = static_cast<char>('a' + static_cast<int>((conns.size()) % 26));
    const int fd = connect_nonblocking(host, port);
    if (fd < 0) {
      c.result = fd == -ECONNREFUSED ? outcome::refused : outcome::error;
      c.resolved_at = clock::now();
    } else {
      c.fd.reset(fd);
    }
    conns.push_back(std::move(c));
  }
}

void run_probes(std::vector<probe_conn>& conns, std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  std::vector<pollfd> fds;
  std::vector<std::size_t> index;
  const auto resolve = [](probe_conn& c, outcome o) {
    c.result = o;
    c.resolved_at = clock::now();
    if (o != outcome::served) close_probe(c);
  };
  for (;;) {
    fds.clear();
    index.clear();
    for (std::size_t i = 0; i < conns.size(); ++i) {
      auto& c = conns[i];
      if (c.result != outcome::pending || !c.fd) continue;
      fds.push_back({c.fd.get(), static_cast<short>(c.connected && c.sent ? POLLIN : POLLOUT), 0});
      index.push_back(i);
    }
    if (fds.empty() || clock::now() >= deadline) return;
    const int r = ::poll(fds.data(), fds.size(), echo::test::poll_timeout_ms(deadline, 100));
    if (r < 0 && errno != EINTR) return;
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      auto& c = conns[index[k]];
      if (!c.connected) {
        int err = 0;
        socklen_t len = sizeof err;
        if (::getsockopt(c.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        if (err != 0) {
          resolve(c, err == ECONNREFUSED ? outcome::refused
                     : err == ECONNRESET ? outcome::reset
                                         : outcome::error);
          continue;
        }
        c.connected = true;
      }
      if (!c.sent) {
        const ssize_t w = ::send(c.fd.get(), &c.tag, 1, MSG_NOSIGNAL);
        if (w == 1) {
          c.sent = true;
        } else if (w < 0 && errno != EAGAIN && errno != EINTR) {
          resolve(c, errno == ECONNRESET || errno == EPIPE ? outcome::reset : outcome::error);
        }
        continue;
      }
      char b = 0;
      const ssize_t n = ::recv(c.fd.get(), &b, 1, 0);
      if (n == 1) resolve(c, b == c.tag ? outcome::served : outcome::error);
      else if (n == 0) resolve(c, outcome::eof);
      else if (errno == ECONNRESET) resolve(c, outcome::reset);
      else if (errno != EAGAIN && errno != EINTR) resolve(c, outcome::error);
    }
  }
}

void rearm_served(std::vector<probe_conn>& conns) {
  for (auto& c : conns) {
    if (c.result != outcome::served) continue;
    c.result = outcome::pending;
    c.sent = false;
  }
}

std::size_t count_outcome(const std::vector<probe_conn>& conns, outcome o) {
  return static_cast<std::size_t>(
      std::count_if(conns.begin(), conns.end(), [o](const probe_conn& c) { return c.result == o; }));
}

void close_probe(probe_conn& c) { c.fd.reset(); }

void close_probes(std::vector<probe_conn>& conns) {
  for (auto& c : conns) close_probe(c);
}

// ---------------------------------------------------------------------------------------
pingpong_result run_pingpong(const std::string& host, std::uint16_t port, std::size_t connections,
                             std::size_t msg_size, std::chrono::milliseconds window, std::uint64_t seed) {
  pingpong_result result;
  using step = echo::client::verified_stream::step;
  struct conn {
    echo::test::unique_fd fd;
    bool connected = false;
    bool done = false;
    echo::client::verified_stream stream{};  // a message is echoed once nothing is outstanding
    clock::time_point sent_at{};
  };
  std::vector<conn> conns(connections);
  for (std::size_t i = 0; i < conns.size(); ++i) {
    auto& c = conns[i];
    c.stream = echo::client::verified_stream(echo::client::pattern::connection_seed(seed, i));
    c.fd.reset(connect_nonblocking(host, port));
    if (!c.fd) {
      ++result.failures;
      c.done = true;
    }
  }
  std::vector<std::byte> msg(msg_size), in(msg_size);
  const auto connect_deadline = clock::now() + std::chrono::seconds(5);
  // Connect everyone first, so the window measures only round trips.
  for (;;) {
    std::vector<pollfd> fds;
    std::vector<std::size_t> idx;
    for (std::size_t i = 0; i < conns.size(); ++i)
      if (!conns[i].done && !conns[i].connected) {
        fds.push_back({conns[i].fd.get(), POLLOUT, 0});
        idx.push_back(i);
      }
    if (fds.empty()) break;
    if (clock::now() >= connect_deadline) {
      for (auto i : idx) {
        ++result.failures;
        conns[i].done = true;
      }
      break;
    }
    ::poll(fds.data(), fds.size(), echo::test::poll_timeout_ms(connect_deadline, 100));
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      if (echo::client::verified_stream::connect_result(fds[k].fd) != echo::client::stream_error::none) {
        ++result.failures;
        conns[idx[k]].done = true;
      } else {
        conns[idx[k]].connected = true;
      }
    }
  }
  const auto send_msg = [&](conn& c) {
    c.sent_at = clock::now();
    // A small message fits an empty send buffer; a partial send is a failure here.
    if (const step s = c.stream.send(c.fd.get(), msg_size, msg);
        s.what != step::kind::moved || s.bytes != msg_size) {
      ++result.failures;
      c.done = true;
    }
  };
  for (std::size_t i = 0; i < conns.size(); ++i)
    if (!conns[i].done) send_msg(conns[i]);
  const auto end = clock::now() + window;
  std::vector<pollfd> fds;
  std::vector<std::size_t> idx;
  while (clock::now() < end) {
    fds.clear();
    idx.clear();
    for (std::size_t i = 0; i < conns.size(); ++i)
      if (!conns[i].done) {
        fds.push_back({conns[i].fd.get(), POLLIN, 0});
        idx.push_back(i);
      }
    if (fds.empty()) break;
    ::poll(fds.data(), fds.size(), echo::test::poll_timeout_ms(end, 50));
    for (std::size_t k = 0; k < fds.size(); ++k) {
      if (fds[k].revents == 0) continue;
      auto& c = conns[idx[k]];
      const step s = c.stream.receive(c.fd.get(), in);
      if (s.what == step::kind::blocked) continue;
      if (s.what != step::kind::moved) {
        ++(s.error == echo::client::stream_error::mismatch ? result.mismatches : result.failures);
        c.done = true;
        continue;
      }
      if (c.stream.outstanding() == 0) {
        result.rtt_us.push_back(std::chrono::duration<double, std::micro>(clock::now() - c.sent_at).count());
        if (clock::now() < end) send_msg(c);
      }
    }
  }
  return result;
}

// ---------------------------------------------------------------------------------------
stall_pump::stall_pump(const std::string& host, std::uint16_t port, std::size_t n, int sndbuf)
    : conns_(n), fds_(n) {
  for (std::size_t i = 0; i < n; ++i) {
    auto& c = conns_[i];
    const int fd = connect_nonblocking(host, port, 4096, sndbuf);
    c.last_send = clock::now();
    if (fd < 0) {
      c.closed = true;
      c.closed_at = clock::now();
    } else {
      fds_[i].reset(fd);
    }
  }
  thread_ = std::thread([this] { run(); });
}

stall_pump::~stall_pump() { stop(); }

void stall_pump::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void stall_pump::abort_all() {
  stop();
  for (auto& fd : fds_) abort_close(std::move(fd));
}

std::vector<stalled_conn> stall_pump::snapshot() const {
  std::lock_guard lock(mutex_);
  return conns_;
}

bool stall_pump::wait_blocked(std::chrono::milliseconds settle, std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mutex_);
    settle_ = settle;
  }
  const auto deadline = clock::now() + timeout;
  for (;;) {
    const auto s = snapshot();
    if (std::all_of(s.begin(), s.end(), [](const stalled_conn& c) { return c.blocked || c.closed; }))
      return true;
    if (clock::now() >= deadline) return false;
    ::poll(nullptr, 0, 10);  // deadline-bounded poll of the pump's state
  }
}

bool stall_pump::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = clock::now() + timeout;
  for (;;) {
    const auto s = snapshot();
    if (std::all_of(s.begin(), s.end(), [](const stalled_conn& c) { return c.closed; })) return true;
    if (clock::now() >= deadline) return false;
    ::poll(nullptr, 0, 10);
  }
}

void stall_pump::run() {
  std::vector<std::byte> chunk(256 * 1024);  // its echo is never read, so any bytes do
  std::vector<pollfd> fds;
  std::vector<std::size_t> idx;
  std::vector<std::uint64_t> sent;
  std::vector<clock::time_point> streak_start;  // first EAGAIN of the current streak
  std::vector<bool> in_streak;
  {
    std::lock_guard lock(mutex_);
    sent.assign(conns_.size(), 0);
    streak_start.assign(conns_.size(), clock::now());
    in_streak.assign(conns_.size(), false);
  }
  while (!stop_.load()) {
    fds.clear();
    idx.clear();
    std::chrono::milliseconds settle;
    const bool paused = paused_.load();
    {
      std::lock_guard lock(mutex_);
      settle = settle_;
      for (std::size_t i = 0; i < conns_.size(); ++i) {
        if (conns_[i].closed) continue;
        fds.push_back({fds_[i].get(), static_cast<short>(paused ? POLLRDHUP : POLLOUT | POLLRDHUP), 0});
        idx.push_back(i);
      }
    }
    if (fds.empty()) break;
    ::poll(fds.data(), fds.size(), 20);
    const auto now = clock::now();
    std::lock_guard lock(mutex_);
    for (std::size_t k = 0; k < fds.size(); ++k) {
      const std::size_t i = idx[k];
      auto& c = conns_[i];
      const short re = fds[k].revents;
      if (re & (POLLERR | POLLHUP | POLLRDHUP)) {
        c.closed = true;
        c.closed_at = now;
        continue;
      }
      if (re & POLLOUT) {
        if (c.port == 0) c.port = local_port(fds_[i].get());
        for (;;) {
          const ssize_t w = ::send(fds_[i].get(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
          if (w > 0) {
            c.sent += static_cast<std::uint64_t>(w);
            c.last_send = now;
            in_streak[i] = false;
            continue;
          }
          if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (!in_streak[i]) {
              in_streak[i] = true;
              streak_start[i] = now;
            }
          } else if (w < 0 && errno != EINTR) {
            c.closed = true;
            c.closed_at = now;
          }
          break;
        }
      }
      c.blocked = !c.closed && in_streak[i] && now - streak_start[i] >= settle;
      if (!c.blocked && !in_streak[i] && (re & POLLOUT) == 0 && now - c.last_send >= settle) c.blocked = true;
    }
  }
}

// ---------------------------------------------------------------------------------------
read_progress_sampler::read_progress_sampler(std::uint16_t local_port, std::chrono::milliseconds period)
    : thread_([this, local_port, period] { run(local_port, period); }) {}

read_progress_sampler::~read_progress_sampler() { stop(); }

read_progress_sampler::result read_progress_sampler::snapshot() const {
  std::lock_guard lock(mutex_);
  return result_;
}

read_progress_sampler::result read_progress_sampler::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
  return snapshot();
}

void read_progress_sampler::run(std::uint16_t local_port, std::chrono::milliseconds period) {
  std::optional<clock::time_point> previous;
  // The kernel takes Recv-Q and the received-bytes counter at two moments, so data arriving
  // in between inflates one reading of `read`. An advance therefore counts once the next
  // sample holds at least that value; a lower one shows it was not a read.
  std::map<std::uint16_t, std::pair<std::uint64_t, clock::time_point>> unconfirmed;
  while (!stop_.load()) {
    const auto sockets = tcp_sockets(local_port);
    const auto now = clock::now();
    std::unique_lock lock(mutex_);
    for (const auto& [peer, s] : sockets) {
      auto& p = result_.peers[peer];
      if (p.inode != s.inode) {
        p = {s.inode, s.read, now};  // a new connection (or the first sight of one)
        unconfirmed.erase(peer);
        latest_ = std::max(latest_.load(), now.time_since_epoch().count());
        continue;
      }
      if (const auto u = unconfirmed.find(peer); u != unconfirmed.end()) {
        if (s.read >= u->second.first) {
          p.read = u->second.first;
          p.advanced = u->second.second;
          latest_ = std::max(latest_.load(), p.advanced.time_since_epoch().count());
        }
        unconfirmed.erase(u);
      }
      if (s.read > p.read) unconfirmed[peer] = {s.read, now};
    }
    ++result_.samples;
    if (previous)
      result_.max_interval = std::max(result_.max_interval,
                                      std::chrono::duration_cast<std::chrono::milliseconds>(now - *previous));
    previous = now;
    lock.unlock();
    ::poll(nullptr, 0, static_cast<int>(period.count()));  // the sampling period, not a wait for an event
  }
}

}  // namespace echo::stress
