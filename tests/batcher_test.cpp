#include "actors/batcher.hpp"

#include <doctest/doctest.h>

#include <optional>

#include "actors/router.hpp"
#include "actors/status.hpp"
#include "fixture.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

/// An rpc-caller that records the jobs it gets.
rpc_caller_actor spawn_recorder(caf::actor_system& sys,
                                test::recorded<rpc_job> jobs) {
  return sys.spawn([jobs]() -> rpc_caller_actor::behavior_type {
    return {
      [jobs](rpc_job& job) { jobs->push_back(std::move(job)); },
      [](rpc_reply&) {},
      [](retry_atom, uint64_t) {},
      [](tick_atom) {},
      [](status_atom) { return std::string{"{}"}; },
    };
  });
}

word_batch words(std::initializer_list<const char*> ws, int64_t offset = 0) {
  word_batch b;
  for (auto w : ws)
    b.elements.push_back(element{w, 0, offset++, 1000});
  return b;
}

struct batcher_fixture : test::deterministic {
  test::recorded<rpc_job> jobs = std::make_shared<std::vector<rpc_job>>();
  rpc_caller_actor rpc = spawn_recorder(sys, jobs);
  batcher_config cfg = [] {
    batcher_config c;
    c.bucket = 3;
    c.batch_size = 10;
    c.max_wait = 4s;
    return c;
  }();

  batcher_actor make() {
    auto aut = sys.spawn(batcher, cfg, rpc);
    run();
    return aut;
  }

  boost::json::object status(const batcher_actor& aut) {
    return parse_status(ask<std::string>(aut, status_atom::value)).as_object();
  }
};

} // namespace

TEST_CASE_FIXTURE(batcher_fixture, "batcher flushes at exactly batch_size") {
  auto aut = make();
  caf::anon_send(aut, words({"a", "b", "c", "d", "e", "f", "g", "h", "i"}));
  run();
  CHECK(jobs->empty());
  CHECK(status(aut)["counter"].to_number<uint64_t>() == 9);
  caf::anon_send(aut, words({"j", "k"}));
  run();
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).elements.size() == 10);
  CHECK(jobs->at(0).trigger == static_cast<uint8_t>(flush_trigger::count));
  CHECK(jobs->at(0).bucket == 3);
  auto st = status(aut);
  CHECK(st["counter"].to_number<uint64_t>() == 1);
  CHECK(st["bag_size"].to_number<uint64_t>() == 1);
}

TEST_CASE_FIXTURE(batcher_fixture,
                  "a lone element flushes at max_wait, not one tick earlier") {
  auto aut = make();
  caf::anon_send(aut, words({"lonely"}));
  run();
  CHECK(status(aut)["timer_armed"].as_bool());
  advance(4s - 1ns);
  CHECK(jobs->empty());
  advance(1ns);
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).trigger == static_cast<uint8_t>(flush_trigger::timer));
  CHECK(jobs->at(0).words == std::vector<std::string>{"lonely"});
  CHECK_FALSE(status(aut)["timer_armed"].as_bool());
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
  CHECK(status(aut)["stale_timers"].to_number<uint64_t>() == 1);
  // A new element arms a new timer that fires max_wait after it.
  caf::anon_send(aut, words({"k"}));
  run();
  advance(2s);
  CHECK(jobs->size() == 1);
  advance(2s);
  REQUIRE(jobs->size() == 2);
  CHECK(jobs->at(1).words == std::vector<std::string>{"k"});
}

