#include "histogram.hpp"

#include <bit>
#include <cmath>

namespace echo::bench {

std::size_t histogram::index_of(std::uint64_t ns) noexcept {
  constexpr std::uint64_t linear = 1u << sub_bits;
  if (ns < linear) return ns;
  // shift >= 1: values in [64 << shift, 128 << shift) share 64 buckets of width 2^shift.
  auto shift = static_cast<unsigned>(std::bit_width(ns)) - sub_bits;
  if (shift > max_shift) return bucket_count - 1;
  const std::uint64_t sub = (ns >> shift) - (linear / 2);
  return linear + (shift - 1) * (linear / 2) + sub;
}

double histogram::midpoint_of(std::size_t index) noexcept {
  constexpr std::size_t linear = 1u << sub_bits;
  if (index < linear) return static_cast<double>(index);
  const std::size_t shift = (index - linear) / (linear / 2) + 1;
  const std::size_t sub = (index - linear) % (linear / 2) + linear / 2;
  const double width = std::ldexp(1.0, static_cast<int>(shift));
  return static_cast<double>(sub) * width + width / 2;
}

void histogram::record(std::uint64_t ns) noexcept {
  ++counts_[index_of(ns)];
  ++total_;
  if (ns > max_) max_ = ns;
}

void histogram::merge(const histogram& other) noexcept {
  for (std::size_t i = 0; i < bucket_count; ++i) counts_[i] += other.counts_[i];
  total_ += other.total_;
  if (other.max_ > max_) max_ = other.max_;
}

double histogram::value_at(std::size_t index) const noexcept {
  const double mid = midpoint_of(index);
  const auto top = static_cast<double>(max_);
  return mid < top ? mid : top;
}

double histogram::mean_ns() const noexcept {
  if (total_ == 0) return 0.0;
  double sum = 0;
  for (std::size_t i = 0; i < bucket_count; ++i)
    if (counts_[i] != 0) sum += value_at(i) * static_cast<double>(counts_[i]);
  return sum / static_cast<double>(total_);
}

double histogram::stddev_ns() const noexcept {
  if (total_ == 0) return 0.0;
  const double mean = mean_ns();
  double sum = 0;
  for (std::size_t i = 0; i < bucket_count; ++i)
    if (counts_[i] != 0) sum += (value_at(i) - mean) * (value_at(i) - mean) * static_cast<double>(counts_[i]);
  return std::sqrt(sum / static_cast<double>(total_));
}

double histogram::quantile_ns(double q) const noexcept {
  if (total_ == 0) return 0.0;
  // Rank of the sample at quantile q, 1-based, at least the first sample.
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(total_)));
  if (rank == 0) rank = 1;
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < bucket_count; ++i) {
    seen += counts_[i];
    if (seen >= rank) return value_at(i);
  }
  return static_cast<double>(max_);
}

}  // namespace echo::bench
