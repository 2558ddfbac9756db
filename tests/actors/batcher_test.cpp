#include "actors/pipeline/batcher.hpp"

#include <doctest/doctest.h>

#include <optional>

#include "actors/pipeline/node.hpp"
#include "actors/pipeline/word_cache.hpp"
#include "actors/observe/reporting.hpp"
#include "tests/support/fixture.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;
using rpcbatch::test::words;

namespace {

/// An rpc-caller that records the jobs it gets (and who wants the answers
/// to their words: addresses, so that no cycle of handles keeps the actors
/// alive).
rpc_caller_actor spawn_recorder(caf::actor_system& sys,
                                test::recorded<rpc_job> jobs,
                                test::recorded<caf::actor_addr> askers = {}) {
  return sys.spawn([jobs, askers]() -> rpc_caller_actor::behavior_type {
    return {
      [jobs](rpc_job& job) { jobs->push_back(std::move(job)); },
      [jobs, askers](rpc_job& job, batcher_actor& asker) {
        jobs->push_back(std::move(job));
        if (askers)
          askers->push_back(asker.address());
      },
      [](rpc_reply&) {},
      [](retry_atom, uint64_t) {},
      [](tick_atom) {},
      [](cancel_atom, std::vector<partition_epoch>&) {
        return uint64_t{0};
      },
      [](status_atom) { return actor_status{}; },
    };
  });
}

/// A sink that records the resolved batches it gets.
sink_actor spawn_sink(caf::actor_system& sys,
                      test::recorded<resolved_batch> resolved) {
  return sys.spawn([resolved]() -> sink_actor::behavior_type {
    return {
      [](source_actor&) {},
      [resolved](resolved_batch& b) { resolved->push_back(std::move(b)); },
      [](failed_batch&) {},
      [](undelivered_batch&) {},
      [](retry_atom) {},
      [](status_atom) { return actor_status{}; },
    };
  });
}

struct batcher_fixture : test::deterministic {
  test::recorded<rpc_job> jobs = std::make_shared<std::vector<rpc_job>>();
  test::recorded<caf::actor_addr> askers
    = std::make_shared<std::vector<caf::actor_addr>>();
  test::recorded<resolved_batch> resolved
    = std::make_shared<std::vector<resolved_batch>>();
  rpc_caller_actor rpc = spawn_recorder(sys, jobs, askers);
  sink_actor sink = spawn_sink(sys, resolved);
  batcher_config cfg = [] {
    batcher_config c;
    c.bucket = 3;
    c.batch_size = 10;
    c.max_wait = 4s;
    return c;
  }();

  batcher_actor make() {
    auto aut = sys.spawn(batcher, cfg, rpc, sink);
    run();
    return aut;
  }

  batcher_status status(const batcher_actor& aut) {
    return test::status_as<batcher_status>(
      ask<actor_status>(aut, status_atom::value));
  }
};

} // namespace

TEST_CASE_FIXTURE(batcher_fixture, "batcher flushes at exactly batch_size") {
  auto aut = make();
  caf::anon_send(aut, words({"a", "b", "c", "d", "e", "f", "g", "h", "i"}));
  run();
  CHECK(jobs->empty());
  CHECK(status(aut).counter == 9);
  caf::anon_send(aut, words({"j", "k"}));
  run();
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).elements.size() == 10);
  CHECK(jobs->at(0).trigger == static_cast<uint8_t>(flush_trigger::count));
  CHECK(jobs->at(0).bucket == 3);
  auto st = status(aut);
  CHECK(st.counter == 1);
  CHECK(st.bag_size == 1);
  // The flush is an event of its own, with its trigger and size.
  auto events = ask<actor_status>(aut, status_atom::value).events;
  REQUIRE(events.size() == 1);
  CHECK(events[0].seq == 1);
  CHECK(events[0].kind == event_kind::flush);
  CHECK(events[0].detail == "trigger count, size 10");
  CHECK(events[0].unix_ms > 0);
}

TEST_CASE_FIXTURE(batcher_fixture,
                  "a cancel drops the bag's words of revoked epochs and the "
                  "counter counts what is left") {
  auto aut = make();
  auto batch = words({"a", "b", "c", "d", "e"});
  for (auto i : {1, 3})
    batch.elements[static_cast<std::size_t>(i)].partition = 1;
  caf::anon_send(aut, batch);
  run();
  // Partition 0 in epoch 0 is revoked: its 3 words go; an older epoch of
  // partition 1 names nothing here.
  std::vector<partition_epoch> revoked{{0, 0}, {1, 7}};
  CHECK(ask<uint64_t>(aut, cancel_atom::value, revoked) == 3);
  auto st = status(aut);
  CHECK(st.counter == 2);
  CHECK(st.bag_size == 2);
  CHECK(st.cancelled == 3);
  caf::anon_send(aut, words({"f", "g", "h", "i", "j", "k", "l"}));
  run();
  CHECK(jobs->empty());
  caf::anon_send(aut, words({"m"}));
  run();
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).words.front() == "b");
  CHECK(jobs->at(0).elements.size() == 10);
}

