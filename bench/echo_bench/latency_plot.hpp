#pragma once

#include "histogram.hpp"

#include <string>
#include <vector>

namespace echo::bench {

/// Latency by percentile as a standalone SVG, the way HdrHistogram's plotter draws it:
/// x is the percentile on a log scale of 1/(1 - p), from 0 % out to 99.999 %, y the
/// latency. Each series is one <polyline> whose id names it (corrected, uncorrected, or
/// latency for a closed-loop run), so the file can be checked as well as looked at.
class latency_plot {
 public:
  struct series {
    std::string id;
    std::string colour;
    const histogram* values;
  };

  latency_plot(std::string title, std::vector<series> lines);

  [[nodiscard]] std::string svg() const;
  /// Writes svg() to `path`; throws std::runtime_error when it cannot.
  void write(const std::string& path) const;

 private:
  std::string title_;
  std::vector<series> lines_;
};

}  // namespace echo::bench
