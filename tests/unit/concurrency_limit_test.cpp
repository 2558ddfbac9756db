// The adaptive limit on calls in flight on its own: a simulated service
// answers calls with a latency that depends on how many are in flight, and
// the limit is driven as the rpc-caller drives it (a backlog: every slot the
// limit allows is used).
#include "actors/pipeline/concurrency_limit.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <vector>

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

using time_point = concurrency_limit::time_point;
using duration = concurrency_limit::duration;

/// A service under a backlog: calls start whenever the limit allows one,
/// and each takes `latency(n)`, n being the calls in flight once it started.
class simulation {
public:
  simulation(concurrency_limit& limit, std::function<duration(std::size_t)> f)
    : limit_(limit), latency_(std::move(f)) {
    fill();
  }

  /// Answers the next `n` calls; `each` sees the limit after every answer.
  void answer(std::size_t n,
              const std::function<void(std::size_t)>& each = nullptr) {
    for (std::size_t i = 0; i < n; ++i) {
      REQUIRE_FALSE(calls_.empty());
      auto c = calls_.top();
      calls_.pop();
      now_ = c.done;
      limit_.succeeded(c.started, now_, calls_.size() + 1);
      ++answered_;
      fill();
      if (each)
        each(limit_.current());
    }
  }

  void set_latency(std::function<duration(std::size_t)> f) {
    latency_ = std::move(f);
  }

  time_point now() const {
    return now_;
  }

  std::size_t inflight() const {
    return calls_.size();
  }

  uint64_t answered() const {
    return answered_;
  }

private:
  struct call {
    time_point started;
    time_point done;
    bool operator<(const call& other) const {
      return done > other.done; // the earliest answer on top
    }
  };

  void fill() {
    while (calls_.size() < limit_.current()) {
      auto n = calls_.size() + 1;
      calls_.push(call{now_, now_ + latency_(n)});
    }
  }

  concurrency_limit& limit_;
  std::function<duration(std::size_t)> latency_;
  std::priority_queue<call> calls_;
  time_point now_{1h};
  uint64_t answered_ = 0;
};

concurrency_limit::config with_max(std::size_t max) {
  concurrency_limit::config cfg;
  cfg.max = max;
  return cfg;
}

/// 2 ms +- 30%, the same sequence every run.
std::function<duration(std::size_t)> noisy_flat() {
  auto rng = std::make_shared<std::mt19937_64>(7);
  return [rng](std::size_t) {
    std::uniform_int_distribution<int> d(1400, 2600);
    return duration{std::chrono::microseconds(d(*rng))};
  };
}

} // namespace

