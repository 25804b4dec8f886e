#include "runner.hpp"

#include "interval_log.hpp"
#include "report.hpp"
#include "udp_worker.hpp"
#include "worker.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace echo::bench {
namespace {

volatile std::sig_atomic_t interrupted = 0;

extern "C" void on_interrupt(int) { interrupted = 1; }

void raise_fd_limit() {
  // 10k idle connections need more than the usual soft limit of 1024.
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &rl);
  }
}

socklen_t resolve(const options& o, sockaddr_storage& out) {
  out = {};
  if (o.kind == transport::unix_stream) {
    auto* un = reinterpret_cast<sockaddr_un*>(&out);
    un->sun_family = AF_UNIX;
    // @name is Linux's abstract namespace: a leading NUL, and the length says where
    // the name ends (no terminating NUL). options checked that it fits.
    const bool abstract = o.unix_path[0] == '@';
    std::memcpy(un->sun_path, o.unix_path.data(), o.unix_path.size());
    if (abstract) un->sun_path[0] = '\0';
    return static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + o.unix_path.size() + (abstract ? 0 : 1));
  }
  auto* v4 = reinterpret_cast<sockaddr_in*>(&out);
  if (::inet_pton(AF_INET, o.host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(o.port);
    return sizeof(sockaddr_in);
  }
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&out);
  if (::inet_pton(AF_INET6, o.host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(o.port);
    return sizeof(sockaddr_in6);
  }
  // A name: its first address (every connection goes to the same one).
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = o.kind == transport::udp ? SOCK_DGRAM : SOCK_STREAM;
  addrinfo* found = nullptr;
  if (const int rc = ::getaddrinfo(o.host.c_str(), nullptr, &hints, &found); rc != 0 || found == nullptr)
    throw std::runtime_error("--host: cannot resolve '" + o.host + "': " + ::gai_strerror(rc));
  std::memcpy(&out, found->ai_addr, found->ai_addrlen);
  const auto len = static_cast<socklen_t>(found->ai_addrlen);
  ::freeaddrinfo(found);
  if (out.ss_family == AF_INET) v4->sin_port = htons(o.port);
  else v6->sin6_port = htons(o.port);
  return len;
}

std::int64_t monotonic_ns() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1000000000 + ts.tv_nsec;
}

}  // namespace

runner::runner(const options& opts) : opts_(opts) {
  if (opts_.run_mode == mode::churn && opts_.source_addrs == 0)
    opts_.source_addrs = opts_.host.rfind("127.", 0) == 0 ? 64 : 1;
  if (opts_.host.rfind("127.", 0) != 0) opts_.source_addrs = 1;  // only loopback has spares
  if (opts_.kind == transport::unix_stream) opts_.source_addrs = 1;
}