TEST_CASE_FIXTURE(batcher_fixture,
                  "a lone element flushes at max_wait, not one tick earlier") {
  auto aut = make();
  caf::anon_send(aut, words({"lonely"}));
  run();
  CHECK(status(aut).timer_armed);
  advance(4s - 1ns);
  CHECK(jobs->empty());
  advance(1ns);
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).trigger == static_cast<uint8_t>(flush_trigger::timer));
  CHECK(jobs->at(0).words == std::vector<std::string>{"lonely"});
  CHECK_FALSE(status(aut).timer_armed);
}

TEST_CASE_FIXTURE(batcher_fixture,
                  "a count flush makes the pending timer stale") {
  auto aut = make();
  caf::anon_send(aut, words({"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}));
  run();
  REQUIRE(jobs->size() == 1);
  // The timer armed by the first element fires into an empty bag: ignored,
  // no double flush and no empty flush.
  advance(4s);
  CHECK(jobs->size() == 1);
  CHECK(status(aut).stale_timers == 1);
  // A new element arms a new timer that fires max_wait after it.
  caf::anon_send(aut, words({"k"}));
  run();
  advance(2s);
  CHECK(jobs->size() == 1);
  advance(2s);
  REQUIRE(jobs->size() == 2);
  CHECK(jobs->at(1).words == std::vector<std::string>{"k"});
}

TEST_CASE_FIXTURE(batcher_fixture,
                  "one timer message at a time, however many bags: a bag "
                  "begun while one is on its way still flushes at its own "
                  "deadline") {
  auto aut = make();
  // 100 bags flushed by their count in a row: one timer message, which
  // finds nothing to flush.
  for (int i = 0; i < 100; ++i) {
    caf::anon_send(aut, words({"a", "b", "c", "d", "e", "f", "g", "h", "i",
                               "j"}));
    run();
  }
  REQUIRE(jobs->size() == 100);
  advance(1s);
  // A lone word 1 s later: its deadline is at 5 s, after the timer's 4 s.
  caf::anon_send(aut, words({"late"}));
  run();
  advance(3s);
  CHECK(jobs->size() == 100);
  CHECK(status(aut).stale_timers == 0);
  advance(1s - 1ns);
  CHECK(jobs->size() == 100);
  advance(1ns);
  REQUIRE(jobs->size() == 101);
  CHECK(jobs->back().words == std::vector<std::string>{"late"});
  CHECK(jobs->back().trigger == static_cast<uint8_t>(flush_trigger::timer));
  advance(10s);
  CHECK(status(aut).stale_timers == 0);
}

TEST_CASE_FIXTURE(batcher_fixture, "end of window flushes a partial bag") {
  auto aut = make();
  CHECK(ask<uint64_t>(aut, end_of_window_atom::value) == 0);
  CHECK(jobs->empty());
  caf::anon_send(aut, words({"x", "y", "z"}));
  run();
  CHECK(ask<uint64_t>(aut, end_of_window_atom::value) == 3);
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).trigger
        == static_cast<uint8_t>(flush_trigger::end_of_window));
  advance(4s);
  CHECK(jobs->size() == 1);
}

TEST_CASE_FIXTURE(batcher_fixture,
                  "a flush asks each unique word once, keeping every element") {
  auto aut = make();
  caf::anon_send(aut, words({"a", "b", "a", "c", "a"}));
  run();
  ask<uint64_t>(aut, end_of_window_atom::value);
  REQUIRE(jobs->size() == 1);
  auto& job = jobs->at(0);
  CHECK(job.words == std::vector<std::string>{"a", "b", "c"});
  CHECK(job.word_index == std::vector<uint32_t>{0, 1, 0, 2, 0});
  REQUIRE(job.elements.size() == 5);
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(job.elements[i].offset == static_cast<int64_t>(i));
}

TEST_CASE_FIXTURE(batcher_fixture, "the byte bound is a third trigger") {
  cfg.max_batch_bytes = 10;
  auto aut = make();
  caf::anon_send(aut, words({"abcd", "efgh"}));
  run();
  CHECK(jobs->empty());
  caf::anon_send(aut, words({"ij"}));
  run();
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).trigger == static_cast<uint8_t>(flush_trigger::bytes));
}

