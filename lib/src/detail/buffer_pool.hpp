#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>

namespace echo::detail {

/// Read buffers, recycled per thread. Sessions take one only for the moment bytes are read
/// and echoed (see pooled_read_op) and keep it only while an echo waits for the peer to
/// read, so a busy thread cycles through a few hot buffers and an idle connection holds
/// none. Large buffers come straight from mmap: returning one beyond the cache gives its
/// pages back to the kernel at once instead of leaving them in the malloc heap.
class buffer_pool {
 public:
  /// A buffer of `size` bytes, from this thread's cache when one is there; null when memory
  /// is exhausted (the caller is a reactor step, which must not throw).
  static std::byte* try_acquire(std::size_t size) noexcept;
  /// Gives back a buffer from try_acquire(size); null is ignored.
  static void release(std::byte* p, std::size_t size) noexcept;

  /// Buffers that exist now, cached or in use, over all threads (changes only when a
  /// buffer is allocated or freed, never on the recycling path).
  static std::size_t allocated() noexcept;

  /// How many buffers each thread keeps for reuse.
  static constexpr std::size_t cache_limit = 16;
};

}  // namespace echo::detail