TEST_CASE_FIXTURE(batcher_fixture, "end of window flushes a partial bag") {
  auto aut = make();
  CHECK(ask<uint64_t>(aut, eow_atom::value) == 0);
  CHECK(jobs->empty());
  caf::anon_send(aut, words({"x", "y", "z"}));
  run();
  CHECK(ask<uint64_t>(aut, eow_atom::value) == 3);
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
  ask<uint64_t>(aut, eow_atom::value);
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

namespace {

struct router_fixture : test::deterministic {
  std::vector<test::recorded<word_batch>> got;
  std::vector<batcher_actor> batchers;

  router_fixture() {
    for (int k = 0; k < 10; ++k) {
      auto rec = std::make_shared<std::vector<word_batch>>();
      got.push_back(rec);
      batchers.push_back(
        sys.spawn([rec, k]() -> batcher_actor::behavior_type {
          return {
            [rec](word_batch& b) { rec->push_back(std::move(b)); },
            [](flush_atom, uint64_t) {},
            [k](eow_atom) { return static_cast<uint64_t>(k); },
            [](status_atom) { return std::string{"{}"}; },
          };
        }));
    }
  }
};

} // namespace

TEST_CASE_FIXTURE(router_fixture, "router sends each word to its bucket") {
  auto aut = sys.spawn(router, batchers, false);
  // 'a' = 97 -> 7, 'b' = 98 -> 8, 'Z' = 90 -> 0, '\'' = 39 -> 9.
  caf::anon_send(aut, words({"apple", "banana", "Zebra", "'tis", "avocado"}));
  run();
  REQUIRE(got[7]->size() == 1);
  CHECK(got[7]->at(0).elements.size() == 2);
  CHECK(got[7]->at(0).elements[1].word == "avocado");
  REQUIRE(got[8]->size() == 1);
  CHECK(got[8]->at(0).elements[0].word == "banana");
  REQUIRE(got[0]->size() == 1);
  REQUIRE(got[9]->size() == 1);
  for (int k : {1, 2, 3, 4, 5, 6})
    CHECK(got[k]->empty());
  // End of window reaches every batcher and sums their answers.
  CHECK(ask<uint64_t>(aut, eow_atom::value) == 45);
}

namespace {

/// A batcher that logs what it gets and answers an end of window only when
/// the test says so (with a flush message, from inside the actor).
struct slow_batcher {
  std::shared_ptr<std::vector<std::string>> log
    = std::make_shared<std::vector<std::string>>();
  std::shared_ptr<std::vector<caf::response_promise>> pending
    = std::make_shared<std::vector<caf::response_promise>>();
  batcher_actor handle;

  explicit slow_batcher(caf::actor_system& sys) {
    auto log = this->log;
    auto pending = this->pending;
    handle = sys.spawn(
      [=](batcher_actor::pointer self) -> batcher_actor::behavior_type {
        return {
          [log](word_batch& b) {
            for (auto& e : b.elements)
              log->push_back(e.word);
          },
          [pending](flush_atom, uint64_t n) {
            for (auto& rp : *pending)
              rp.deliver(n);
            pending->clear();
          },
          [=](eow_atom) -> caf::result<uint64_t> {
            log->push_back("<end of window>");
            pending->push_back(self->make_response_promise<uint64_t>());
            return pending->back();
          },
          [](status_atom) { return std::string{"{}"}; },
        };
      });
  }
};

} // namespace

TEST_CASE_FIXTURE(router_fixture,
                  "a bucket handed over holds its words until the old owner "
                  "flushed") {
  slow_batcher old{sys};
  auto owners = batchers;
  owners[7] = old.handle;
  auto aut = sys.spawn(router, owners, false);
  caf::anon_send(aut, words({"apple"}));
  run();
  caf::anon_send(aut, handover_atom::value, batchers); // bucket 7 moves
  caf::anon_send(aut, words({"avocado", "banana"}));
  run();
  // The old owner got its word, then the end of window; the new owner
  // nothing yet; other buckets are not held up.
  CHECK(*old.log == std::vector<std::string>{"apple", "<end of window>"});
  CHECK(got[7]->empty());
  REQUIRE(got[8]->size() == 1);
  // An end of window waits for the handover.
  auto answered = std::make_shared<std::optional<uint64_t>>();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(aut, caf::infinite, eow_atom::value)
      .then([=](uint64_t n) { *answered = n; });
  });
  run();
  CHECK_FALSE(answered->has_value());
  // The old owner flushed: the held word goes to the new owner.
  REQUIRE(old.pending->size() == 1);
  caf::anon_send(old.handle, flush_atom::value, uint64_t{1});
  run();
  REQUIRE(got[7]->size() == 1);
  CHECK(got[7]->at(0).elements.at(0).word == "avocado");
  CHECK(answered->value_or(0) == 45);
  caf::anon_send(aut, words({"apricot"}));
  run();
  CHECK(got[7]->size() == 2);
  CHECK(old.log->size() == 2);
}

