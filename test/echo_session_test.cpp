// The echo state machine over an in-memory stream: every branch without a socket. Each run
// asserts the peer got a byte-exact prefix of what it sent, the session ended closed, and
// counters and buffers went back to zero.
#define BOOST_TEST_MODULE echo_session
#include <boost/test/unit_test.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <set>
#include <string>

#include <boost/asio/error.hpp>

#include "echo/logger.hpp"
#include "memory_session.hpp"
#include "session_harness.hpp"
#include "test_plans.hpp"

namespace asio = boost::asio;
using echo::detail::end_reason;
using echo::detail::session_state;
using echo::test::memory_script;
using echo::test::memory_session;
using ending = memory_script::ending;

namespace {

// Failure injection makes the state machine log a warning per run: keep the output readable.
struct quiet_logs {
  quiet_logs() { echo::logger::instance().set_level(echo::log_level::error); }
};
BOOST_TEST_GLOBAL_FIXTURE(quiet_logs);

std::string input_of(std::size_t n, std::uint64_t seed = 1) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 131 + seed * 7 + (i >> 8)) & 0xff);
  return s;
}

// The shared harness, its broken invariants reported as test failures.
struct harness : echo::test::session_harness {
  using session_harness::session_harness;
  void finish() {
    for (const auto& broken : session_harness::finish()) BOOST_ERROR(broken);
  }
};

memory_script chunks_then(ending end, std::size_t chunks = 3, std::size_t size = 100) {
  memory_script s;
  s.input = input_of(chunks * size);
  s.read_size = size;
  s.end = end;
  return s;
}

const std::set<session_state> all_states = {session_state::created,       session_state::starting,
                                            session_state::reading,       session_state::writing,
                                            session_state::drain_reading, session_state::drain_writing,
                                            session_state::answering_fin, session_state::finishing,
                                            session_state::lingering,     session_state::closed};

}  // namespace

BOOST_AUTO_TEST_CASE(round_trip_and_half_close) {
  harness h(chunks_then(ending::fin));
  h.start();
  h.run();
  BOOST_TEST(h.session->output() == h.input);
  BOOST_TEST(h.session->fin_sent());
  BOOST_TEST((h.session->current_state() == session_state::closed));
  h.finish();
}

// Beast's readgrind: every read one byte long.
BOOST_AUTO_TEST_CASE(one_byte_reads_over_64_kib) {
  memory_script s;
  s.input = input_of(64 * 1024);
  s.read_size = 1;
  harness h(s);
  h.start();
  h.run();
  BOOST_TEST(h.session->output().size() == 64U * 1024U);
  BOOST_TEST(h.session->output() == h.input);
  BOOST_TEST(h.session->writes() == 64U * 1024U);
  BOOST_TEST(h.session->fin_sent());
  h.finish();
}

// The peer's FIN, or its reset, after every byte count: everything read before it is
// echoed; a FIN is answered with ours, a reset is an expected end (no FIN, no error).
BOOST_AUTO_TEST_CASE(peer_end_after_every_byte_count) {
  const auto full = input_of(300);
  for (const auto end : {ending::fin, ending::reset}) {
    for (std::size_t k = 0; k <= full.size(); ++k) {
      memory_script s;
      s.input = full.substr(0, k);
      s.read_size = end == ending::fin ? 7 : 11;
      s.end = end;
      harness h(s);
      h.start();
      h.run();
      BOOST_TEST(h.session->output() == s.input, "k=" << k);
      BOOST_TEST(h.session->fin_sent() == (end == ending::fin), "k=" << k);
      BOOST_TEST(echo::stats::get(h.ctx->counters.session_errors) == 0U);
      h.finish();
    }
  }
}

// Beast's failMatrix: fail operation N for N = 0, 1, 2 ... until a run completes without
// reaching N. An expected end (reset) is not counted as an error; anything else is, except
// on the last operation: the FIN that answers the peer's, whose fate is the peer's business.
BOOST_AUTO_TEST_CASE(fail_each_operation_in_turn) {
  const auto script = [] { return chunks_then(ending::fin, 4, 64); };
  std::size_t total = 0;
  {
    harness clean(script());
    clean.start();
    clean.run();
    total = clean.session->operations();
    clean.finish();
  }
  BOOST_TEST(total == 11U);  // start, 4 reads, 4 writes, the eof read, the shutdown
  for (const auto error : {boost::system::error_code(asio::error::connection_reset),
                           boost::system::error_code(asio::error::no_buffer_space)}) {
    const bool expected = error == asio::error::connection_reset;
    std::size_t n = 0;
    for (;; ++n) {
      auto s = script();
      s.fail_at = n;
      s.fail_error = error;
      harness h(s);
      h.start();
      h.run();
      const bool reached = h.session->operations() > n;
      if (reached) {
        const bool counted = !expected && n + 1 != total;
        BOOST_TEST(echo::stats::get(h.ctx->counters.session_errors) == (counted ? 1U : 0U), "n=" << n);
        BOOST_TEST(h.session->output().size() <= 64 * ((n + 1) / 2), "n=" << n);
      }
      h.finish();
      if (!reached) break;
    }
    BOOST_TEST_MESSAGE("fail matrix (" << error.message() << "): " << n << " operations failed in turn");
    BOOST_TEST(n == total);
  }
}

