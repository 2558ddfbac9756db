// rpcbatch-node under faults, measured from outside (tests/support/faults.hpp):
// killed twice under a backlog, and a second member joining and leaving
// under a backlog. Every input word is unique, so that the outputs are
// checked word by word: none missing, nothing foreign, every input offset
// committed at the end, and no committed offset ever moving back. The
// scenarios are the fault bench's (rpcbatch-bench-faults), smaller. First,
// the watchers' arithmetic.
#include "tests/support/faults.hpp"

#include <csignal>
#include <set>

#include <doctest/doctest.h>

#include "actors/pipeline/words.hpp"

using namespace std::chrono_literals;
using namespace rpcbatch::test;
using namespace rpcbatch::test::faults;

TEST_CASE("faults: unique words are letters only and map back to their "
          "number and input partition") {
  std::set<std::string> seen;
  for (uint64_t n : {0ull, 1ull, 51ull, 52ull, 53ull, 2703ull, 2704ull,
                     222000ull, 140608ull * 52, ~0ull}) {
    auto w = word_of(n);
    INFO(n, " -> ", w);
    CHECK(number_of(w) == n);
    CHECK(seen.insert(w).second);
    std::size_t words = 0;
    rpcbatch::for_each_word(w, [&](std::string_view x) {
      ++words;
      CHECK(x == w);
    });
    CHECK(words == 1);
  }
  CHECK_FALSE(number_of(""));
  CHECK_FALSE(number_of("don't"));
  CHECK_FALSE(number_of("BA")); // 1 is "B": a last 'A' is never written
  unique_input in{100, 30, 3};
  auto records = in.records();
  REQUIRE(records.size() == 4);
  CHECK(in.record_count() == 4);
  CHECK(count_words(records) == 100);
  CHECK(*records[3] == word_of(90) + " " + word_of(91) + " " + word_of(92)
                         + " " + word_of(93) + " " + word_of(94) + " "
                         + word_of(95) + " " + word_of(96) + " "
                         + word_of(97) + " " + word_of(98) + " "
                         + word_of(99));
  CHECK(in.partition_of(0) == 0);
  CHECK(in.partition_of(29) == 0);
  CHECK(in.partition_of(30) == 1);
  CHECK(in.partition_of(95) == 0); // record 3
}

TEST_CASE("faults: revokes are timed from the node's log, in the current "
          "and in a future wording") {
  auto at = [](int64_t ms, std::string text) { return log_line{ms, text}; };
  // "revoking" until the next "assigned"; one left open lasts to the end.
  auto now = parse_revokes(
    {at(1000, "INFO kafka-consumer: assigned 12 partition(s) of input-topic"),
     at(5000, "INFO kafka-consumer: revoking 12 partition(s)"),
     at(6000, "WARN source: something else"),
     at(42000, "INFO kafka-consumer: assigned 6 partition(s) of input-topic"),
     at(50000, "INFO kafka-consumer: revoking 6 partition(s)"),
     at(53500, "INFO node: drained")});
  CHECK(now.count == 2);
  CHECK(now.seconds == std::vector<double>{37, 3.5});
  CHECK(now.longest_s == 37);
  // A line that says how long the revoke took wins over the clock.
  auto later = parse_revokes(
    {at(0, "INFO kafka-consumer: revoking 3 partition(s)"),
     at(900, "INFO kafka-consumer: released 3 partition(s) after 812 ms"),
     at(1000, "INFO kafka-consumer: assigned 9 more partition(s)"),
     at(2000, "INFO kafka-consumer: revoking 2 partition(s)"),
     at(2500, "INFO kafka-consumer: assigned 0 partition(s)"),
     at(9000, "INFO kafka-consumer: released 2 partition(s) (1 record "
              "uncommitted) after 1.5 s")});
  CHECK(later.count == 2);
  CHECK(later.seconds == std::vector<double>{0.812, 1.5});
  // The node's time stamps, when a line has one; else when it came.
  auto day = int64_t{24 * 3600 * 1000};
  auto noon = 20000 * day + 12 * 3600 * 1000;
  CHECK(line_time("12:00:01.250 INFO x: y", noon + 2000) == noon + 1250);
  CHECK(line_time("no stamp", noon + 2000) == noon + 2000);
  CHECK(line_time("23:59:59.900 INFO x: y", 20001 * day + 100)
        == 20001 * day - 100);
}

TEST_CASE("faults: the longest partition gap ends at a partition's last new "
          "word") {
  unique_input in{4, 1, 2}; // words 0 and 2 in partition 0, 1 and 3 in 1
  std::vector<output_stamp> outs{{1000, 0}, {1500, 1}, {4000, 2},
                                 {4200, 3}, {30000, 0}, {31000, 1}};
  auto gap = longest_partition_gap(outs, in, 0);
  // Partition 0: 1000 -> 4000 is the longest; the duplicates at 30 s come
  // after both partitions were done.
  CHECK(gap.partition == 0);
  CHECK(gap.longest_s == doctest::Approx(3));
  CHECK(gap.at_s == doctest::Approx(1));
  // From the start of the run to the first output counts too.
  CHECK(longest_partition_gap(outs, in, -9000).longest_s
        == doctest::Approx(10.5));
}

