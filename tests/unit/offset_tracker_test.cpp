#include "actors/pipeline/offset_tracker.hpp"

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <vector>

#include <doctest/doctest.h>

using namespace rpcbatch;

namespace {

/// Dispatches a record of `words` words and sends all of them; answers its
/// epoch.
uint32_t take(offset_tracker& t, int32_t partition, int64_t offset,
              uint32_t words) {
  auto epoch = t.dispatched(partition, offset, words);
  t.sent(partition, offset, epoch, words);
  return epoch;
}

} // namespace

TEST_CASE("commit point is the lowest offset not done") {
  offset_tracker t;
  CHECK_FALSE(t.commit_point(0));
  take(t, 0, 100, 2);
  take(t, 0, 101, 0); // no words: done at once
  take(t, 0, 102, 1);
  take(t, 0, 103, 1);
  CHECK(*t.commit_point(0) == 100);
  CHECK(t.words_in_flight() == 4);
  t.acked({0, 102, 1, 0}, {0});
  t.acked({0, 103, 1, 0}, {0});
  CHECK(*t.commit_point(0) == 100); // 100 still pending
  t.acked({0, 100, 1, 0}, {1});
  CHECK(*t.commit_point(0) == 100);
  t.acked({0, 100, 1, 0}, {0});
  CHECK(*t.commit_point(0) == 104);
  CHECK(t.words_in_flight() == 0);
  CHECK(t.pending_records() == 0);
}

TEST_CASE("a record in pieces is done with the last piece's words") {
  offset_tracker t;
  auto epoch = t.dispatched(1, 7, 5);
  CHECK(t.words_in_flight() == 0); // nothing sent yet
  t.sent(1, 7, epoch, 2);
  CHECK(t.words_in_flight() == 2);
  // Positions not sent yet cannot be confirmed (a forged or stray ack).
  CHECK(t.acked({1, 7, 3, epoch}, {0, 1, 4}) == 2);
  CHECK(t.words_in_flight() == 0);
  CHECK(*t.commit_point(1) == 7);
  t.sent(1, 7, epoch, 3);
  CHECK(t.words_in_flight() == 3);
  CHECK(t.acked({1, 7, 2, epoch}, {2, 3}) == 2);
  CHECK(*t.commit_point(1) == 7);
  CHECK(t.acked({1, 7, 1, epoch}, {4}) == 1);
  CHECK(*t.commit_point(1) == 8);
  CHECK(t.words_in_flight() == 0);
}

TEST_CASE("positions beyond the record are ignored, never allocated") {
  offset_tracker t;
  take(t, 0, 1, 3);
  CHECK(t.acked({0, 1, 2, 0}, {4294967295u, 3}) == 0);
  CHECK(t.acked({0, 1, 3, 0}, {0, 1, 2}) == 3);
  CHECK(*t.commit_point(0) == 2);
}

TEST_CASE("take_commits reports only partitions that moved") {
  offset_tracker t;
  take(t, 0, 0, 0);
  take(t, 1, 0, 1);
  auto first = t.take_commits();
  REQUIRE(first.size() == 2);
  CHECK(first[0].offset == 1);
  CHECK(first[1].offset == 0);
  CHECK(t.take_commits().empty());
  t.acked({1, 0, 1, 0}, {0});
  auto second = t.take_commits();
  REQUIRE(second.size() == 1);
  CHECK(second[0].partition == 1);
  CHECK(second[0].offset == 1);
}

TEST_CASE("forget drops a partition and its words in flight") {
  offset_tracker t;
  auto epoch = t.dispatched(4, 0, 8);
  t.sent(4, 0, epoch, 5); // 3 words not sent yet
  CHECK(t.words_in_flight() == 5);
  t.forget(4);
  CHECK(t.words_in_flight() == 0);
  CHECK_FALSE(t.commit_point(4));
  t.acked({4, 0, 5, 0}, {0, 1, 2, 3, 4}); // late: ignored
  CHECK(t.words_in_flight() == 0);
}

