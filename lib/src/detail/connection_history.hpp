#pragma once
// Internal header of echo::core: not installed, not part of the public API.

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "echo/connection_record.hpp"

namespace echo::detail {

/// The latest closed connections, a bounded ring: memory stays at `capacity` records however
/// many connections come and go. Sessions add to it once, as they are destroyed (never per
/// message). With one thread it takes no lock; with several, one mutex guards the ring.
class connection_history {
 public:
  connection_history(bool thread_safe, std::size_t capacity) noexcept
      : thread_safe_(thread_safe), capacity_(capacity) {}
  connection_history(const connection_history&) = delete;
  connection_history& operator=(const connection_history&) = delete;

  /// Whether records are kept at all (capacity above 0).
  bool enabled() const noexcept { return capacity_ != 0; }
  std::size_t capacity() const noexcept { return capacity_; }

  /// Keeps `record`, dropping the oldest one when full.
  void add(connection_record&& record);
  /// The records kept, newest first, and how many were ever added.
  std::vector<connection_record> latest(std::uint64_t& total) const;

 private:
  mutable std::mutex mutex_;
  const bool thread_safe_;
  const std::size_t capacity_;
  // Grows to capacity_ as records arrive, then wraps: an idle server holds none.
  std::vector<connection_record> ring_;
  std::size_t next_ = 0;  ///< where the next record goes once the ring is full
  std::uint64_t total_ = 0;
};

}  // namespace echo::detail