TEST_CASE("faults: commit history: moves back, standstills and the first "
          "commit") {
  commit_history h{{{0, 100}, {1, 50}}, 0};
  h.add(200, {{0, -1}, {1, -1}});
  h.add(9000, {{0, 40}, {1, -1}});
  CHECK(h.first_commit_ms() == 9000);
  h.add(9200, {{0, 40}, {1, 10}});
  h.add(12000, {{0, 30}, {1, 10}});
  CHECK(h.backwards().size() == 1);
  CHECK(h.backwards().front() == "[0] 40 -> 30 after 12.0 s");
  h.add(13000, {{0, 100}, {1, 50}});
  CHECK(h.all_committed());
  // Nothing counts once everything is committed.
  h.add(60000, {{0, 100}, {1, 50}});
  h.close(90000);
  CHECK(h.longest_standstill_s() == 9);
}

namespace {

/// What every fault scenario must keep: no word missing or foreign, every
/// input offset committed, no commit moving back.
void check_nothing_lost(const result& r) {
  REQUIRE(r.failure.empty());
  CHECK(r.missing == 0);
  CHECK(r.foreign == 0);
  CHECK(r.all_committed);
  CHECK(r.commits_backwards.empty());
}

} // namespace

TEST_CASE("faults: kill -9 twice under a backlog with the resolver at 20 ms "
          "loses no word and never moves a commit back") {
  setup s;
  s.input = unique_input{30000, 30, 6};
  s.output_partitions = 12;
  s.latency_ms = 20;
  s.timeout = 150s;
  auto r = kill_twice(s);
  INFO(describe(r));
  INFO(r.logs);
  check_nothing_lost(r);
  CHECK(r.exit_codes == std::vector<int>{128 + 9, 128 + 9, 0});
  MESSAGE(describe(r));
}

TEST_CASE("faults: a second member joining and leaving under a backlog with "
          "the resolver at 50 ms loses no word and never moves a commit "
          "back") {
  setup s;
  s.input = unique_input{20000, 30, 6};
  s.output_partitions = 12;
  s.latency_ms = 50;
  s.timeout = 150s;
  auto r = join_leave(s);
  INFO(describe(r));
  INFO(r.logs);
  check_nothing_lost(r);
  CHECK(r.revokes.count > 0);
  MESSAGE(describe(r));
}

namespace {

/// `count` records of `per_record` unique words numbered from `first`.
std::vector<kafka_value> numbered_records(uint64_t first, std::size_t count,
                                          std::size_t per_record) {
  std::vector<kafka_value> out;
  for (std::size_t r = 0; r < count; ++r) {
    std::string text;
    for (std::size_t i = 0; i < per_record; ++i)
      text += word_of(first + r * per_record + i) + " ";
    out.push_back(text);
  }
  return out;
}

std::vector<kafka_value> joined(std::vector<kafka_value> xs,
                                const std::vector<kafka_value>& ys) {
  xs.insert(xs.end(), ys.begin(), ys.end());
  return xs;
}

} // namespace

TEST_CASE("faults: an input topic recreated under a running node: every "
          "record of the new log is processed, those written before the "
          "node noticed too") {
  environment env;
  // The node's own offset reset (latest): a group without commits starts
  // at the end.
  child_process node{env.node_command({"--stats-secs=0"})};
  INFO("node stderr: ", tail(node.err()));
  REQUIRE(node.wait_for_stderr("assigned 3 partition(s)", 30s));
  auto before = numbered_records(0, 60, 20);
  env.produce(before);
  REQUIRE(wait_until([&] { return env.committed() == env.ends(); }, 60s,
                     100ms));
  // The cluster restarts empty at the same address (the topics deleted and
  // created again), and records arrive at once, more of them than the node
  // had read of each partition: its old positions lie inside the new logs.
  env.broker().restart();
  auto early = numbered_records(10000, 150, 20);
  env.produce(early);
  auto late = numbered_records(20000, 60, 20);
  auto expected = expected_outputs(early);
  auto has = [&](const record_multiset& want) {
    auto got = key_values(env.read(output_topic));
    return compare(want, got).missing == 0;
  };
  CHECK(wait_until([&] { return has(expected); }, 60s, 200ms));
  // Records written after the node noticed go on as usual.
  env.produce(late);
  expected = expected_outputs(joined(early, late));
  CHECK(wait_until([&] { return has(expected); }, 60s, 200ms));
  auto diff = compare(expected, key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.missing == 0, diff.describe());
  CHECK(wait_until([&] { return env.committed() == env.ends(); }, 30s,
                   100ms));
  // Loudly: the restart is in the log.
  CHECK(node.err().find("the log restarted") != std::string::npos);
  REQUIRE(node.signal(SIGTERM));
  CHECK(node.wait(60s) == 0);
  MESSAGE(diff.extra, " duplicate output(s) of the new log");
}
