#pragma once

#include "histogram.hpp"

#include <string>

namespace echo::bench {

/// A histogram as HdrHistogram's percentile distribution text (the `.hgrm` files that
/// wrk2 prints and HdrHistogram's plotter reads): one row per percentile step, five steps
/// per halving of the distance to 100 %, values in milliseconds, then the footer with
/// mean, standard deviation, max and count. Values are the ones echo-bench's tables show
/// (bucket midpoints, at most the max), so the file and the table agree.
class hgrm_writer {
 public:
  explicit hgrm_writer(const histogram& h) noexcept : histogram_(h) {}

  [[nodiscard]] std::string text() const;
  /// Writes text() to `path`; throws std::runtime_error when it cannot.
  void write(const std::string& path) const;

 private:
  const histogram& histogram_;
};

}  // namespace echo::bench
