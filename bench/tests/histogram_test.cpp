#define BOOST_TEST_MODULE histogram
#include <boost/test/unit_test.hpp>

#include "histogram.hpp"

#include <cmath>

using echo::bench::histogram;

BOOST_AUTO_TEST_CASE(empty_reports_zero) {
  const histogram h;
  BOOST_TEST(h.count() == 0u);
  BOOST_TEST(h.quantile_ns(0.5) == 0.0);
}

// Log-linear buckets: every quantile within 1/64 of the true value.
BOOST_AUTO_TEST_CASE(quantiles_are_within_bucket_precision) {
  histogram h;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v) h.record(v * 10);  // 10 ns .. 10 ms uniform
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const double truth = q * 1e7;
    BOOST_TEST(std::abs(h.quantile_ns(q) - truth) <= truth / 64, "q=" << q << " got " << h.quantile_ns(q));
  }
  BOOST_TEST(h.max_ns() == 10'000'000u);
}

BOOST_AUTO_TEST_CASE(merge_adds_counts) {
  histogram a;
  histogram b;
  for (int i = 0; i < 100; ++i) a.record(1000);
  for (int i = 0; i < 100; ++i) b.record(3'000'000);
  a.merge(b);
  BOOST_TEST(a.count() == 200u);
  BOOST_TEST(a.quantile_ns(0.25) < 1100.0);
  BOOST_TEST(a.quantile_ns(0.75) > 2'900'000.0);
  BOOST_TEST(a.max_ns() == 3'000'000u);
}

BOOST_AUTO_TEST_CASE(huge_values_are_clamped_not_lost) {
  histogram h;
  h.record(~std::uint64_t{0});
  BOOST_TEST(h.count() == 1u);
  BOOST_TEST(h.quantile_ns(1.0) > 0.0);
}
