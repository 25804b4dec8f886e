#define BOOST_TEST_MODULE connection_history
#include <boost/test/unit_test.hpp>

#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "detail/connection_history.hpp"

// The ring behind GET /connections: bounded, newest first, counting what it dropped.

using echo::connection_record;
using echo::detail::connection_history;

namespace {

connection_record record(std::uint64_t id) {
  connection_record r;
  r.id = id;
  r.peer = "127.0.0.1:" + std::to_string(40000 + id);
  r.end = "eof";
  return r;
}

std::vector<std::uint64_t> ids(const connection_history& h, std::uint64_t& total) {
  std::vector<std::uint64_t> out;
  for (const auto& r : h.latest(total)) out.push_back(r.id);
  return out;
}

}  // namespace

BOOST_AUTO_TEST_CASE(keeps_the_latest_capacity_records_newest_first) {
  for (const bool thread_safe : {false, true}) {
    connection_history h(thread_safe, 3);
    std::uint64_t total = 99;
    BOOST_TEST(ids(h, total).empty());
    BOOST_TEST(total == 0U);
    for (std::uint64_t id = 1; id <= 2; ++id) h.add(record(id));
    BOOST_TEST(ids(h, total) == (std::vector<std::uint64_t>{2, 1}), boost::test_tools::per_element());
    // Past the capacity the oldest goes, however far the ring has wrapped.
    for (std::uint64_t id = 3; id <= 10; ++id) {
      h.add(record(id));
      const auto got = ids(h, total);
      std::vector<std::uint64_t> want;
      for (std::uint64_t k = id; k > 0 && want.size() < 3; --k) want.push_back(k);
      BOOST_TEST(got == want, boost::test_tools::per_element());
      BOOST_TEST(total == id);
    }
    BOOST_TEST(h.latest(total).front().peer == "127.0.0.1:40010");
  }
}

BOOST_AUTO_TEST_CASE(capacity_one_and_zero) {
  connection_history one(false, 1);
  std::uint64_t total = 0;
  one.add(record(1));
  one.add(record(2));
  BOOST_TEST(ids(one, total) == std::vector<std::uint64_t>{2});
  BOOST_TEST(total == 2U);

  connection_history none(false, 0);
  BOOST_TEST(!none.enabled());
  none.add(record(1));
  BOOST_TEST(ids(none, total).empty());
  BOOST_TEST(total == 0U);
}

BOOST_AUTO_TEST_CASE(adds_from_several_threads_lose_nothing) {
  connection_history h(true, 64);
  std::vector<std::thread> threads;
  for (std::uint64_t t = 0; t < 4; ++t)
    threads.emplace_back([&h, t] {
      for (std::uint64_t i = 0; i < 1000; ++i) h.add(record(t * 1000 + i + 1));
    });
  for (auto& t : threads) t.join();
  std::uint64_t total = 0;
  BOOST_TEST(ids(h, total).size() == 64U);
  BOOST_TEST(total == 4000U);
}