TEST_CASE("a partition that comes back ignores the old epoch's stragglers") {
  offset_tracker t;
  CHECK(take(t, 4, 10, 2) == 0);
  t.forget(4); // revoked before its words were confirmed
  CHECK(t.dispatched(4, 10, 2) == 1); // read again after reassignment
  t.acked({4, 10, 2, 0}, {0, 1}); // late acknowledgement of the old epoch
  t.sent(4, 10, 0, 2);            // a stray of the old epoch
  CHECK(t.words_in_flight() == 0);
  CHECK(*t.commit_point(4) == 10);
  t.sent(4, 10, 1, 2);
  CHECK(*t.commit_point(4) == 10);
  t.acked({4, 10, 2, 1}, {0, 1});
  CHECK(*t.commit_point(4) == 11);
  CHECK(t.words_in_flight() == 0);
}

TEST_CASE("a word confirmed twice counts once") {
  offset_tracker t;
  take(t, 0, 5, 3);
  CHECK(t.acked({0, 5, 2, 0}, {0, 2}) == 2);
  // Sent again after its batcher node was lost: the same positions again.
  CHECK(t.acked({0, 5, 2, 0}, {0, 2}) == 0);
  CHECK(*t.commit_point(0) == 5);
  CHECK(t.words_in_flight() == 1);
  // A word to send again is needed only while unconfirmed.
  CHECK(t.confirmed(element{"w", 0, 5, 0, 0, 2}));
  CHECK_FALSE(t.confirmed(element{"w", 0, 5, 0, 0, 1}));
  // Positions of several records share one list: this record's start at 2.
  CHECK(t.acked({0, 5, 1, 0}, {0, 0, 1}, 2) == 1);
  CHECK(*t.commit_point(0) == 6);
  CHECK(t.confirmed(element{"w", 0, 5, 0, 0, 1})); // record done
  take(t, 0, 6, 1);
  CHECK_FALSE(t.confirmed(element{"w", 0, 6, 0, 0, 0}));
  t.forget(0);
  CHECK(t.confirmed(element{"w", 0, 6, 0, 0, 0})); // read again instead
  CHECK(t.words_in_flight() == 0);
}

TEST_CASE("progress gives every partition's epoch and done offset") {
  offset_tracker t;
  take(t, 0, 3, 0);
  take(t, 0, 4, 1);
  take(t, 2, 9, 1);
  t.forget(2);
  auto p = t.progress();
  REQUIRE(p.size() == 2);
  CHECK(p[0].partition == 0);
  CHECK(p[0].epoch == 0);
  CHECK(p[0].commit_point == 4);
  CHECK(p[0].read_end == 5);
  CHECK(p[0].pending == std::vector<int64_t>{4});
  CHECK(p[0].done(0, 3));
  CHECK_FALSE(p[0].done(0, 4));
  CHECK_FALSE(p[0].done(0, 5)); // not dispatched yet when asked
  CHECK(p[1].partition == 2);
  CHECK(p[1].epoch == 1); // everything of epoch 0 is done with
  CHECK(p[1].done(0, 9));
  CHECK_FALSE(p[1].done(1, 9));
}

TEST_CASE("a record above the commit point that is done is known as done") {
  partition_progress d{0, 2, 10, 20, {10, 14}};
  CHECK(d.done(2, 9));
  CHECK_FALSE(d.done(2, 10));
  CHECK(d.done(2, 11));
  CHECK_FALSE(d.done(2, 14));
  CHECK(d.done(2, 19));
  CHECK_FALSE(d.done(2, 20));
  CHECK(d.done(1, 30));       // an older epoch is read again
  CHECK_FALSE(d.done(3, 0)); // a newer one is unknown here
}

TEST_CASE("records of more than 64 words confirm every position") {
  offset_tracker t;
  take(t, 3, 0, 130);
  std::vector<uint32_t> all(130);
  for (uint32_t i = 0; i < 130; ++i)
    all[i] = 129 - i;
  CHECK(t.acked({3, 0, 129, 0}, all) == 129);
  CHECK_FALSE(t.confirmed(element{"w", 3, 0, 0, 0, 0}));
  CHECK(t.confirmed(element{"w", 3, 0, 0, 0, 64}));
  CHECK(t.acked({3, 0, 130, 0}, all) == 1);
  CHECK(*t.commit_point(3) == 1);
}

