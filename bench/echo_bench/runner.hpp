#pragma once

#include "options.hpp"
#include "run_result.hpp"

namespace echo::bench {

/// Runs one load: resolves the target, starts one worker thread per --threads,
/// releases them together once every connection is up, stops them at the deadline,
/// and merges their figures.
class runner {
 public:
  explicit runner(const options& opts);

  /// Blocks for the whole run. Throws std::runtime_error on a setup failure.
  run_result run();

  /// Seconds from the start of the load to the last worker finishing
  /// (idle: the hold time).
  [[nodiscard]] double elapsed_s() const noexcept { return elapsed_s_; }

 private:
  options opts_;
  double elapsed_s_ = 0;
};

}  // namespace echo::bench
