// The source actor on the deterministic scheduler, with a fake consumer and
// mock tokenizer, router and node: the credit window, records in pieces,
// the poll thread's go-ahead, end of window and drain.
#include "actors/pipeline/source.hpp"

#include "services/adapters/kafka_consumer.hpp"

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

#include "actors/pipeline/formats.hpp"
#include "actors/pipeline/tokenizer.hpp"
#include "actors/pipeline/words.hpp"
#include "tests/support/fixture.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

/// Records what the source asks of the consumer; its assignment is what
/// the test says.
struct fake_consumer : source_consumer {
  int taken = 0;
  bool fetching = true;
  std::vector<std::vector<partition_offset>> commits_done;
  std::vector<std::vector<partition_epoch>> revokes_released;
  std::vector<std::vector<partition_offset>> releases;
  std::vector<consumer_partition> assigned{{0, 0}, {1, 0}};
  bool operator_paused = false;

  void batch_taken() override {
    ++taken;
  }
  void commit(std::vector<partition_offset> offsets) override {
    commits_done.push_back(std::move(offsets));
  }
  void release(std::vector<partition_epoch> revoked,
               std::vector<partition_offset> offsets) override {
    revokes_released.push_back(std::move(revoked));
    releases.push_back(std::move(offsets));
  }
  void stop_for_drain() override {
    fetching = false;
  }
  std::vector<consumer_partition> assignment() const override {
    return assigned;
  }
  uint64_t commits() const override {
    return commits_done.size();
  }
  uint64_t commit_failures() const override {
    return 0;
  }
  void pause_for_operator(bool paused) override {
    operator_paused = paused;
  }
  bool paused_by_operator() const override {
    return operator_paused;
  }
  int64_t lag() const override {
    return 42;
  }
  bool paused_for_credit() const override {
    return false;
  }
  uint64_t offsets_out_of_range() const override {
    return 0;
  }
  uint64_t log_restarts() const override {
    return 0;
  }
};

/// What the mock tokenizer got, in order: pieces and end-of-window marks;
/// the cancels it got and how many words it answers each dropped.
struct tokenizer_log {
  std::vector<input_record> pieces;
  std::vector<std::string> trace;
  std::vector<std::vector<partition_epoch>> cancels;
  uint64_t dropped = 0;

  /// Words of every piece so far, with their positions, as the real
  /// tokenizer would number them.
  std::vector<element> words() const {
    tokenizer_state t;
    return t.split(record_batch{pieces}).elements;
  }
};

struct source_fixture : test::deterministic {
  std::shared_ptr<fake_consumer> consumer = std::make_shared<fake_consumer>();
  std::shared_ptr<tokenizer_log> log = std::make_shared<tokenizer_log>();
  std::shared_ptr<int> input_ends = std::make_shared<int>(0);
  source_actor aut;

  explicit source_fixture(int64_t window = 10, bool replay = false) {
    auto tlog = log;
    auto tok = sys.spawn([tlog]() -> tokenizer_actor::behavior_type {
      return {
        [tlog](record_batch& b) {
          for (auto& r : b.records) {
            tlog->pieces.push_back(r);
            tlog->trace.push_back("piece");
          }
        },
        [tlog](end_of_window_atom) {
          tlog->trace.push_back("eow");
          return uint64_t{0};
        },
        [tlog](cancel_atom, std::vector<partition_epoch>& xs) {
          tlog->cancels.push_back(xs);
          return tlog->dropped;
        },
        [](status_atom) { return actor_status{}; },
      };
    });
    auto rtr = test::spawn_idle_router(sys);
    auto ends = input_ends;
    auto nd = sys.spawn([ends]() -> node_actor::behavior_type {
      return {
        [](status_atom) { return actor_status{}; },
        [ends](input_end_atom) { ++*ends; },
        [](drain_atom) {},
        [](fatal_atom, std::string&) {},
        [](tick_atom) {},
        [](actors_atom) { return actor_list{}; },
      };
    });
    source_config cfg;
    cfg.max_inflight_words = window;
    cfg.commit_interval = 1s;
    cfg.replay_dead_letters = replay;
    cfg.stuck_after = 5s;
    aut = sys.spawn(source, cfg, consumer, tok, rtr, nd);
    caf::anon_send(aut, assigned_atom::value,
                   partition_offsets{{{0, -1}, {1, -1}}});
    run();
  }

  ~source_fixture() {
    caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
  }

