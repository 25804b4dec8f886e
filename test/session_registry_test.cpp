#define BOOST_TEST_MODULE session_registry
#include <boost/test/unit_test.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <thread>
#include <vector>

#include "detail/session_base.hpp"
#include "detail/session_context.hpp"

using echo::detail::session_base;
using echo::detail::session_context;
using admission = echo::detail::session_registry::admission;

namespace {

class fake_session final : public session_base {
 public:
  fake_session(std::shared_ptr<session_context> ctx, std::uint64_t id) : session_base(std::move(ctx), id) {}
  ~fake_session() override {
    if (on_destroy) on_destroy();
  }
  void start() override {}
  void drain() override { ++drained; }
  void close() override {}
  void expire() override {}
  int drained = 0;
  std::function<void()> on_destroy;  ///< runs before the base unlinks from the registry
};

echo::config with_cap(std::size_t cap) {
  echo::config cfg;
  cfg.max_connections = cap;
  return cfg;
}

// reserve() + add(), as a listener admits a connection.
std::shared_ptr<fake_session> admit(const std::shared_ptr<session_context>& ctx, std::uint64_t id) {
  BOOST_REQUIRE((ctx->registry.reserve() == admission::admitted));
  auto s = std::make_shared<fake_session>(ctx, id);
  BOOST_REQUIRE(ctx->registry.add(*s));
  return s;
}

}  // namespace

BOOST_AUTO_TEST_CASE(tracks_sessions_and_fires_on_empty_once) {
  for (const bool thread_safe : {false, true}) {
    auto ctx = std::make_shared<session_context>(thread_safe, echo::config{});
    std::vector<std::shared_ptr<fake_session>> sessions;
    for (std::uint64_t i = 0; i < 5; ++i) sessions.push_back(admit(ctx, i));
    BOOST_TEST(ctx->registry.size() == 5U);
    sessions.erase(sessions.begin() + 2);  // destructor unlinks from the middle
    BOOST_TEST(ctx->registry.size() == 4U);

    int fired = 0;
    auto live = ctx->registry.close_admission([&] { ++fired; });
    BOOST_TEST(live.size() == 4U);
    for (auto& s : live) s->drain();
    live.clear();
    for (auto& s : sessions) BOOST_TEST(s->drained == 1);

    BOOST_TEST((ctx->registry.reserve() == admission::closed));  // admission is closed
    BOOST_TEST(fired == 0);

    sessions.pop_back();
    sessions.pop_back();
    sessions.pop_back();
    BOOST_TEST(fired == 0);
    sessions.clear();
    BOOST_TEST(fired == 1);
    BOOST_TEST(ctx->registry.size() == 0U);
  }
}

BOOST_AUTO_TEST_CASE(on_empty_fires_at_once_when_already_empty) {
  auto ctx = std::make_shared<session_context>(false, echo::config{});
  int fired = 0;
  BOOST_TEST(ctx->registry.close_admission([&] { ++fired; }).empty());
  BOOST_TEST(fired == 1);
}

BOOST_AUTO_TEST_CASE(reservation_counts_against_the_cap) {
  auto ctx = std::make_shared<session_context>(false, with_cap(2));
  BOOST_TEST(ctx->registry.capacity() == 2U);
  auto a = admit(ctx, 1);
  BOOST_TEST((ctx->registry.reserve() == admission::admitted));  // slot 2, no session yet
  BOOST_TEST((ctx->registry.reserve() == admission::full));
  BOOST_TEST(ctx->registry.size() == 2U);
  auto b = std::make_shared<fake_session>(ctx, 2);
  BOOST_TEST(ctx->registry.add(*b));
  BOOST_TEST((ctx->registry.reserve() == admission::full));
  a.reset();  // a slot frees when its session goes
  BOOST_TEST((ctx->registry.reserve() == admission::admitted));
  BOOST_TEST(ctx->registry.size() == 2U);
}

BOOST_AUTO_TEST_CASE(reservation_overtaken_by_shutdown_is_given_back) {
  auto ctx = std::make_shared<session_context>(true, echo::config{});
  BOOST_TEST((ctx->registry.reserve() == admission::admitted));
  int fired = 0;
  // The reserved slot counts as live: on_empty waits for it.
  BOOST_TEST(ctx->registry.close_admission([&] { ++fired; }).empty());
  BOOST_TEST(fired == 0);
  auto late = std::make_shared<fake_session>(ctx, 7);
  BOOST_TEST(!ctx->registry.add(*late));  // admission closed meanwhile: slot given back
  BOOST_TEST(fired == 1);
  BOOST_TEST(ctx->registry.size() == 0U);
  late.reset();  // never linked: unlinking is a no-op and fires nothing again
  BOOST_TEST(fired == 1);
}

BOOST_AUTO_TEST_CASE(concurrent_reservations_never_exceed_the_cap) {
  constexpr std::size_t cap = 1000;
  auto ctx = std::make_shared<session_context>(true, with_cap(cap));
  std::atomic<std::size_t> admitted{0}, full{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 1000; ++i) {
        if (ctx->registry.reserve() == admission::admitted) ++admitted;
        else ++full;
      }
    });
  }
  for (auto& t : threads) t.join();
  BOOST_TEST(admitted.load() == cap);
  BOOST_TEST(full.load() == 4000U - cap);
  BOOST_TEST(ctx->registry.size() == cap);
}

BOOST_AUTO_TEST_CASE(select_returns_owners_of_matching_sessions) {
  auto ctx = std::make_shared<session_context>(true, echo::config{});
  std::vector<std::shared_ptr<fake_session>> all;
  for (std::uint64_t i = 0; i < 10; ++i) all.push_back(admit(ctx, i));
  std::vector<std::shared_ptr<session_base>> odd, small_even;
  ctx->registry.select([&](const session_base& s) -> std::vector<std::shared_ptr<session_base>>* {
    if (s.id() % 2 == 1) return &odd;
    if (s.id() < 4) return &small_even;
    return nullptr;
  });
  BOOST_TEST(odd.size() == 5U);
  for (auto& s : odd) BOOST_TEST(s->id() % 2 == 1U);
  BOOST_TEST(small_even.size() == 2U);  // ids 0 and 2; 4, 6, 8 left out
  for (auto& s : small_even) BOOST_TEST((s->id() % 2 == 0U && s->id() < 4U));
}

// A session whose last owner let go is still linked until its base destructor unlinks it;
// a snapshot taken in that window must skip it (it cannot be owned again) and keep every
// session that is alive.
BOOST_AUTO_TEST_CASE(snapshot_skips_nothing_alive) {
  using namespace std::chrono_literals;
  auto ctx = std::make_shared<session_context>(true, echo::config{});
  auto a = admit(ctx, 1);
  auto dying = admit(ctx, 2);
  auto c = admit(ctx, 3);

  std::promise<void> entered, release;
  auto released = release.get_future();
  dying->on_destroy = [&] {
    entered.set_value();
    released.wait_for(10s);
  };
  auto entered_f = entered.get_future();
  std::thread killer([s = std::move(dying)]() mutable { s.reset(); });
  BOOST_REQUIRE((entered_f.wait_for(10s) == std::future_status::ready));

  const auto snap = ctx->registry.snapshot();
  BOOST_TEST(ctx->registry.size() == 3U);  // the dying one is still linked
  BOOST_TEST(snap.size() == 2U);
  for (const auto& s : snap) BOOST_TEST(s->id() != 2U);

  release.set_value();
  killer.join();
  BOOST_TEST(ctx->registry.size() == 2U);
  BOOST_TEST(ctx->registry.snapshot().size() == 2U);
}