TEST_SUITE("concurrency limit") {

TEST_CASE("concurrency limit: measures the no-load latency at the floor "
          "first, then starts at the max") {
  concurrency_limit limit{with_max(16)};
  CHECK(limit.current() == 1);
  CHECK(limit.measuring());
  time_point t{1h};
  // Five calls alone: their median is the baseline.
  for (int i = 0; i < 5; ++i) {
    CHECK(limit.measuring());
    limit.succeeded(t, t + std::chrono::milliseconds(5 - i), 1);
    t += 20ms;
  }
  CHECK_FALSE(limit.measuring());
  CHECK(limit.baselines() == 1);
  CHECK(limit.baseline() == 3ms);
  CHECK(limit.current() == 16);
  CHECK(limit.increases() == 0);
  CHECK(limit.decreases() == 0);
}

TEST_CASE("concurrency limit: from the floor, with flat latency it reaches "
          "the max within a few hundred calls and stays there") {
  auto cfg = with_max(16);
  cfg.initial = 1;
  concurrency_limit limit{cfg};
  simulation sim{limit, noisy_flat()};
  uint64_t reached = 0;
  sim.answer(300, [&](std::size_t l) {
    if (l == 16 && reached == 0)
      reached = sim.answered();
  });
  MESSAGE("at the max after ", reached, " calls");
  CHECK(reached > 0);
  CHECK(reached <= 300);
  CHECK(limit.current() == 16);
  // Stays: ten minutes of calls, no decrease, no measurement at the max.
  auto decreases = limit.decreases();
  auto until = sim.now() + 10min;
  std::size_t lowest = 16;
  while (sim.now() < until)
    sim.answer(1, [&](std::size_t l) { lowest = std::min(lowest, l); });
  CHECK(lowest == 16);
  CHECK(limit.decreases() == decreases);
  CHECK(limit.baselines() == 1);
  CHECK(sim.inflight() == 16);
}

TEST_CASE("concurrency limit: from 16, as the rpc-caller starts it, to a max "
          "of 64 within a few hundred calls") {
  auto cfg = with_max(64);
  cfg.initial = 16;
  concurrency_limit limit{cfg};
  simulation sim{limit, noisy_flat()};
  uint64_t reached = 0;
  sim.answer(1000, [&](std::size_t l) {
    if (l == 64 && reached == 0)
      reached = sim.answered();
  });
  MESSAGE("at 64 after ", reached, " calls, ", limit.increases(),
          " increases");
  CHECK(reached > 0);
  CHECK(reached <= 800);
  CHECK(limit.current() == 64);
}

TEST_CASE("concurrency limit: latency that rises with the calls in flight "
          "by less than the allowance is flat (the fast resolver)") {
  // The in-process resolver on two cores shared with the node: 0.36 ms at
  // one call, some 2 ms at 16, throughput still rising.
  concurrency_limit limit{with_max(16)};
  simulation sim{limit, [](std::size_t n) {
                   return duration{std::chrono::microseconds(240 + 115 * n)};
                 }};
  sim.answer(300);
  CHECK(limit.current() == 16);
  sim.answer(20000);
  CHECK(limit.current() == 16);
  CHECK(limit.decreases() == 0);
}

TEST_CASE("concurrency limit: a service whose latency grows with the calls "
          "in flight keeps it below the max") {
  // Four calls at a time, 20 ms each; more only queue.
  concurrency_limit limit{with_max(64)};
  simulation sim{limit, [](std::size_t n) {
                   return duration{20ms} * std::max<std::size_t>(n, 4) / 4;
                 }};
  sim.answer(2000);
  // Long after it settled: where does it go?
  std::size_t lowest = 64;
  std::size_t highest = 0;
  auto until = sim.now() + 10min;
  while (sim.now() < until)
    sim.answer(1, [&](std::size_t l) {
      // (A measurement holds it at 1 for a moment.)
      if (limit.measuring())
        return;
      lowest = std::min(lowest, l);
      highest = std::max(highest, l);
    });
  MESSAGE("settled between ", lowest, " and ", highest, " calls in flight; ",
          limit.decreases(), " decreases, ", limit.baselines(),
          " baselines");
  CHECK(highest < 64);
  CHECK(highest <= 16);
  CHECK(lowest >= 4);
  CHECK(limit.decreases() > 0);
  // It measured the no-load latency again while held below the max.
  CHECK(limit.baselines() > 1);
  CHECK(limit.baseline() >= 19ms);
  CHECK(limit.baseline() <= 21ms);
}

TEST_CASE("concurrency limit: rising latency shrinks it; after the next "
          "measurement a service that is slower for every call gets the "
          "calls back") {
  concurrency_limit limit{with_max(16)};
  simulation sim{limit, [](std::size_t) { return duration{2ms}; }};
  sim.answer(400);
  REQUIRE(limit.current() == 16);
  // The service gets slower: 40 ms a call, however many are in flight.
  sim.set_latency([](std::size_t) { return duration{40ms}; });
  std::size_t lowest = 16;
  sim.answer(200, [&](std::size_t l) { lowest = std::min(lowest, l); });
  CHECK(lowest < 16);
  CHECK(limit.decreases() > 0);
  // Held below the max, it measures again after a minute and finds that
  // 40 ms is the no-load latency now.
  auto until = sim.now() + 2min;
  while (sim.now() < until)
    sim.answer(1);
  CHECK(limit.baselines() >= 2);
  CHECK(limit.baseline() == 40ms);
  CHECK(limit.current() == 16);
}

TEST_CASE("concurrency limit: RESOURCE_EXHAUSTED halves it, once per "
          "round") {
  concurrency_limit limit{with_max(16)};
  simulation sim{limit, [](std::size_t) { return duration{1ms}; }};
  sim.answer(400);
  REQUIRE(limit.current() == 16);
  auto decreases = limit.decreases();
  auto t = sim.now();
  auto before_cut = t - 1ms;
  limit.overloaded(before_cut, t);
  CHECK(limit.current() == 8);
  // The other calls of that round said the same: no second cut.
  for (int i = 0; i < 7; ++i)
    limit.overloaded(before_cut, t + 1ms);
  CHECK(limit.current() == 8);
  // A call started after the cut: cut again.
  limit.overloaded(t + 1ms, t + 2ms);
  CHECK(limit.current() == 4);
  limit.overloaded(t + 3ms, t + 4ms);
  limit.overloaded(t + 5ms, t + 6ms);
  CHECK(limit.current() == 1);
  // Never below 1.
  limit.overloaded(t + 7ms, t + 8ms);
  CHECK(limit.current() == 1);
  CHECK(limit.decreases() == decreases + 4);
}

TEST_CASE("concurrency limit: an overload during a measurement cuts what "
          "it returns to") {
  concurrency_limit limit{with_max(16)};
  simulation sim{limit, [](std::size_t) { return duration{1ms}; }};
  sim.answer(400);
  REQUIRE(limit.current() == 16);
  auto t = sim.now();
  limit.overloaded(t, t + 1ms);
  REQUIRE(limit.current() == 8);
  // Below the max a minute after the last baseline: the next answer starts
  // a measurement, at the floor.
  t += 61s;
  limit.succeeded(t, t + 1ms, 8);
  REQUIRE(limit.measuring());
  CHECK(limit.current() == 1);
  auto decreases = limit.decreases();
  limit.overloaded(t + 2ms, t + 3ms);
  CHECK(limit.decreases() == decreases + 1);
  CHECK(limit.current() == 1);
  for (int i = 0; i < 10; ++i)
    limit.succeeded(t + 4ms, t + 5ms, 1);
  CHECK_FALSE(limit.measuring());
  CHECK(limit.baselines() == 2);
  // 8, perhaps grown by one window, then halved.
  CHECK(limit.current() >= 4);
  CHECK(limit.current() <= 5);
}

TEST_CASE("concurrency limit: stays within [min, max] whatever happens") {
  for (std::size_t max : {1, 2, 16, 64}) {
    for (std::size_t min : {std::size_t{1}, max / 2 + 1, max}) {
      CAPTURE(max);
      CAPTURE(min);
      auto cfg = with_max(max);
      cfg.min = min;
      concurrency_limit limit{cfg};
      std::mt19937_64 rng{max * 100 + min};
      std::uniform_int_distribution<int> us(1, 200000);
      std::bernoulli_distribution overload{0.05};
      time_point t{1h};
      for (int i = 0; i < 20000; ++i) {
        auto started = t;
        t += std::chrono::microseconds(us(rng));
        if (overload(rng))
          limit.overloaded(started, t);
        else
          limit.succeeded(started, t, limit.current());
        REQUIRE(limit.current() >= min);
        REQUIRE(limit.current() <= max);
      }
      if (min == max) {
        // Pinned: nothing changes, nothing is measured.
        CHECK(limit.increases() == 0);
        CHECK(limit.decreases() == 0);
        CHECK(limit.baselines() == 0);
      }
    }
  }
}

TEST_CASE("concurrency limit: a limit that is not used does not grow") {
  auto cfg = with_max(16);
  cfg.initial = 1;
  concurrency_limit limit{cfg};
  time_point t{1h};
  // One call at a time, however long.
  for (int i = 0; i < 1000; ++i) {
    limit.succeeded(t, t + 1ms, 1);
    t += 100ms;
  }
  // Grows while at least half of it is used: 1 of 2, not 1 of 3.
  CHECK(limit.current() == 3);
  // Below the max for want of load, not held there: no measurement after
  // the first (100 s).
  CHECK(limit.baselines() == 1);
}

} // TEST_SUITE
