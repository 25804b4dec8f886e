#include "detail/pipe_pool.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>

namespace echo::detail {
namespace {

std::atomic<std::size_t> live_pipes{0};
// Bumped by shed(): a thread that sees a new value drops its idle pipes.
std::atomic<unsigned> shed_epoch{0};

void close_ends(pipe_ends& p) noexcept {
  ::close(p.read);
  ::close(p.write);
  p = {};
  live_pipes.fetch_sub(1, std::memory_order_relaxed);
}

// LIFO, as the buffer cache: the pipe handed out is the one whose pages were touched last.
struct thread_cache {
  std::size_t count = 0;
  unsigned epoch = 0;
  std::array<pipe_ends, pipe_pool::cache_limit> slots{};

  std::size_t clear() noexcept {
    const std::size_t closed = count;
    while (count > 0) close_ends(slots[--count]);
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

pipe_ends pipe_pool::try_acquire(std::size_t max_pipes) noexcept {
  if (!in_scope) return {};
  cache.follow_shed();
  if (cache.count > 0) return cache.slots[--cache.count];
  // Reserve before making it, so threads racing for the last room cannot both get it.
  if (live_pipes.fetch_add(1, std::memory_order_relaxed) >= max_pipes) {
    live_pipes.fetch_sub(1, std::memory_order_relaxed);
    return {};
  }
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    live_pipes.fetch_sub(1, std::memory_order_relaxed);
    return {};
  }
  return {fds[0], fds[1]};
}

void pipe_pool::release(pipe_ends& p, std::size_t max_pipes) noexcept {
  if (p.read < 0) return;
  cache.follow_shed();
  if (cache.count < cache_limit && live_pipes.load(std::memory_order_relaxed) <= max_pipes) {
    cache.slots[cache.count++] = p;
    p = {};
    return;
  }
  close_ends(p);
}

void pipe_pool::discard(pipe_ends& p) noexcept {
  if (p.read >= 0) close_ends(p);
}

std::size_t pipe_pool::shed() noexcept {
  shed_epoch.fetch_add(1, std::memory_order_relaxed);
  cache.epoch = shed_epoch.load(std::memory_order_relaxed);
  return 2 * cache.clear();
}

std::size_t pipe_pool::live() noexcept { return live_pipes.load(std::memory_order_relaxed); }

}  // namespace echo::detail
