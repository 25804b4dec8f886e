#pragma once

#include <cstddef>

namespace echo {

/// Read buffers for sessions, recycled per thread. A session holds one only while it is
/// busy; an idle session returns it, so memory follows active sessions, not open ones.
/// Large buffers come straight from mmap: returning one beyond the cache gives its pages
/// back to the kernel at once instead of leaving them in the malloc heap.
class buffer_pool {
 public:
  /// A buffer of `size` bytes, from this thread's cache when one is there.
  static std::byte* acquire(std::size_t size);
  /// Gives back a buffer from acquire(size); null is ignored.
  static void release(std::byte* p, std::size_t size) noexcept;

  /// How many buffers each thread keeps for reuse.
  static constexpr std::size_t cache_limit = 16;
};

}  // namespace echo
