#define BOOST_TEST_MODULE session_registry
#include <boost/test/unit_test.hpp>

#include <memory>
#include <vector>

#include "echo/session_base.hpp"
#include "echo/session_context.hpp"

namespace {

class fake_session final : public echo::session_base {
 public:
  fake_session(std::shared_ptr<echo::session_context> ctx, std::uint64_t id) : session_base(std::move(ctx), id) {}
  void start() override {}
  void drain() override { ++drained; }
  void close() override {}
  void expire() override {}
  int drained = 0;
};

}  // namespace

BOOST_AUTO_TEST_CASE(tracks_sessions_and_fires_on_empty_once) {
  for (const bool thread_safe : {false, true}) {
    auto ctx = std::make_shared<echo::session_context>(thread_safe, echo::config{});
    std::vector<std::shared_ptr<fake_session>> sessions;
    for (std::uint64_t i = 0; i < 5; ++i) {
      sessions.push_back(std::make_shared<fake_session>(ctx, i));
      BOOST_TEST(ctx->registry.add(*sessions.back()));
    }
    BOOST_TEST(ctx->registry.size() == 5U);
    sessions.erase(sessions.begin() + 2);  // destructor unlinks from the middle
    BOOST_TEST(ctx->registry.size() == 4U);

    int fired = 0;
    auto live = ctx->registry.close_admission([&] { ++fired; });
    BOOST_TEST(live.size() == 4U);
    for (auto& s : live) s->drain();
    live.clear();
    for (auto& s : sessions) BOOST_TEST(s->drained == 1);

    auto late = std::make_shared<fake_session>(ctx, 99);
    BOOST_TEST(!ctx->registry.add(*late));  // admission is closed
    late.reset();                            // never admitted: unlinking is a no-op
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
  auto ctx = std::make_shared<echo::session_context>(false, echo::config{});
  int fired = 0;
  BOOST_TEST(ctx->registry.close_admission([&] { ++fired; }).empty());
  BOOST_TEST(fired == 1);
}

BOOST_AUTO_TEST_CASE(select_returns_owners_of_matching_sessions) {
  auto ctx = std::make_shared<echo::session_context>(true, echo::config{});
  std::vector<std::shared_ptr<fake_session>> all;
  for (std::uint64_t i = 0; i < 10; ++i) {
    all.push_back(std::make_shared<fake_session>(ctx, i));
    ctx->registry.add(*all.back());
  }
  std::vector<std::shared_ptr<echo::session_base>> odd, small_even;
  ctx->registry.select([&](const echo::session_base& s) -> std::vector<std::shared_ptr<echo::session_base>>* {
    if (s.id() % 2 == 1) return &odd;
    if (s.id() < 4) return &small_even;
    return nullptr;
  });
  BOOST_TEST(odd.size() == 5U);
  for (auto& s : odd) BOOST_TEST(s->id() % 2 == 1U);
  BOOST_TEST(small_even.size() == 2U);  // ids 0 and 2; 4, 6, 8 left out
  for (auto& s : small_even) BOOST_TEST((s->id() % 2 == 0U && s->id() < 4U));
}

BOOST_AUTO_TEST_CASE(snapshot_skips_nothing_alive) {
  auto ctx = std::make_shared<echo::session_context>(true, echo::config{});
  auto a = std::make_shared<fake_session>(ctx, 1);
  auto b = std::make_shared<fake_session>(ctx, 2);
  ctx->registry.add(*a);
  ctx->registry.add(*b);
  BOOST_TEST(ctx->registry.snapshot().size() == 2U);
}