run_result runner::run() {
  sockaddr_storage target{};
  const socklen_t target_len = resolve(opts_, target);
  if (opts_.kind == transport::mptcp) {
    // Without this, a kernel that has no MPTCP (or net.mptcp.enabled=0) would show up only
    // as connect errors on every connection, with no reason given.
    const int fd = ::socket(target.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_MPTCP);
    if (fd < 0)
      throw std::runtime_error(std::string("--mptcp: cannot open an MPTCP socket: ") + std::strerror(errno));
    ::close(fd);
  }
  raise_fd_limit();
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  ::sigaction(SIGINT, &sa, nullptr);
  ::sigaction(SIGTERM, &sa, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  run_control control;
  std::vector<std::unique_ptr<load_worker>> workers;
  const std::uint32_t n = opts_.threads;
  const std::uint64_t count = opts_.count.value_or(0);
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t conns = opts_.connections / n + (i < opts_.connections % n ? 1 : 0);
    const std::uint64_t share = count / n + (i < count % n ? 1 : 0);
    if (opts_.kind == transport::udp)
      workers.push_back(std::make_unique<udp_worker>(opts_, target, target_len, i, conns, share, control));
    else workers.push_back(std::make_unique<worker>(opts_, target, target_len, i, conns, share, control));
  }

  std::atomic<std::uint32_t> finished{0};
  std::exception_ptr failure;
  std::atomic<bool> failed{false};
  std::vector<std::thread> threads;
  for (auto& w : workers) {
    threads.emplace_back([&, wp = w.get()] {
      try {
        wp->run();
      } catch (...) {
        if (!failed.exchange(true)) failure = std::current_exception();
        control.ready.fetch_add(1);
        control.ready.notify_all();
      }
      finished.fetch_add(1);
    });
  }

  using clock = std::chrono::steady_clock;
  const auto tick = std::chrono::milliseconds(10);
  while (control.ready.load() < n) {
    if (interrupted) control.stop = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (opts_.ready_line) {
    std::printf("established %u\n", opts_.connections);
    std::fflush(stdout);
  }
  const auto start = clock::now();
  // steady_clock is CLOCK_MONOTONIC on Linux, the clock the workers read; the schedule
  // and the warm-up are set in it before anyone starts.
  const std::int64_t start_ns = monotonic_ns();
  const auto warmup_ns = static_cast<std::int64_t>(opts_.warmup_s * 1e9);
  control.start_ns = start_ns;
  control.measure_from_ns = start_ns + warmup_ns;
  control.stop_at_ns = start_ns + warmup_ns + static_cast<std::int64_t>(opts_.duration_s * 1e9);
  control.go = true;
  control.go.notify_all();

  const bool timed = !opts_.count.has_value() || opts_.run_mode == mode::idle;
  const auto deadline = start + std::chrono::duration_cast<clock::duration>(
                                    std::chrono::duration<double>(opts_.warmup_s + opts_.duration_s));
  std::vector<interval_log*> logs;
  for (const auto& w : workers)
    if (auto* l = w->intervals()) logs.push_back(l);
  std::size_t interval_index = 0;
  const auto print_intervals = [&] {
    // An interval is printed once every worker has closed it.
    while (!logs.empty() &&
           std::all_of(logs.begin(), logs.end(), [](interval_log* l) { return l->ready() > 0; })) {
      interval_figures merged;
      for (auto* l : logs) l->take(merged);
      ++interval_index;
      const bool warmup = static_cast<double>(interval_index) * opts_.interval_s <= opts_.warmup_s + 1e-9;
      std::fputs(report::interval_line(opts_, interval_index, merged, warmup).c_str(), stdout);
      std::fflush(stdout);
    }
  };
  const bool progress = opts_.progress == 1 ||
                        (opts_.progress == -1 && ::isatty(STDERR_FILENO) && timed && opts_.duration_s > 2.0);
  auto next_progress = start + std::chrono::seconds(1);
  std::uint64_t last_msgs = 0;
  while (finished.load() < n) {
    std::this_thread::sleep_for(tick);
    const auto now = clock::now();
    if (interrupted || (timed && now >= deadline)) control.stop = true;
    print_intervals();
    if (progress && now >= next_progress) {
      std::uint64_t msgs = 0;
      for (const auto& w : workers) msgs += w->progress();
      std::fprintf(stderr, "\r  %5.1fs  msgs %12llu  %10.0f msgs/s ",
                   std::chrono::duration<double>(now - start).count(), static_cast<unsigned long long>(msgs),
                   static_cast<double>(msgs - last_msgs));
      last_msgs = msgs;
      next_progress += std::chrono::seconds(1);
    }
  }
  const auto end = clock::now();
  if (progress) std::fputs("\n", stderr);
  for (auto& t : threads) t.join();
  if (failure) std::rethrow_exception(failure);
  print_intervals();

  // UDP: after the deadline the workers only wait out the datagrams still in flight,
  // up to --loss-timeout; that wait is not load, so a timed run counts its duration.
  // Open loop: the rate is over the schedule's window, whose messages all count however
  // late their echo; the drain after it is not load either.
  const bool fixed =
      opts_.run_mode == mode::idle || (opts_.kind == transport::udp && timed) || opts_.open_loop();
  elapsed_s_ = fixed ? opts_.duration_s : std::chrono::duration<double>(end - start).count() - opts_.warmup_s;
  run_result total;
  for (const auto& w : workers) total += w->result();
  return total;
}

}  // namespace echo::bench
