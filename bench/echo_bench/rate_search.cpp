#include "rate_search.hpp"

#include "report.hpp"
#include "runner.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <limits>

namespace echo::bench {
namespace {

constexpr int max_trials = 24;
constexpr double precision = 0.01;  // stop once the bracket is this narrow
constexpr double max_rate = 1e9;
constexpr double min_rate = 1;

double percentile_ns(const histogram& h, double q) {
  return q >= 1.0 ? static_cast<double>(h.max_ns()) : h.quantile_ns(q);
}

}  // namespace

int rate_search::run() {
  const latency_target& goal = *opts_.find_rate;
  double rate = opts_.rate;
  double met = 0;                                           // best rate that met the target
  double missed = std::numeric_limits<double>::infinity();  // lowest rate that did not
  run_result best;
  double best_elapsed = 0;
  for (int trial = 1; trial <= max_trials; ++trial) {
    options o = opts_;
    o.find_rate.reset();
    o.rate = rate;
    o.progress = 0;
    o.interval_s = 0;
    runner r(o);
    const run_result res = r.run();
    const report rep(o, res, r.elapsed_s());
    const double value = percentile_ns(res.latency, goal.quantile);
    // A lost datagram has no latency at all: over UDP, a trial with losses misses too.
    const bool ok = res.errors.total() == 0 && res.schedule.unsent == 0 && res.datagrams.lost == 0 &&
                    res.msgs > 0 && value < goal.limit_ns;
    if (opts_.json)
      std::printf(
          R"({"find_rate_trial":%d,"rate":%.1f,"%s_us":%.2f,"met":%s,"msgs":%llu,"unsent":%llu,"errors":%llu})"
          "\n",
          trial, rate, goal.label.c_str(), value / 1e3, ok ? "true" : "false",
          static_cast<unsigned long long>(res.msgs), static_cast<unsigned long long>(res.schedule.unsent),
          static_cast<unsigned long long>(res.errors.total()));
    else
      std::printf("find-rate: trial %2d  %12.1f msgs/s  %s %10.1f us  %s\n", trial, rate, goal.label.c_str(),
                  value / 1e3,
                  ok                       ? "met"
                  : res.errors.total() > 0 ? "ERRORS"
                                           : "missed");
    std::fflush(stdout);
    if (res.errors.total() > 0) {
      std::fputs(rep.table().c_str(), stderr);
      std::fprintf(stderr, "echo-bench: --find-rate: trial %d at %.1f msgs/s had errors; no rate reported\n",
                   trial, rate);
      return 1;
    }
    if (ok) {
      met = rate;
      best = res;
      best_elapsed = r.elapsed_s();
      best_opts_ = o;
    } else {
      missed = rate;
    }
    if (missed == std::numeric_limits<double>::infinity()) {
      if (rate >= max_rate) break;
      rate = std::min(rate * 2, max_rate);
    } else if (met == 0) {
      if (rate <= min_rate) break;
      rate = std::max(rate / 2, min_rate);
    } else {
      if (missed / met <= 1 + precision) break;
      rate = (met + missed) / 2;
    }
  }
  if (met == 0) {
    std::printf(opts_.json ? R"({"find_rate":{"target":"%s","rate":null}})"
                             "\n"
                           : "find-rate: no rate met %s\n",
                goal.text.c_str());
    return 1;
  }
  const histogram& h = best.latency;
  const double achieved = static_cast<double>(best.msgs) / (best_elapsed > 0 ? best_elapsed : 1e-9);
  if (opts_.json) {
    std::printf(
        R"({"find_rate":{"target":"%s","rate":%.1f,"missed_rate":%s,"achieved_msgs_per_s":%.1f,)"
        R"("p50_us":%.2f,"p99_us":%.2f,"p999_us":%.2f,"max_us":%.2f,"uncorrected_p99_us":%.2f,"samples":%llu}})"
        "\n",
        goal.text.c_str(), met,
        missed == std::numeric_limits<double>::infinity() ? "null" : fmt::format("{:.1f}", missed).c_str(),
        achieved, h.quantile_ns(0.5) / 1e3, h.quantile_ns(0.99) / 1e3, h.quantile_ns(0.999) / 1e3,
        static_cast<double>(h.max_ns()) / 1e3, best.uncorrected.quantile_ns(0.99) / 1e3,
        static_cast<unsigned long long>(h.count()));
  } else {
    std::printf(
        "find-rate: %s met up to %.1f msgs/s (achieved %.1f): p50 %.1f us, p99 %.1f us, p99.9 %.1f us, "
        "max %.1f us, %llu samples%s\n",
        goal.text.c_str(), met, achieved, h.quantile_ns(0.5) / 1e3, h.quantile_ns(0.99) / 1e3,
        h.quantile_ns(0.999) / 1e3, static_cast<double>(h.max_ns()) / 1e3,
        static_cast<unsigned long long>(h.count()),
        missed == std::numeric_limits<double>::infinity()
            ? " (the search stopped at its ceiling)"
            : fmt::format("; missed at {:.1f} msgs/s", missed).c_str());
  }
  // A percentile read from fewer than ten samples beyond it is the maximum of a handful.
  if (goal.quantile < 1.0 && static_cast<double>(h.count()) * (1.0 - goal.quantile) < 10.0)
    std::fprintf(
        stderr,
        "echo-bench: --find-rate: %s rests on %llu samples, fewer than ten beyond it: a longer --duration "
        "makes it meaningful\n",
        goal.label.c_str(), static_cast<unsigned long long>(h.count()));
  std::fflush(stdout);
  best_ = best;
  return 0;
}

}  // namespace echo::bench