TEST_CASE("make_rpc_job keeps first-seen order") {
  std::vector<element> bag{{"z", 1, 5, 0}, {"y", 1, 5, 0}, {"z", 2, 9, 0}};
  auto job = make_rpc_job(bag, 7, flush_trigger::timer);
  CHECK(job.words == std::vector<std::string>{"z", "y"});
  CHECK(job.word_index == std::vector<uint32_t>{0, 1, 0});
  CHECK(job.elements[2].partition == 2);
}


TEST_CASE_FIXTURE(batcher_fixture, "a status request goes before the data "
                                   "queued in the mailbox") {
  auto aut = make();
  auto seen = std::make_shared<status_map>();
  actor_list list{{"batcher-3", "batcher", "", aut, 3}};
  // The collector runs first and asks while five batches wait.
  sys.spawn([list, seen](caf::event_based_actor* self) {
    collect_status(self, list, [seen](status_map status) {
      *seen = std::move(status);
    });
  });
  for (int i = 0; i < 5; ++i)
    caf::anon_send(aut, words({"a"}));
  run();
  REQUIRE(seen->count("batcher-3") == 1);
  // Answered before the five batches: an empty bag.
  CHECK(test::status_as<batcher_status>(seen->at("batcher-3").status).counter
        == 0);
  CHECK(status(aut).counter == 5);
}

TEST_CASE_FIXTURE(batcher_fixture, "buckets batch independently") {
  auto first = make();
  cfg.bucket = 4;
  auto second = make();
  caf::anon_send(first, words({"a"}));
  run();
  advance(2s);
  caf::anon_send(second, words({"b"}));
  run();
  advance(2s);
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).bucket == 3);
  advance(2s);
  REQUIRE(jobs->size() == 2);
  CHECK(jobs->at(1).bucket == 4);
}

// -- the result cache -----------------------------------------------------------

TEST_CASE("word cache: hits, misses, least recently used evicted first") {
  word_cache c{2, word_cache::clock::duration{0}};
  auto t = word_cache::clock::time_point{};
  CHECK_FALSE(c.find("a", t));
  c.put("a", 1, t);
  c.put("b", 2, t);
  CHECK(c.find("a", t) == 1); // a is now the most recent
  c.put("c", 3, t);           // evicts b
  CHECK(c.size() == 2);
  CHECK_FALSE(c.find("b", t));
  CHECK(c.find("a", t) == 1);
  CHECK(c.find("c", t) == 3);
  CHECK(c.evictions == 1);
  CHECK(c.hits == 3);
  CHECK(c.misses == 2);
  c.put("a", 7, t); // refreshed, not duplicated
  CHECK(c.size() == 2);
  CHECK(c.find("a", t) == 7);
}

TEST_CASE("word cache: an answer expires after the TTL") {
  word_cache c{10, std::chrono::seconds(10)};
  auto t = word_cache::clock::time_point{};
  c.put("a", 1, t);
  CHECK(c.find("a", t + 9999ms) == 1);
  CHECK_FALSE(c.find("a", t + 10s));
  CHECK(c.expirations == 1);
  CHECK(c.size() == 0);
}

namespace {

struct cache_fixture : batcher_fixture {
  cache_fixture() {
    cfg.batch_size = 2;
    cfg.cache_entries = 100;
  }

  /// Answers job `k` as the rpc-caller would: each word's length.
  void answer(const batcher_actor& aut, std::size_t k) {
    auto& job = jobs->at(k);
    word_answers a{job.words, {}, false};
    for (auto& w : job.words)
      a.lengths.push_back(static_cast<int32_t>(w.size()));
    caf::anon_send(aut, std::move(a));
    run();
  }

  /// Every (word, length) the sink got from the batcher.
  std::vector<std::pair<std::string, int32_t>> answered() const {
    std::vector<std::pair<std::string, int32_t>> out;
    for (auto& b : *resolved)
      for (std::size_t i = 0; i < b.elements.size(); ++i)
        out.emplace_back(b.elements[i].word, b.lengths.at(i));
    return out;
  }
};

using answers = std::vector<std::pair<std::string, int32_t>>;

} // namespace

