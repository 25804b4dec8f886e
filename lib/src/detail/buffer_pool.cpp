#include "detail/buffer_pool.hpp"

#include <sys/mman.h>

#include <array>
#include <atomic>
#include <new>

namespace echo::detail {
namespace {

constexpr std::size_t mmap_threshold = 16 * 1024;

std::atomic<std::size_t> live_buffers{0};

std::byte* allocate(std::size_t size) noexcept {
  void* p = nullptr;
  if (size < mmap_threshold) {
    p = ::operator new(size, std::nothrow);
  } else {
    p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) p = nullptr;
  }
  if (p != nullptr) live_buffers.fetch_add(1, std::memory_order_relaxed);
  return static_cast<std::byte*>(p);
}

void deallocate(std::byte* p, std::size_t size) noexcept {
  live_buffers.fetch_sub(1, std::memory_order_relaxed);
  if (size < mmap_threshold) ::operator delete(p);
  else ::munmap(p, size);
}

// Per-thread cache of equally sized buffers. A process normally uses one size; a buffer of
// another size bypasses the cache. LIFO, so the buffer handed out is the one most recently
// touched, still in cache.
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

std::byte* buffer_pool::try_acquire(std::size_t size) noexcept {
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

std::size_t buffer_pool::allocated() noexcept { return live_buffers.load(std::memory_order_relaxed); }

}  // namespace echo::detail
