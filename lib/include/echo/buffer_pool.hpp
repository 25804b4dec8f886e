#pragma once

#include <cstddef>
#include <memory>

namespace echo {

/// Read buffers for sessions, recycled per thread. A session holds one only while it is
/// busy; an idle session returns it, so memory follows active sessions, not open ones.
/// Large buffers come straight from mmap: returning one beyond the cache gives its pages
/// back to the kernel at once instead of leaving them in the malloc heap.
class buffer_pool {
 public:
  struct deleter {
    std::size_t size;
    void operator()(std::byte* p) const noexcept { release(p, size); }
  };
  using buffer = std::unique_ptr<std::byte[], deleter>;

  /// A buffer of `size` bytes, from this thread's cache when one is there.
  static buffer acquire(std::size_t size);

  /// How many buffers each thread keeps for reuse.
  static constexpr std::size_t cache_limit = 32;

 private:
  static void release(std::byte* p, std::size_t size) noexcept;
};

}  // namespace echo