  void records(std::vector<input_record> recs) {
    caf::anon_send(aut, record_batch{std::move(recs)});
    run();
  }

  /// Confirms the outputs of `words` as the sink would.
  void confirm(const std::vector<element>& words) {
    delivery_ack ack;
    for (auto& e : words) {
      ack.records.push_back(record_word_count{e.partition, e.offset, 1, e.epoch});
      ack.positions.push_back(e.index);
    }
    caf::anon_send(aut, std::move(ack));
    run();
  }

  source_status status() {
    return test::status_as<source_status>(
      ask<actor_status>(aut, status_atom::value));
  }

  void assign(std::vector<partition_offset> parts) {
    caf::anon_send(aut, assigned_atom::value, partition_offsets{parts});
    run();
  }

  void revoke(std::vector<partition_offset> parts) {
    caf::anon_send(aut, revoked_atom::value, partition_offsets{parts});
    run();
  }

  /// The committed offsets after the next commit tick.
  std::vector<partition_offset> next_commit() {
    auto before = consumer->commits_done.size();
    advance(1s);
    if (consumer->commits_done.size() == before)
      return {};
    return consumer->commits_done.back();
  }
};

input_record rec(int32_t partition, int64_t offset, std::string value,
                 uint32_t epoch = 0) {
  return input_record{partition, offset, 0, std::move(value), false, epoch};
}

/// Whether a piece came with its words: where the words of its value are.
bool measured(const input_record& piece) {
  auto spans = measure_words(piece.value);
  if (spans.size() != piece.words.size())
    return false;
  for (std::size_t i = 0; i < spans.size(); ++i)
    if (spans[i].at != piece.words[i].at
        || spans[i].size != piece.words[i].size)
      return false;
  return true;
}

std::string words_text(std::size_t n, const std::string& word = "w") {
  std::string out;
  for (std::size_t i = 0; i < n; ++i)
    out += word + " ";
  return out;
}

} // namespace