TEST_CASE("a record dispatched before in the same epoch is known") {
  offset_tracker t;
  CHECK_FALSE(t.dispatched_before(0, 10));
  take(t, 0, 10, 1);
  take(t, 0, 11, 1);
  CHECK(t.dispatched_before(0, 10));
  CHECK(t.dispatched_before(0, 11));
  CHECK_FALSE(t.dispatched_before(0, 12));
  CHECK_FALSE(t.dispatched_before(1, 10));
  t.forget(0); // revoked: read again from the commit point when it is back
  CHECK_FALSE(t.dispatched_before(0, 10));
  // The new epoch starts above offsets it has not seen (records read before
  // a revoke came late): those below are still new.
  take(t, 0, 20, 1);
  CHECK_FALSE(t.dispatched_before(0, 15));
  take(t, 0, 15, 1);
  CHECK(t.dispatched_before(0, 15));
  CHECK(t.dispatched_before(0, 20));
  CHECK(*t.commit_point(0) == 15);
}

TEST_CASE("a record is done exactly when all its words are, in any order") {
  // Records with gaps between their offsets and up to 200 words; every
  // word confirmed once or twice, in a random order. After each
  // confirmation the commit point is the lowest offset with a word left.
  std::mt19937 rng{42};
  for (int round = 0; round < 20; ++round) {
    offset_tracker t;
    std::map<int64_t, std::set<uint32_t>> left;
    std::vector<std::pair<int64_t, uint32_t>> acks;
    int64_t offset = 0;
    for (int r = 0; r < 50; ++r) {
      offset += 1 + static_cast<int64_t>(rng() % 3);
      auto words = static_cast<uint32_t>(rng() % 200);
      take(t, 0, offset, words);
      for (uint32_t i = 0; i < words; ++i) {
        left[offset].insert(i);
        acks.emplace_back(offset, i);
        if (rng() % 4 == 0)
          acks.emplace_back(offset, i);
      }
      if (words == 0)
        left.erase(offset);
    }
    std::shuffle(acks.begin(), acks.end(), rng);
    for (auto [o, i] : acks) {
      auto fresh = t.acked({0, o, 1, 0}, {i});
      auto& l = left[o];
      CHECK(fresh == l.erase(i));
      if (l.empty())
        left.erase(o);
      auto expected = left.empty() ? offset + 1 : left.begin()->first;
      REQUIRE(*t.commit_point(0) == expected);
      REQUIRE(t.pending_records() == left.size());
    }
    CHECK(t.words_in_flight() == 0);
  }
}

TEST_CASE("an epoch started by the consumer replaces what was tracked and "
          "names the commits") {
  offset_tracker t;
  t.start(2, 7);
  CHECK(t.epoch(2) == 7);
  CHECK(take(t, 2, 40, 3) == 7);
  take(t, 2, 41, 2);
  CHECK(t.words_in_flight(2) == 5);
  CHECK(t.words_in_flight(3) == 0);
  t.acked({2, 40, 3, 7}, {0, 1, 2});
  CHECK(t.words_in_flight(2) == 2);
  auto commits = t.take_commits();
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].offset == 41);
  CHECK(commits[0].epoch == 7);
  // The log restarted: epoch 9 from offset 0; epoch 7's words are gone
  // from the window and its stragglers change nothing.
  t.start(2, 9);
  CHECK(t.words_in_flight() == 0);
  CHECK_FALSE(t.commit_point(2));
  CHECK(t.acked({2, 41, 2, 7}, {0, 1}) == 0);
  CHECK(take(t, 2, 0, 1) == 9);
  CHECK(*t.commit_point(2) == 0);
  CHECK(t.commits_of({2})[0].epoch == 9);
}
