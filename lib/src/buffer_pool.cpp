#include "echo/buffer_pool.hpp"

#include <sys/mman.h>

#include <array>
#include <new>

namespace echo {
namespace {

constexpr std::size_t mmap_threshold = 16 * 1024;

std::byte* allocate(std::size_t size) {
  if (size < mmap_threshold) return static_cast<std::byte*>(::operator new(size));
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  return static_cast<std::byte*>(p);
}

void deallocate(std::byte* p, std::size_t size) noexcept {
  if (size < mmap_threshold) ::operator delete(p);
  else ::munmap(p, size);
}

// Per-thread cache of equally sized buffers. A process normally uses one size; a buffer of
// another size bypasses the cache.
struct thread_cache {
  std::size_t size = 0;
  std::size_t count = 0;
  std::array<std::byte*, buffer_pool::cache_limit> slots{};

  ~thread_cache() {
    for (std::size_t i = 0; i < count; ++i) deallocate(slots[i], size);
  }
};

thread_local thread_cache cache;

}  // namespace

std::byte* buffer_pool::acquire(std::size_t size) {
  if (cache.size == size && cache.count > 0) return cache.slots[--cache.count];
  return allocate(size);
}

void buffer_pool::release(std::byte* p, std::size_t size) noexcept {
  if (p == nullptr) return;
  if (cache.count == 0) cache.size = size;
  if (cache.size == size && cache.count < cache_limit) {
    cache.slots[cache.count++] = p;
    return;
  }
  deallocate(p, size);
}

}  // namespace echo
