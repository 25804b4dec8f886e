#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>

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

/// The buffer a read operation holds between a read and the end of its echo: taken from the
/// pool only when there are bytes to read, given back as soon as they are echoed.
class pool_buffer {
 public:
  pool_buffer() = default;
  ~pool_buffer() { release(); }
  pool_buffer(const pool_buffer&) = delete;
  pool_buffer& operator=(const pool_buffer&) = delete;

  /// Gives back any buffer held; buffers taken from now on are `size` bytes.
  void reset(std::uint32_t size) noexcept {
    release();
    size_ = size;
  }
  /// Takes a buffer; false when memory is exhausted. Must not hold one already.
  bool acquire() noexcept {
    data_ = buffer_pool::try_acquire(size_);
    return data_ != nullptr;
  }
  /// Gives the buffer back to this thread's pool (no-op when none is held).
  void release() noexcept {
    buffer_pool::release(data_, size_);
    data_ = nullptr;
  }
  std::byte* data() const noexcept { return data_; }
  std::uint32_t size() const noexcept { return size_; }

 private:
  std::byte* data_ = nullptr;
  std::uint32_t size_ = 0;
};

}  // namespace echo::detail
