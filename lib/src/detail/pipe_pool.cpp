#include "detail/pipe_pool.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstdio>

namespace echo::detail {
namespace {

std::atomic<std::size_t> live_pipes{0};
// Bumped by shed(): a thread that sees a new value drops its idle pipes.
std::atomic<unsigned> shed_epoch{0};

void close_pipe(int& p) noexcept {
  ::close(p);
  p = -1;
  live_pipes.fetch_sub(1, std::memory_order_relaxed);
}

// Opening a pipe's /proc entry read-write gives one descriptor that is both its reader and
// its writer (fifo_open), so splice can fill and drain it through the same int. The two
// ends pipe2 made are closed at once: nothing else ever refers to them.
int make_pipe() noexcept {
  int ends[2];
  if (::pipe2(ends, O_NONBLOCK | O_CLOEXEC) != 0) return -1;
  char path[32];
  std::snprintf(path, sizeof path, "/proc/self/fd/%d", ends[0]);
  const int both = ::open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
  ::close(ends[0]);
  ::close(ends[1]);
  return both;
}

// LIFO, as the buffer cache: the pipe handed out is the one whose pages were touched last.
struct thread_cache {
  std::size_t count = 0;
  unsigned epoch = 0;
  std::array<int, pipe_pool::cache_limit> slots{};

  std::size_t clear() noexcept {
    const std::size_t closed = count;
    while (count > 0) close_pipe(slots[--count]);
    return closed;
  }
  void follow_shed() noexcept {
    const unsigned now = shed_epoch.load(std::memory_order_relaxed);
    if (epoch == now) [[likely]]
      return;
    epoch = now;
    clear();
  }
  ~thread_cache() { clear(); }
};

thread_local thread_cache cache;
thread_local bool in_scope = false;

sigset_t sigpipe_set() noexcept {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  return set;
}

}  // namespace

pipe_pool::scope::scope() noexcept : outer_(in_scope) {
  if (outer_) return;
  const sigset_t set = sigpipe_set();
  sigset_t old;
  if (::pthread_sigmask(SIG_BLOCK, &set, &old) != 0) return;
  blocked_ = sigismember(&old, SIGPIPE) == 0;
  in_scope = true;
}

pipe_pool::scope::~scope() {
  if (outer_ || !in_scope) return;
  in_scope = false;
  if (!blocked_) return;
  const sigset_t set = sigpipe_set();
  sigset_t pending;
  const timespec now{};
  if (::sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1) ::sigtimedwait(&set, nullptr, &now);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

int pipe_pool::try_acquire(std::size_t max_pipes) noexcept {
  if (!in_scope) return -1;
  cache.follow_shed();
  if (cache.count > 0) return cache.slots[--cache.count];
  // Reserve before making it, so threads racing for the last room cannot both get it.
  if (live_pipes.fetch_add(1, std::memory_order_relaxed) >= max_pipes) {
    live_pipes.fetch_sub(1, std::memory_order_relaxed);
    return -1;
  }
  const int p = make_pipe();
  if (p < 0) live_pipes.fetch_sub(1, std::memory_order_relaxed);
  return p;
}

void pipe_pool::release(int& p, std::size_t max_pipes) noexcept {
  if (p < 0) return;
  cache.follow_shed();
  if (cache.count < cache_limit && live_pipes.load(std::memory_order_relaxed) <= max_pipes) {
    cache.slots[cache.count++] = p;
    p = -1;
    return;
  }
  close_pipe(p);
}

void pipe_pool::discard(int& p) noexcept {
  if (p >= 0) close_pipe(p);
}

std::size_t pipe_pool::shed() noexcept {
  shed_epoch.fetch_add(1, std::memory_order_relaxed);
  cache.epoch = shed_epoch.load(std::memory_order_relaxed);
  return cache.clear();
}

std::size_t pipe_pool::live() noexcept { return live_pipes.load(std::memory_order_relaxed); }

}  // namespace echo::detail
