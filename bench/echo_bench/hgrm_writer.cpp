#include "hgrm_writer.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace echo::bench {
namespace {

constexpr double ticks_per_half_distance = 5;
constexpr double ns_per_ms = 1e6;

std::string row(double value_ns, double percentile, std::uint64_t count) {
  return fmt::format("{:12.6f} {:2.12f} {:10d} {:14.2f}\n", value_ns / ns_per_ms, percentile / 100.0, count,
                     1.0 / (1.0 - percentile / 100.0));
}

}  // namespace

std::string hgrm_writer::text() const {
  const histogram& h = histogram_;
  std::string out =
      fmt::format("{:>12} {:>14} {:>10} {:>14}\n\n", "Value", "Percentile", "TotalCount", "1/(1-Percentile)");
  const std::uint64_t total = h.count();
  double level = 0;  // the percentile iterated to, as HdrHistogram's PercentileIterator does
  std::uint64_t running = 0;
  double last_value = 0;
  for (std::size_t i = 0; i < histogram::buckets() && total > 0; ++i) {
    const std::uint64_t n = h.count_at(i);
    if (n == 0) continue;
    running += n;
    last_value = h.value_at(i);
    if (running == total) break;  // the last bucket is the 100 % row below
    // Each bucket may pass several levels: one row per level, like the reference iterator.
    // The step is never below 100 / (5 * 2^64), so this ends well before 100 %.
    for (int rows = 0;
         rows < 10000 && 100.0 * static_cast<double>(running) / static_cast<double>(total) >= level; ++rows) {
      out += row(last_value, level, running);
      const double halvings = std::floor(std::log2(100.0 / (100.0 - level)));
      level += 100.0 / (ticks_per_half_distance * std::pow(2.0, halvings + 1));
    }
  }
  if (total > 0) {
    if (level == 0) out += row(last_value, 0, total);  // one bucket only: its 0 % row
    out += fmt::format("{:12.6f} {:2.12f} {:10d}\n", last_value / ns_per_ms, 1.0, total);
  }
  out += fmt::format("#[Mean    = {:12.6f}, StdDeviation   = {:12.6f}]\n", h.mean_ns() / ns_per_ms,
                     h.stddev_ns() / ns_per_ms);
  out += fmt::format("#[Max     = {:12.6f}, Total count    = {:12d}]\n",
                     static_cast<double>(h.max_ns()) / ns_per_ms, total);
  out += fmt::format("#[Buckets = {:12d}, SubBuckets     = {:12d}]\n", histogram::buckets(),
                     histogram::sub_buckets());
  return out;
}

void hgrm_writer::write(const std::string& path) const {
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr)
    throw std::runtime_error("--histogram-out: cannot write " + path + ": " + std::strerror(errno));
  const std::string t = text();
  const bool ok = std::fwrite(t.data(), 1, t.size(), f) == t.size();
  if (std::fclose(f) != 0 || !ok) throw std::runtime_error("--histogram-out: cannot write " + path);
}

}  // namespace echo::bench