TEST_CASE_FIXTURE(router_fixture,
                  "a bucket without an owner holds its words until it gets "
                  "one") {
  auto owners = batchers;
  owners[3] = batcher_actor{}; // 'g' = 103 -> 3
  auto aut = sys.spawn(router, owners, false);
  caf::anon_send(aut, words({"grape", "apple", "guava"}));
  run();
  REQUIRE(got[7]->size() == 1);
  CHECK(got[3]->empty());
  // End of window: every owned bucket flushes (3 is left out).
  CHECK(ask<uint64_t>(aut, eow_atom::value) == 42);
  // An owner at once (after a node loss): the held words go to it in order.
  caf::anon_send(aut, batchers);
  run();
  REQUIRE(got[3]->size() == 1);
  auto& held = got[3]->at(0).elements;
  REQUIRE(held.size() == 2);
  CHECK(held[0].word == "grape");
  CHECK(held[1].word == "guava");
  // And a node loss takes the owner away again.
  owners = batchers;
  owners[7] = batcher_actor{};
  caf::anon_send(aut, owners);
  caf::anon_send(aut, words({"apple"}));
  run();
  CHECK(got[7]->size() == 1);
}

TEST_CASE_FIXTURE(router_fixture,
                  "an ingest node's router sends the words of a lost batcher "
                  "node again, except those of records done") {
  auto aut = sys.spawn(router, batchers, true);
  // Offsets 0, 1, 2: apple and avocado to bucket 7, banana to bucket 8.
  caf::anon_send(aut, words({"apple", "avocado", "banana"}));
  run();
  REQUIRE(got[7]->size() == 1);
  REQUIRE(got[8]->size() == 1);
  // The record at offset 0 is done; those at 1 and 2 are not.
  caf::anon_send(aut, std::vector<partition_done>{{0, 0, 1, 0, {}}});
  // The batchers' node is lost (in this test every batcher is on this
  // node): buckets 7 and 8 move to a new owner, which gets the words not
  // done and flushes them at once.
  slow_batcher heir{sys};
  auto owners = batchers;
  owners[7] = heir.handle;
  owners[8] = heir.handle;
  caf::anon_send(aut, lost_atom::value, sys.node(), owners);
  run();
  CHECK(*heir.log
        == std::vector<std::string>{"avocado", "banana", "<end of window>",
                                    "<end of window>"});
  auto field = [&](const char* name) {
    auto status = parse_status(ask<std::string>(aut, status_atom::value));
    return status.as_object().at(name).to_number<int64_t>();
  };
  CHECK(field("resent") == 2);
  caf::anon_send(heir.handle, flush_atom::value, uint64_t{2});
  // Words sent to the new owner are kept until done, like any others.
  caf::anon_send(aut, words({"apricot"}, 3));
  run();
  CHECK(heir.log->back() == "apricot");
  CHECK(field("kept_for_resend") == 3);
  // Records 2 and 3 are done, 1 is not: only avocado stays kept.
  caf::anon_send(aut, std::vector<partition_done>{{0, 0, 1, 4, {1}}});
  run();
  CHECK(field("kept_for_resend") == 1);
  caf::anon_send(aut, std::vector<partition_done>{{0, 0, 4, 0, {}}});
  run();
  CHECK(field("kept_for_resend") == 0);
}

TEST_CASE("buckets follow the seed's ord(word[0]) % 10") {
  CHECK(bucket_of("apple", 10) == 7);
  CHECK(bucket_of("Apple", 10) == 5);
  CHECK(bucket_of("apple", 3) == 97 % 3);
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