// drain(), expire() and close() in every state, alone and after a drain. Each state is
// reached, and each call is made in each of them at least once.
BOOST_AUTO_TEST_CASE(drain_expire_and_close_in_every_state) {
  std::set<session_state> drained_in, expired_in, closed_in, visited;
  std::size_t runs = 0;
  for (const auto end : {ending::after_our_fin, ending::fin}) {
    // Steps before the first action; -1: before start() was even called.
    for (int first = -1; first < 24; ++first) {
      for (int second = -1; second < 8; ++second) {  // steps between the two; -1: no second
        for (int kind = 0; kind < 3; ++kind) {       // the second action
          harness h(chunks_then(end));
          const auto at = [&](int steps) {
            if (steps >= 0) h.run(static_cast<std::size_t>(steps));
          };
          if (first >= 0) h.start();
          at(first);
          const auto second_action = [&] {
            const auto now = h.session->current_state();
            if (kind == 0) {
              drained_in.insert(now);
              h.session->drain();
            } else if (kind == 1) {
              expired_in.insert(now);
              h.ctx->now_tick.fetch_add(1'000'000);
              h.session->expire();
            } else {
              closed_in.insert(now);
              h.session->close();
            }
          };
          // second == 0: both calls in one handler, so the second meets the state the first
          // left (drain-reading lasts only until the cancelled read completes).
          drained_in.insert(h.act([&] {
            h.session->drain();
            if (second == 0) second_action();
          }));
          if (first < 0) h.start();
          if (second > 0) {
            at(second - 1);
            h.act(second_action);
          }
          h.finish();
          visited.insert(h.seen.begin(), h.seen.end());
          ++runs;
        }
      }
      // expire() and close() as the first action too.
      for (int kind = 1; kind < 3; ++kind) {
        harness h(chunks_then(end));
        if (first >= 0) h.start();
        if (first >= 0) h.run(static_cast<std::size_t>(first));
        if (kind == 1) expired_in.insert(h.expire());
        if (kind == 2) closed_in.insert(h.close());
        if (first < 0) h.start();
        h.finish();
        visited.insert(h.seen.begin(), h.seen.end());
        ++runs;
      }
    }
  }
  BOOST_TEST_MESSAGE("drain/expire/close matrix: " << runs << " runs");
  const auto covers = [](const std::set<session_state>& got) {
    for (const auto s : all_states) {
      if (!got.count(s)) {
        BOOST_TEST_MESSAGE("missing state " << echo::detail::to_string(s));
        return false;
      }
    }
    return true;
  };
  visited.insert(session_state::created);  // every harness starts there
  BOOST_TEST(covers(visited));
  BOOST_TEST(covers(drained_in));
  BOOST_TEST(covers(expired_in));
  BOOST_TEST(covers(closed_in));
}

// A peer that stops reading: the write never completes; the write timeout ends it and is
// counted as one.
BOOST_AUTO_TEST_CASE(stalled_write_expires_as_a_write_timeout) {
  auto s = chunks_then(ending::silence);
  s.stall_writes = true;
  harness h(s);
  h.start();
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::writing));
  BOOST_TEST((h.expire() == session_state::writing));
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::closed));
  BOOST_TEST(echo::stats::get(h.ctx->counters.write_timeouts) == 1U);
  BOOST_TEST(echo::stats::get(h.ctx->counters.idle_timeouts) == 0U);
  h.finish();
}

BOOST_AUTO_TEST_CASE(silent_peer_expires_as_an_idle_timeout) {
  harness h(chunks_then(ending::silence));
  h.start();
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::reading));
  BOOST_TEST(h.session->output() == h.input);
  BOOST_TEST((h.expire() == session_state::reading));
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::closed));
  BOOST_TEST(echo::stats::get(h.ctx->counters.idle_timeouts) == 1U);
  h.finish();
}

