#pragma once

#include "options.hpp"
#include "run_result.hpp"

namespace echo::bench {

/// --find-rate: the highest open-loop rate whose corrected latency meets a target such
/// as p99<1ms. Each trial is a whole verified open-loop run (--warmup, then --duration);
/// the search doubles from --rate until a trial misses (or halves until one meets), then
/// bisects between the best rate met and the lowest missed until they are within 1 %.
/// A trial meets the target when its percentile is below the limit and every message
/// due was sent; any verification or I/O error ends the search.
class rate_search {
 public:
  explicit rate_search(const options& opts) : opts_(opts) {}

  /// Runs the trials, printing a line for each and the result; returns the exit code:
  /// 0 with a rate found, 1 when none met the target or a trial had errors.
  int run();

  /// After run(): the best trial that met the target (empty when none did), and its options.
  [[nodiscard]] const run_result& best() const noexcept { return best_; }
  [[nodiscard]] const options& best_options() const noexcept { return best_opts_; }

 private:
  const options& opts_;
  run_result best_;
  options best_opts_;
};

}  // namespace echo::bench
