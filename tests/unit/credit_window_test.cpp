// The credit window's rule, step by step on a virtual clock: rate x target
// while the window limits, never below the floor or above the most.
#include "actors/pipeline/credit_window.hpp"

#include <doctest/doctest.h>

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

struct window_fixture {
  credit_window_config cfg{100000, 1000, 2s, 250ms, 4};
  credit_window::time_point now{};
  credit_window w{cfg};

  window_fixture() {
    w.sent(now);
  }

  /// One interval in which `words` were confirmed, limited or not.
  void interval(uint64_t words, bool limited = true) {
    w.confirmed(words);
    if (limited)
      w.limited();
    now += cfg.interval;
    w.update(now);
  }
};

} // namespace

TEST_SUITE("credit window") {

TEST_CASE_FIXTURE(window_fixture,
                  "credit window: starts at the floor, doubles while half of "
                  "it is confirmed until the first rate, then follows rate x "
                  "target while it limits") {
  CHECK(w.size() == 1000);
  w.confirmed(499);
  CHECK(w.size() == 1000);
  w.confirmed(1);
  CHECK(w.size() == 2000);
  w.confirmed(1000 + 2000 + 4000);
  CHECK(w.size() == 16000);
  // The first interval ends slow start: 7,500 words in 250 ms, 30,000
  // words/s, 60,000 words in 2 s.
  interval(0);
  CHECK(w.rate() == doctest::Approx(30000));
  CHECK(w.size() == 60000);
  // 2,000 words in 250 ms: 8,000 words/s, 16,000 words in 2 s, once the
  // faster intervals are out of the max filter.
  for (int i = 0; i < 4; ++i)
    interval(2000);
  CHECK(w.rate() == doctest::Approx(8000));
  CHECK(w.size() == 16000);
  // A fast pipeline: the most.
  interval(100000);
  CHECK(w.size() == 100000);
}

TEST_CASE_FIXTURE(window_fixture,
                  "credit window: a short pause in confirmations does not "
                  "shrink it, an outage takes it to the floor") {
  interval(2000);
  REQUIRE(w.size() == 16000);
  CHECK(w.shrinks() == 0);
  // The highest rate of the last 4 intervals counts.
  interval(0);
  interval(0);
  interval(0);
  CHECK(w.size() == 16000);
  interval(0);
  CHECK(w.rate() == 0);
  CHECK(w.size() == 1000);
  CHECK(w.shrinks() == 1);
  // Confirmations again: back to rate x target at once.
  interval(500);
  CHECK(w.size() == 4000);
}

TEST_CASE_FIXTURE(window_fixture,
                  "credit window: an input slower than the pipeline neither "
                  "shrinks it nor keeps it from growing") {
  interval(2000);
  REQUIRE(w.size() == 16000);
  for (int i = 0; i < 10; ++i)
    interval(100, false);
  CHECK(w.size() == 16000);
  interval(5000, false);
  CHECK(w.size() == 40000);
}

TEST_CASE_FIXTURE(window_fixture,
                  "credit window: nothing changes before the interval is "
                  "over") {
  w.confirmed(10);
  w.limited();
  CHECK_FALSE(w.update(now + 100ms));
  CHECK(w.size() == 1000);
  // The interval measured is the time since it began: 10 words in 500 ms.
  CHECK(w.update(now + 500ms));
  CHECK(w.rate() == doctest::Approx(20));
  CHECK(w.size() == 1000);
}

TEST_CASE("credit window: with no target it stays at the most") {
  credit_window_config cfg{5000, 1000, 0s, 250ms, 4};
  credit_window::time_point now{};
  credit_window w{cfg};
  w.sent(now);
  w.limited();
  CHECK_FALSE(w.update(now + 10s));
  CHECK(w.size() == 5000);
}

TEST_CASE("credit window: no interval ends before words went in") {
  credit_window_config cfg{100000, 1000, 2s, 250ms, 4};
  credit_window w{cfg};
  w.limited();
  CHECK_FALSE(w.update(credit_window::time_point{} + 10s));
  w.sent(credit_window::time_point{} + 10s);
  CHECK_FALSE(w.update(credit_window::time_point{} + 10s + 100ms));
  CHECK(w.update(credit_window::time_point{} + 10s + 250ms));
}

TEST_CASE("credit window: a floor above the most is the most") {
  credit_window_config cfg{10, 1000, 2s, 250ms, 4};
  credit_window::time_point now{};
  credit_window w{cfg};
  w.sent(now);
  w.limited();
  w.update(now + 1s);
  CHECK(w.size() == 10);
}

} // TEST_SUITE