// The last write completed into the send queue but the peer has not taken it: at the write
// timeout (long before the idle timeout) the session closes as a write timeout.
BOOST_AUTO_TEST_CASE(echo_left_in_the_send_queue_expires_as_a_write_timeout) {
  harness h(chunks_then(ending::silence));
  h.start();
  h.run();
  BOOST_REQUIRE((h.session->current_state() == session_state::reading));
  BOOST_REQUIRE(h.ctx->write_ticks < h.ctx->idle_ticks);
  h.session->set_unsent(100);
  h.ctx->now_tick.fetch_add(h.ctx->write_ticks - 1);
  h.session->expire();  // not due yet
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::reading));
  h.ctx->now_tick.fetch_add(1);
  h.session->expire();
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::closed));
  BOOST_TEST(echo::stats::get(h.ctx->counters.write_timeouts) == 1U);
  BOOST_TEST(echo::stats::get(h.ctx->counters.idle_timeouts) == 0U);
  h.finish();
}

// The peer took the whole echo: the write timeout passes without a close, and the idle
// timeout, counted from the last write, ends the session.
BOOST_AUTO_TEST_CASE(echo_taken_by_the_peer_leaves_only_the_idle_timeout) {
  harness h(chunks_then(ending::silence));
  h.start();
  h.run();
  BOOST_REQUIRE((h.session->current_state() == session_state::reading));
  const auto start = h.ctx->now();
  h.ctx->now_tick.fetch_add(h.ctx->write_ticks);
  h.session->expire();
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::reading));
  BOOST_TEST(h.session->deadline() == start + h.ctx->idle_ticks);
  h.ctx->now_tick.store(start + h.ctx->idle_ticks - 1);
  h.session->expire();
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::reading));
  h.ctx->now_tick.fetch_add(1);
  h.session->expire();
  h.run();
  BOOST_TEST((h.session->current_state() == session_state::closed));
  BOOST_TEST(echo::stats::get(h.ctx->counters.write_timeouts) == 0U);
  BOOST_TEST(echo::stats::get(h.ctx->counters.idle_timeouts) == 1U);
  h.finish();
}

// Drain while a peer keeps the connection open: our FIN goes out after the last echo, then
// the session waits for the peer's FIN and closes.
BOOST_AUTO_TEST_CASE(drain_sends_fin_after_the_last_echo) {
  harness h(chunks_then(ending::after_our_fin));
  h.start();
  h.run();
  BOOST_TEST(h.session->output() == h.input);
  BOOST_TEST((h.drain() == session_state::reading));
  h.run();
  BOOST_TEST(h.session->fin_sent());
  BOOST_TEST((h.session->current_state() == session_state::closed));
  h.finish();
}

// The step-plan seam: every echo split into 1-byte writes, byte-exact.
BOOST_AUTO_TEST_CASE(plan_splits_every_echo_into_single_bytes) {
  memory_script s;
  s.input = input_of(4096);
  s.read_size = 512;
  harness h(s, [](std::uint64_t) { return std::make_unique<echo::test::split_plan>(1); });
  h.start();
  h.run();
  BOOST_TEST(h.session->output() == h.input);
  BOOST_TEST(h.session->writes() == 4096U);
  BOOST_TEST(h.session->fin_sent());
  h.finish();
}

// The step-plan seam: the connection ends after exactly N echoed bytes, with a FIN or an RST,
// for N across read boundaries.
BOOST_AUTO_TEST_CASE(plan_ends_the_connection_after_n_bytes) {
  for (const bool reset : {false, true}) {
    for (const std::size_t n : {0U, 1U, 99U, 100U, 101U, 250U, 299U}) {
      harness h(chunks_then(ending::after_our_fin),
                [=](std::uint64_t) { return std::make_unique<echo::test::end_after_plan>(n, reset); });
      h.start();
      h.run();
      BOOST_TEST(h.session->output() == h.input.substr(0, n), "n=" << n << " reset=" << reset);
      BOOST_TEST(h.session->reset_sent() == reset);
      BOOST_TEST(h.session->fin_sent() == !reset);
      h.finish();
    }
  }
}

// A delay plan holds the echo back on a timer; drain and close during the wait still end
// the session cleanly.
BOOST_AUTO_TEST_CASE(plan_delay_holds_the_echo_back) {
  using namespace std::chrono_literals;
  harness h(chunks_then(ending::fin),
            [](std::uint64_t) { return std::make_unique<echo::test::delay_plan>(5ms); });
  const auto t0 = std::chrono::steady_clock::now();
  h.start();
  h.io.run_for(10s);
  const auto took = std::chrono::steady_clock::now() - t0;
  BOOST_TEST(h.session->output() == h.input);
  BOOST_TEST(took >= 15ms, "three reads, each echo held back 5 ms");
  h.finish();

  harness c(chunks_then(ending::silence),
            [](std::uint64_t) { return std::make_unique<echo::test::delay_plan>(10s); });
  c.start();
  c.run();
  BOOST_TEST((c.session->current_state() == session_state::writing));  // waiting out the delay
  BOOST_TEST((c.close() == session_state::writing));
  c.finish();
  BOOST_TEST(echo::stats::get(c.ctx->counters.forced_closes) == 1U);
}
