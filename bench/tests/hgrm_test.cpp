#define BOOST_TEST_MODULE hgrm
#include <boost/test/unit_test.hpp>

#include "hgrm_writer.hpp"
#include "histogram.hpp"
#include "latency_plot.hpp"

#include <sstream>
#include <string>
#include <vector>

using echo::bench::hgrm_writer;
using echo::bench::histogram;
using echo::bench::latency_plot;

namespace {

struct row {
  double value_ms;
  double percentile;
  unsigned long count;
};

std::vector<row> rows_of(const std::string& text) {
  std::vector<row> rows;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#' || line.find("Value") != std::string::npos) continue;
    std::istringstream l(line);
    row r{};
    l >> r.value_ms >> r.percentile >> r.count;
    rows.push_back(r);
  }
  return rows;
}

}  // namespace

// HdrHistogram's percentile iteration: rows ascend in value, percentile and count, the last
// is percentile 1 with every sample, and a row's value is what quantile_ns reports there.
BOOST_AUTO_TEST_CASE(rows_follow_the_percentile_iteration) {
  histogram h;
  for (std::uint64_t v = 1; v <= 100'000; ++v) h.record(v * 1000);  // 1 us .. 100 ms
  const auto rows = rows_of(hgrm_writer(h).text());
  BOOST_TEST_REQUIRE(rows.size() > 20u);
  BOOST_TEST(rows.front().percentile == 0.0);
  BOOST_TEST(rows.back().percentile == 1.0);
  BOOST_TEST(rows.back().count == 100'000u);
  for (std::size_t i = 1; i < rows.size(); ++i) {
    BOOST_TEST(rows[i].value_ms >= rows[i - 1].value_ms);
    BOOST_TEST(rows[i].percentile > rows[i - 1].percentile);
    BOOST_TEST(rows[i].count >= rows[i - 1].count);
  }
  // The second row is the 10 % step (5 ticks per half distance).
  BOOST_TEST(rows[1].percentile == 0.1);
  for (const auto& r : rows) {
    if (r.percentile != 0.5 && r.percentile != 0.99) continue;
    BOOST_TEST(std::abs(r.value_ms * 1e6 - h.quantile_ns(r.percentile)) <=
               h.quantile_ns(r.percentile) * 0.02);
  }
}

BOOST_AUTO_TEST_CASE(footer_states_count_and_max) {
  histogram h;
  h.record(1'500'000);
  h.record(2'500'000);
  const std::string text = hgrm_writer(h).text();
  BOOST_TEST(text.find("#[Max     =     2.500000, Total count    =            2]") != std::string::npos,
             text);
  BOOST_TEST(text.find("#[Mean    = ") != std::string::npos);
  BOOST_TEST(text.find("#[Buckets = ") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(empty_histogram_has_only_header_and_footer) {
  const histogram h;
  BOOST_TEST(rows_of(hgrm_writer(h).text()).empty());
}

BOOST_AUTO_TEST_CASE(plot_has_one_polyline_per_series) {
  histogram a;
  histogram b;
  for (std::uint64_t v = 1; v <= 1000; ++v) {
    a.record(v * 1000);
    b.record(v * 500);
  }
  const std::string svg =
      latency_plot("t <&>", {{"corrected", "#f00", &a}, {"uncorrected", "#00f", &b}}).svg();
  BOOST_TEST(svg.find("<polyline id=\"corrected\"") != std::string::npos);
  BOOST_TEST(svg.find("<polyline id=\"uncorrected\"") != std::string::npos);
  BOOST_TEST(svg.find("t &lt;&amp;&gt;") != std::string::npos);
  BOOST_TEST(svg.find("99.999%") != std::string::npos);
}
