#pragma once

#include <array>
#include <cstdint>

namespace echo::bench {

/// HDR-style log-linear latency histogram in nanoseconds: 64 linear sub-buckets
/// per power of two (relative error < 1.6%), fixed size, no allocation on record,
/// and merged by adding counts, so each client thread keeps its own.
class histogram {
 public:
  /// Counts one sample; values beyond the range are clamped into the top bucket.
  void record(std::uint64_t ns) noexcept;

  /// Adds another histogram's counts to this one.
  void merge(const histogram& other) noexcept;

  /// Value (ns, bucket midpoint) at quantile q in [0, 1]; 0 when empty.
  [[nodiscard]] double quantile_ns(double q) const noexcept;

  [[nodiscard]] std::uint64_t count() const noexcept { return total_; }
  [[nodiscard]] std::uint64_t max_ns() const noexcept { return max_; }
  [[nodiscard]] double mean_ns() const noexcept;
  [[nodiscard]] double stddev_ns() const noexcept;

  // Bucket by bucket, for writers of the whole distribution (.hgrm, plots).
  [[nodiscard]] static constexpr std::size_t buckets() noexcept { return bucket_count; }
  [[nodiscard]] std::uint64_t count_at(std::size_t index) const noexcept { return counts_[index]; }
  /// What quantile_ns reports for a sample in bucket `index`: its midpoint, at most max_ns().
  [[nodiscard]] double value_at(std::size_t index) const noexcept;
  /// Sub-buckets per octave, as HdrHistogram's footer states them.
  [[nodiscard]] static constexpr unsigned sub_buckets() noexcept { return 1u << (sub_bits - 1); }

 private:
  static constexpr unsigned sub_bits = 7;    // 128 first-level, 64 per octave after
  static constexpr unsigned max_shift = 40;  // ~18 minutes in ns: plenty
  static constexpr std::size_t bucket_count = (1u << sub_bits) + max_shift * (1u << (sub_bits - 1));

  static std::size_t index_of(std::uint64_t ns) noexcept;
  static double midpoint_of(std::size_t index) noexcept;

  std::array<std::uint64_t, bucket_count> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace echo::bench
