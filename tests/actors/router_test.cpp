// The router, message by message on the deterministic scheduler: each word
// to the bucket of the seed's rule, end of window to every batcher with the
// answers summed, and how it waits for batchers that are slow to answer.
#include "actors/pipeline/router.hpp"

#include <doctest/doctest.h>

#include <optional>

#include "actors/observe/reporting.hpp"
#include "tests/support/fixture.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;
using rpcbatch::test::words;

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
            [k](end_of_window_atom) { return static_cast<uint64_t>(k); },
            [](word_answers&) {},
            [](cancel_atom, std::vector<partition_epoch>&) {
              return uint64_t{0};
            },
            [](status_atom) { return actor_status{}; },
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
  CHECK(ask<uint64_t>(aut, end_of_window_atom::value) == 45);
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
          [=](end_of_window_atom) -> caf::result<uint64_t> {
            log->push_back("<end of window>");
            pending->push_back(self->make_response_promise<uint64_t>());
            return pending->back();
          },
          [](word_answers&) {},
          [](cancel_atom, std::vector<partition_epoch>&) {
            return uint64_t{0};
          },
          [](status_atom) { return actor_status{}; },
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
    self->request(aut, caf::infinite, end_of_window_atom::value)
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
  CHECK(ask<uint64_t>(aut, end_of_window_atom::value) == 42);
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
  caf::anon_send(aut, std::vector<partition_progress>{{0, 0, 1, 0, {}}});
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
  auto status = [&] {
    return test::status_as<router_status>(
      ask<actor_status>(aut, status_atom::value));
  };
  CHECK(status().resent == 2);
  caf::anon_send(heir.handle, flush_atom::value, uint64_t{2});
  // Words sent to the new owner are kept until done, like any others.
  caf::anon_send(aut, words({"apricot"}, 3));
  run();
  CHECK(heir.log->back() == "apricot");
  CHECK(status().kept_for_resend == 3);
  // Records 2 and 3 are done, 1 is not: only avocado stays kept.
  caf::anon_send(aut, std::vector<partition_progress>{{0, 0, 1, 4, {1}}});
  run();
  CHECK(status().kept_for_resend == 1);
  caf::anon_send(aut, std::vector<partition_progress>{{0, 0, 4, 0, {}}});
  run();
  CHECK(status().kept_for_resend == 0);
}

TEST_CASE("buckets follow the seed's ord(word[0]) % 10") {
  CHECK(bucket_of("apple", 10) == 7);
  CHECK(bucket_of("Apple", 10) == 5);
  CHECK(bucket_of("apple", 3) == 97 % 3);
}

