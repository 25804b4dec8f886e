#define BOOST_TEST_MODULE metrics_text
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <limits>
#include <string>

#include "detail/metrics_text.hpp"

using echo::detail::metrics_text;

BOOST_AUTO_TEST_CASE(family_writes_help_and_type_then_samples) {
  metrics_text m;
  m.family("echo_things_total", metrics_text::type::counter, "Things done.");
  m.sample(std::uint64_t{42});
  m.sample({{"listener", "tcp://[::]:7007"}, {"reason", "limit"}}, std::uint64_t{18446744073709551615ULL});
  m.family("echo_open", metrics_text::type::gauge, "Open now.");
  m.sample(0.5);
  BOOST_TEST(m.text() ==
             "# HELP echo_things_total Things done.\n"
             "# TYPE echo_things_total counter\n"
             "echo_things_total 42\n"
             "echo_things_total{listener=\"tcp://[::]:7007\",reason=\"limit\"} 18446744073709551615\n"
             "# HELP echo_open Open now.\n"
             "# TYPE echo_open gauge\n"
             "echo_open 0.5\n");
}

BOOST_AUTO_TEST_CASE(label_values_are_escaped) {
  std::string out;
  metrics_text::append_label_value(out, "a\\b\"c\nd");
  BOOST_TEST(out == "a\\\\b\\\"c\\nd");
  metrics_text m;
  m.family("x", metrics_text::type::gauge, "h");
  m.sample({{"v", "say \"hi\"\\\n"}}, std::uint64_t{1});
  BOOST_TEST(m.text().find("x{v=\"say \\\"hi\\\"\\\\\\n\"} 1\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(help_text_is_escaped_but_keeps_quotes) {
  std::string out;
  metrics_text::append_help(out, "back\\slash \"quoted\"\nnext");
  BOOST_TEST(out == "back\\\\slash \"quoted\"\\nnext");
}

BOOST_AUTO_TEST_CASE(special_floats_use_the_format_spelling) {
  metrics_text m;
  m.family("f", metrics_text::type::gauge, "h");
  m.sample(std::numeric_limits<double>::infinity());
  m.sample(-std::numeric_limits<double>::infinity());
  m.sample(std::numeric_limits<double>::quiet_NaN());
  m.sample(1796087140.25);
  BOOST_TEST(m.text().find("f +Inf\nf -Inf\nf NaN\nf 1796087140.25\n") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(content_type_is_version_0_0_4) {
  BOOST_TEST(metrics_text::content_type == "text/plain; version=0.0.4; charset=utf-8");
}
