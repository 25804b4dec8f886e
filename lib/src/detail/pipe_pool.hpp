#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>

namespace echo::detail {

/// Pipes for the splice path (socket -> pipe -> socket inside the kernel), recycled per
/// thread like read buffers (buffer_pool): a session takes one only when bytes are there
/// to move and gives it back as soon as the pipe is empty again, so an idle connection
/// holds none and a busy thread cycles through a few. Pipes are descriptors, so the pool
/// counts every one it has made (cached or in use) and makes a new one only when the
/// caller's descriptor room allows it.
///
/// A pipe is one non-blocking descriptor opened read-write (the pipe reopened through
/// /proc/self/fd), not pipe2's two ends: a session holds one int for it, and a pipe costs
/// clients one descriptor of the room, not two. Where /proc cannot be opened no pipe is
/// made and sessions copy.
///
/// splice(2) into a socket whose peer has gone raises SIGPIPE (it has no MSG_NOSIGNAL), which
/// would end whoever embeds us. So pipes are handed out only on a thread inside a `scope`,
/// which blocks SIGPIPE there (the runtime's threads run inside one); any other thread gets
/// none and its sessions copy.
class pipe_pool {
 public:
  /// While one exists on a thread, SIGPIPE is blocked on that thread and the pool serves it.
  /// On exit a SIGPIPE left pending is consumed before the old mask comes back.
  class scope {
   public:
    scope() noexcept;
    ~scope();
    scope(const scope&) = delete;
    scope& operator=(const scope&) = delete;

   private:
    bool blocked_ = false;  ///< this scope blocked SIGPIPE (it was not blocked before)
    bool outer_ = false;    ///< the thread was already inside a scope
  };

  /// An empty pipe from this thread's cache, or a new one when `max_pipes` (what the
  /// descriptor budget leaves for pipes now) is above the pipes that exist; -1 when neither
  /// is possible. Never throws: the caller is a reactor step.
  static int try_acquire(std::size_t max_pipes) noexcept;
  /// Gives back an empty pipe to this thread's cache, or closes it when the cache is full
  /// or more pipes exist than `max_pipes` (sessions have since taken the room); sets it to -1.
  static void release(int& pipe, std::size_t max_pipes) noexcept;
  /// Closes a pipe that may still hold bytes (they must not reach the next session); sets it
  /// to -1.
  static void discard(int& pipe) noexcept;

  /// Out of descriptors: closes this thread's idle pipes now and has every other thread close
  /// its own at its next acquire or release. Returns how many descriptors were freed here
  /// (one a pipe).
  static std::size_t shed() noexcept;

  /// Pipes that exist now, cached or in use, over all threads.
  static std::size_t live() noexcept;

  /// How many idle pipes each thread keeps (one descriptor each).
  static constexpr std::size_t cache_limit = 4;
};

}  // namespace echo::detail