TEST_SUITE("source") {

TEST_CASE_FIXTURE(source_fixture,
                  "source: words enter while the window has room and the "
                  "poll thread reads on once a batch went in") {
  // Window 10: the first two records (4 + 5 words) go in, the third (4)
  // waits for credit (1 word of room is less than a quarter of the window,
  // the smallest piece), and so does the go-ahead for the batch.
  records({rec(0, 0, words_text(4)), rec(0, 1, words_text(5)),
           rec(1, 0, words_text(4))});
  REQUIRE(log->pieces.size() == 2);
  // Whole records, with the words the source measured.
  CHECK(log->pieces[1].value == words_text(5));
  CHECK(measured(log->pieces[0]));
  CHECK(measured(log->pieces[1]));
  CHECK(consumer->taken == 0);
  // A record without words is done at once and takes no credit; its batch
  // is taken at once.
  records({rec(1, 1, "1234 !!")});
  CHECK(consumer->taken == 1);
  CHECK(log->pieces.size() == 2);
  // Confirming 3 words makes room for the whole third record (6 in flight,
  // 4 more: 10).
  auto words = log->words();
  confirm({words[0], words[1], words[2]});
  REQUIRE(log->pieces.size() == 3);
  CHECK(log->pieces[2].offset == 0);
  CHECK(log->pieces[2].partition == 1);
  CHECK(consumer->taken == 2);
  // Nothing is committed before its words are confirmed; partition 0 moves
  // once record 0's last words are.
  auto first = next_commit();
  for (auto& c : first)
    CHECK(c.offset == 0);
  confirm({words[3]});
  auto second = next_commit();
  REQUIRE(second.size() == 1);
  CHECK(second[0].partition == 0);
  CHECK(second[0].offset == 1);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: a record larger than the window enters in pieces "
                  "and is done with its last piece") {
  // 25 words, window 10: pieces of 10, 10 and 5 words, each once the
  // window is free again; the positions run on across the pieces.
  records({rec(0, 7, words_text(25, "ab"))});
  REQUIRE(log->pieces.size() == 1);
  CHECK(log->pieces[0].first_index == 0);
  CHECK(count_words(log->pieces[0].value) == 10);
  CHECK(consumer->taken == 0);
  // Half the credit back: 5 more words go in (a piece may be as small as a
  // quarter of the window).
  auto words = log->words();
  confirm({words.begin(), words.begin() + 5});
  REQUIRE(log->pieces.size() == 2);
  CHECK(log->pieces[1].first_index == 10);
  CHECK(count_words(log->pieces[1].value) == 5);
  words = log->words();
  REQUIRE(words.size() == 15);
  confirm({words.begin() + 5, words.end()});
  REQUIRE(log->pieces.size() == 3);
  CHECK(log->pieces[2].first_index == 15);
  CHECK(count_words(log->pieces[2].value) == 10);
  // The poll thread's go-ahead comes once the whole record went in; the
  // record is done only with its last piece's words.
  CHECK(consumer->taken == 1);
  auto pending = next_commit();
  REQUIRE(pending.size() == 1);
  CHECK(pending[0].offset == 7);
  words = log->words();
  REQUIRE(words.size() == 25);
  confirm({words.begin() + 15, words.end() - 1});
  CHECK(next_commit().empty()); // one word short
  confirm({words.back()});
  REQUIRE(log->pieces.size() == 3);
  // The pieces hold exactly the record's words, in order, and each comes
  // with its words where they are in it.
  std::string all;
  for (auto& p : log->pieces) {
    all += p.value;
    CHECK(measured(p));
  }
  CHECK(count_words(all) == 25);
  CHECK(all == words_text(25, "ab"));
  for (std::size_t i = 0; i < words.size(); ++i)
    CHECK(words[i].index == i);
  auto commit = next_commit();
  REQUIRE(commit.size() == 1);
  CHECK(commit[0].offset == 8);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: no piece smaller than a quarter of the window") {
  // Window 10: pieces of at least 2 words (unless all of a record fits).
  records({rec(0, 0, words_text(9)), rec(0, 1, words_text(30))});
  // 9 in flight, 1 word of room: the big record waits.
  CHECK(log->pieces.size() == 1);
  auto words = log->words();
  confirm({words[0]});
  REQUIRE(log->pieces.size() == 2); // 2 words of room: a piece of 2
  CHECK(count_words(log->pieces[1].value) == 2);
  CHECK(log->pieces[1].first_index == 0);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: the end of window of a drain follows every held "
                  "word") {
  records({rec(0, 0, words_text(9)), rec(0, 1, words_text(9))});
  CHECK(log->trace == std::vector<std::string>{"piece"});
  bool answered = false;
  bool complete = false;
  sys.spawn([&](caf::event_based_actor* self) {
    self->request(aut, caf::infinite, drain_atom::value)
      .then([&](bool done, partition_offsets&) {
        answered = true;
        complete = done;
      });
  });
  run();
  CHECK_FALSE(consumer->fetching);
  // The held record is still sent (it was taken), then the end of window.
  auto words = log->words();
  confirm(words);
  CHECK(log->trace == std::vector<std::string>{"piece", "piece", "eow"});
  CHECK_FALSE(answered);
  confirm(log->words());
  CHECK(answered);
  CHECK(complete);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: a spent window with nothing confirmed for a tick "
                  "flushes every bucket, once until words are confirmed") {
  // Window 10: 9 words go in, the second record waits. The words in
  // flight could be waiting in bags that no word will fill.
  records({rec(0, 0, words_text(9)), rec(0, 1, words_text(9))});
  CHECK(log->trace == std::vector<std::string>{"piece"});
  advance(1s);
  CHECK(log->trace == std::vector<std::string>{"piece", "eow"});
  CHECK(status().stall_flushes == 1);
  advance(1s);
  advance(1s);
  CHECK(status().stall_flushes == 1); // once per stall
  // Confirmations: 6 more words go in, 3 still wait. A tick with
  // confirmations flushes nothing; the next one without does.
  auto words = log->words();
  confirm({words.begin(), words.begin() + 5});
  CHECK(log->trace
        == std::vector<std::string>{"piece", "eow", "piece"});
  advance(1s);
  CHECK(status().stall_flushes == 1);
  advance(1s);
  CHECK(log->trace
        == std::vector<std::string>{"piece", "eow", "piece", "eow"});
  CHECK(status().stall_flushes == 2);
  // A window with room never flushes: the words are batched as usual.
  confirm(log->words());
  advance(1s);
  advance(1s);
  CHECK(status().stall_flushes == 2);
  CHECK_FALSE(status().waiting_for_credit);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: a partition whose commit point and words stop "
                  "moving while records wait is reported stuck, and no "
                  "longer once it moves") {
  records({rec(0, 0, words_text(2)), rec(1, 0, words_text(1))});
  auto words = log->words();
  confirm({words[2]}); // partition 1 is done, partition 0 waits
  auto status = [&] {
    return test::status_as<source_status>(
      ask<actor_status>(aut, status_atom::value));
  };
  for (int i = 0; i < 4; ++i)
    advance(1s);
  // A word of the record is confirmed: no commit yet, but progress.
  confirm({words[0]});
  for (int i = 0; i < 5; ++i)
    advance(1s);
  CHECK(status().stuck_partitions.empty()); // just 4 s
  advance(1s);
  auto st = status();
  CHECK(st.stuck_partitions == std::vector<int32_t>{0});
  confirm({words[1]});
  advance(1s);
  CHECK(status().stuck_partitions.empty());
  CHECK(status().stuck_reports == 1);
}

struct replay_fixture : source_fixture {
  replay_fixture() : source_fixture(10, true) {
    // nop
  }
};

TEST_CASE_FIXTURE(replay_fixture,
                  "source: a replay feeds each dead letter's word through "
                  "the pipeline and skips what cannot be replayed") {
  element e{"don't", 2, 41, 1700000000000, 0, 3};
  auto letter = dead_letter_json(e, "input-topic", "INVALID_ARGUMENT: no");
  element cut{std::string(2000, 'x'), 2, 42, 0, 0, 0};
  records({rec(0, 0, letter), rec(0, 1, "not a dead letter"),
           rec(0, 2, dead_letter_json(cut, "input-topic", "too large")),
           rec(0, 3, letter)});
  REQUIRE(log->pieces.size() == 2);
  CHECK(log->pieces[0].value == "don't");
  // Measured as the word it replays, not as the dead letter.
  CHECK(measured(log->pieces[0]));
  CHECK(log->pieces[0].offset == 0);
  CHECK(log->pieces[1].offset == 3);
  // The skipped ones are done at once: the commit waits only for the two
  // words.
  confirm({log->words()[0]});
  auto commit = next_commit();
  REQUIRE(commit.size() == 1);
  CHECK(commit[0].offset == 3);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: records of an epoch that is over are skipped, and "
                  "an assignment in a new epoch ends the old one without a "
                  "commit") {
  records({rec(0, 0, words_text(3))});
  auto old_words = log->words();
  // The consumer assigns partition 0 again (its log restarted, or a revoke
  // it gave up on): epoch 5 starts, the words of epoch 0 are cancelled.
  assign({{0, -1, 5}});
  REQUIRE(log->cancels.size() == 1);
  CHECK(log->cancels[0].size() == 1);
  CHECK(log->cancels[0][0].partition == 0);
  CHECK(log->cancels[0][0].epoch == 0);
  CHECK(status().epochs_superseded == 1);
  CHECK(status().epochs.at(0) == 5);
  // Late confirmations of epoch 0 move nothing; its records are skipped.
  confirm(old_words);
  records({rec(0, 1, words_text(2))});
  CHECK(log->pieces.size() == 1);
  CHECK(status().records_of_revoked_partitions == 1);
  consumer->assigned = {{0, 5}, {1, 0}};
  auto commits = next_commit();
  for (auto& c : commits)
    CHECK(c.partition != 0);
  // Records of epoch 5 go on, and its commits name it.
  records({rec(0, 0, words_text(2), 5)});
  REQUIRE(log->pieces.size() == 2);
  CHECK(log->pieces[1].epoch == 5);
  auto words = log->words();
  confirm({words[3], words[4]});
  commits = next_commit();
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].partition == 0);
  CHECK(commits[0].offset == 1);
  CHECK(commits[0].epoch == 5);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: a revoke cancels the waiting words, waits for "
                  "those in flight and releases with what is done") {
  records({rec(0, 0, words_text(3)), rec(0, 1, words_text(3)),
           rec(1, 0, words_text(2))});
  REQUIRE(log->pieces.size() == 3);
  // 2 of partition 0's 6 words waited in bags: dropped.
  log->dropped = 2;
  revoke({{0, -1, 0}});
  REQUIRE(log->cancels.size() == 1);
  CHECK(log->cancels[0][0].partition == 0);
  CHECK(consumer->releases.empty());
  CHECK(status().revoking == 1);
  // Record 0 and one word of record 1 confirmed: the 2 words left are the
  // dropped ones.
  auto words = log->words();
  confirm({words[0], words[1], words[2]});
  CHECK(consumer->releases.empty());
  confirm({words[3]});
  REQUIRE(consumer->releases.size() == 1);
  REQUIRE(consumer->revokes_released[0].size() == 1);
  CHECK(consumer->revokes_released[0][0].partition == 0);
  REQUIRE(consumer->releases[0].size() == 1);
  CHECK(consumer->releases[0][0].offset == 1);
  auto st = status();
  CHECK(st.assigned == std::vector<int32_t>{1});
  CHECK(st.revoking == 0);
  CHECK(st.revokes_given_up == 0);
  CHECK(st.words_cancelled == 2);
  // The other partition goes on.
  confirm({words[6], words[7]});
  consumer->assigned = {{1, 0}};
  auto commits = next_commit();
  REQUIRE(commits.size() == 1);
  CHECK(commits[0].partition == 1);
  CHECK(commits[0].offset == 1);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: a revoke waits at most the revoke timeout, then "
                  "commits what is done") {
  records({rec(0, 0, words_text(2)), rec(0, 1, words_text(2))});
  revoke({{0, -1, 0}});
  auto words = log->words();
  confirm({words[0], words[1]});
  // The default bound: 3 s.
  advance(2s);
  CHECK(consumer->releases.empty());
  advance(1s);
  REQUIRE(consumer->releases.size() == 1);
  REQUIRE(consumer->releases[0].size() == 1);
  CHECK(consumer->releases[0][0].offset == 1);
  auto st = status();
  CHECK(st.revokes_given_up == 1);
  CHECK(st.longest_revoke_ms == 3000);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: a revoke of an epoch that is over is ignored, and "
                  "a partition assigned again ends the revoke that waited "
                  "for it") {
  records({rec(1, 0, words_text(2))});
  revoke({{0, -1, 7}});
  CHECK(log->cancels.empty());
  CHECK(status().revokes == 0);
  // Answered at once, so that a poll thread still waiting goes on.
  REQUIRE(consumer->revokes_released.size() == 1);
  CHECK(consumer->revokes_released[0][0].epoch == 7);
  CHECK(consumer->releases[0].empty());
  consumer->releases.clear();
  // Partition 1's revoke waits for its words; the consumer gives up on it
  // and assigns the partition again in epoch 3.
  revoke({{1, -1, 0}});
  CHECK(status().revoking == 1);
  assign({{1, -1, 3}});
  advance(3s);
  CHECK(consumer->releases.empty());
  auto st = status();
  CHECK(st.revoking == 0);
  CHECK(st.epochs.at(1) == 3);
  CHECK(st.assigned == std::vector<int32_t>{0, 1});
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: a difference from the consumer's assignment that "
                  "lasts a tick is repaired") {
  consumer->assigned = {{0, 0}, {2, 4}};
  advance(1s);
  auto st = status();
  CHECK(st.unmatched_partitions == std::vector<int32_t>{2, 1});
  CHECK(st.assignment_repairs == 0);
  advance(1s);
  st = status();
  CHECK(st.unmatched_partitions.empty());
  CHECK(st.assignment_repairs == 2);
  CHECK(st.assigned == std::vector<int32_t>{0, 2});
  CHECK(st.epochs.at(2) == 4);
  REQUIRE(log->cancels.size() == 1);
  CHECK(log->cancels[0][0].partition == 1);
  // A record of the repaired partition goes in.
  records({rec(2, 9, words_text(1), 4)});
  CHECK(log->pieces.size() == 1);
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: an assigned partition that is not read while it "
                  "has records is reported stuck") {
  consumer->assigned = {{0, 0, 100, 6s}, {1, 0, 0, 0s}};
  advance(1s);
  auto st = status();
  CHECK(st.stuck_partitions == std::vector<int32_t>{0});
  CHECK(st.stuck_reports == 1);
  advance(1s);
  CHECK(status().stuck_reports == 1); // reported once
  consumer->assigned = {{0, 0, 100, 0s}, {1, 0, 0, 0s}};
  advance(1s);
  CHECK(status().stuck_partitions.empty());
}

TEST_CASE_FIXTURE(source_fixture,
                  "source: an operator's pause and resume go through the "
                  "source, whose status shows them with the consumer's lag") {
  CHECK(ask<bool>(aut, pause_atom::value, true));
  CHECK(consumer->operator_paused);
  auto st = status();
  CHECK(st.operator_paused);
  CHECK(st.consumer_lag == 42);
  CHECK_FALSE(ask<bool>(aut, pause_atom::value, false));
  CHECK_FALSE(consumer->operator_paused);
  CHECK_FALSE(status().operator_paused);
}

} // TEST_SUITE