TEST_CASE_FIXTURE(cache_fixture,
                  "batcher cache: a cached word is answered without a call") {
  auto aut = make();
  caf::anon_send(aut, words({"ab", "cde"}));
  run();
  REQUIRE(jobs->size() == 1);
  REQUIRE(askers->size() == 1);
  CHECK(askers->at(0) == aut.address());
  answer(aut, 0);
  CHECK(answered().empty()); // the job's own elements go via the rpc-caller
  caf::anon_send(aut, words({"cde", "ab", "cde"}, 10));
  run();
  CHECK(jobs->size() == 1);
  CHECK(answered() == answers{{"cde", 3}, {"ab", 2}, {"cde", 3}});
  // The positions and provenance travel with them.
  CHECK(resolved->at(0).elements.at(1).offset == 11);
  auto st = status(aut);
  CHECK(st.cache_hits == 3);
  CHECK(st.cache_entries == 2);
}

TEST_CASE_FIXTURE(cache_fixture,
                  "batcher cache: a word in flight is not asked again, and "
                  "every occurrence gets its answer") {
  auto aut = make();
  caf::anon_send(aut, words({"x", "yy"}));
  run();
  REQUIRE(jobs->size() == 1);
  // Both words are in flight: their new occurrences wait for that call.
  caf::anon_send(aut, words({"yy", "x", "x"}, 5));
  run();
  CHECK(jobs->size() == 1);
  CHECK(status(aut).coalesced == 3);
  CHECK(answered().empty());
  answer(aut, 0);
  // In the order of the call's words.
  CHECK(answered() == answers{{"x", 1}, {"x", 1}, {"yy", 2}});
  CHECK(status(aut).words_in_flight == 0);
}

TEST_CASE_FIXTURE(cache_fixture,
                  "batcher cache: the bag counts distinct words, so a call "
                  "carries batch_size words to resolve") {
  auto aut = make();
  caf::anon_send(aut, words({"p", "p", "p", "q"}));
  run();
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).words == std::vector<std::string>{"p", "q"});
  CHECK(jobs->at(0).elements.size() == 4);
}

TEST_CASE_FIXTURE(cache_fixture,
                  "batcher cache: repeats of the bag's words do not wait for "
                  "new words beyond ten times the batch size") {
  auto aut = make();
  for (int i = 0; i < 19; ++i)
    caf::anon_send(aut, words({"r"}, i));
  run();
  CHECK(jobs->empty());
  caf::anon_send(aut, words({"r"}, 19));
  run();
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).words == std::vector<std::string>{"r"});
  CHECK(jobs->at(0).elements.size() == 20);
}

TEST_CASE_FIXTURE(cache_fixture,
                  "batcher cache: when the call fails the waiting words are "
                  "asked again") {
  auto aut = make();
  caf::anon_send(aut, words({"m", "n"}));
  run();
  caf::anon_send(aut, words({"n", "m"}, 7));
  run();
  caf::anon_send(aut, word_answers{jobs->at(0).words, {}, true});
  run();
  REQUIRE(jobs->size() == 2);
  auto& again = jobs->at(1).elements;
  REQUIRE(again.size() == 2);
  CHECK(again.at(0).offset + again.at(1).offset == 7 + 8);
  CHECK(answered().empty());
}

TEST_CASE_FIXTURE(cache_fixture,
                  "batcher cache: an answer expires after the TTL and the "
                  "word is asked again") {
  cfg.cache_ttl = 10s;
  auto aut = make();
  caf::anon_send(aut, words({"t", "u"}));
  run();
  answer(aut, 0);
  advance(9s);
  caf::anon_send(aut, words({"t"}));
  run();
  CHECK(answered() == answers{{"t", 1}});
  advance(1s);
  caf::anon_send(aut, words({"t", "u"}));
  run();
  CHECK(jobs->size() == 2);
  CHECK(status(aut).cache_expirations == 2);
}

TEST_CASE_FIXTURE(cache_fixture,
                  "batcher cache: the cache holds at most its entries") {
  cfg.cache_entries = 3;
  auto aut = make();
  for (auto pair : {std::pair{"a", "b"}, {"c", "d"}, {"e", "f"}}) {
    caf::anon_send(aut, words({pair.first, pair.second}));
    run();
    answer(aut, jobs->size() - 1);
  }
  auto st = status(aut);
  CHECK(st.cache_entries == 3);
  CHECK(st.cache_evictions == 3);
}

TEST_CASE_FIXTURE(cache_fixture,
                  "batcher cache: end of window still flushes the bag") {
  auto aut = make();
  caf::anon_send(aut, words({"v"}));
  run();
  CHECK(jobs->empty());
  CHECK(ask<uint64_t>(aut, end_of_window_atom::value) == 1);
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).words == std::vector<std::string>{"v"});
}

