#include "actors/pipeline/tokenizer.hpp"

#include <doctest/doctest.h>

#include "actors/pipeline/words.hpp"
#include "tests/support/fixture.hpp"

using namespace rpcbatch;

namespace {

/// A router that records the word batches it gets and answers end of
/// window requests in order with their number.
struct recording_router {
  std::shared_ptr<std::vector<word_batch>> routed
    = std::make_shared<std::vector<word_batch>>();
  std::shared_ptr<std::vector<std::string>> trace
    = std::make_shared<std::vector<std::string>>();

  router_actor spawn(caf::actor_system& sys) {
    return sys.spawn([routed = routed,
                      trace = trace]() -> router_actor::behavior_type {
      return {
        [routed, trace](word_batch& b) {
          trace->push_back("words");
          routed->push_back(std::move(b));
        },
        [](std::vector<batcher_actor>&) {},
        [](handover_atom, std::vector<batcher_actor>&) {},
        [](lost_atom, caf::node_id&, std::vector<batcher_actor>&) {},
        [](std::vector<partition_progress>&) {},
        [](source_actor&) {},
        [trace](end_of_window_atom) {
          trace->push_back("eow");
          return uint64_t{7};
        },
        [](cancel_atom, std::vector<partition_epoch>&) {
          return uint64_t{0};
        },
        [](status_atom) { return actor_status{}; },
      };
    });
  }
};

/// The record with its words measured, as the source hands it on.
input_record measured(input_record rec) {
  rec.words = measure_words(rec.value);
  return rec;
}

std::vector<std::string> words_of(const word_batch& b) {
  std::vector<std::string> out;
  for (auto& e : b.elements)
    out.push_back(e.word);
  return out;
}

using words = std::vector<std::string>;

} // namespace

TEST_CASE_FIXTURE(test::deterministic,
                  "tokenizer actor routes the words of records and pieces") {
  recording_router r;
  auto aut = sys.spawn(tokenizer, r.spawn(sys));
  record_batch batch;
  batch.records.push_back(measured(input_record{0, 10, 111, "one two", false}));
  batch.records.push_back(
    measured(input_record{2, 5, 113, "\x01\x02 42", false}));
  // The second piece of a record: its words are numbered from 4.
  batch.records.push_back(
    measured(input_record{2, 6, 114, " three four", false, 0, 4}));
  caf::anon_send(aut, batch);
  run();
  REQUIRE(r.routed->size() == 1);
  auto& els = r.routed->at(0).elements;
  REQUIRE(els.size() == 4);
  CHECK(els[0].word == "one");
  CHECK(els[0].timestamp == 111);
  // Positions in the record, for acknowledging each word once.
  CHECK(els[0].index == 0);
  CHECK(els[1].index == 1);
  CHECK(els[2].word == "three");
  CHECK(els[2].offset == 6);
  CHECK(els[2].timestamp == 114);
  CHECK(els[2].index == 4);
  CHECK(els[3].index == 5);
}

TEST_CASE_FIXTURE(test::deterministic,
                  "tokenizer passes an end of window on after the words") {
  recording_router r;
  auto aut = sys.spawn(tokenizer, r.spawn(sys));
  caf::anon_send(aut, record_batch{{input_record{0, 1, 0, "a b", false}}});
  // The router answers the one who asked, through the tokenizer.
  CHECK(ask<uint64_t>(aut, end_of_window_atom::value) == 7);
  caf::anon_send(aut, record_batch{{input_record{0, 2, 0, "c", false}}});
  run();
  CHECK(*r.trace == std::vector<std::string>{"words", "eow", "words"});
}

TEST_CASE_FIXTURE(test::deterministic,
                  "tokenizer: a piece with its measured words gives exactly "
                  "those words") {
  recording_router r;
  auto aut = sys.spawn(tokenizer, r.spawn(sys));
  // Words 2 to 4 of a record, cut as the source cuts a piece: from the end
  // of word 1 to the end of word 4, with their measured words.
  std::string text = "  one, two-three 'four' 5 five  ";
  auto all = measure_words(text);
  REQUIRE(all.size() == 5);
  auto from = all[1].end();
  input_record piece{1, 42, 7, text.substr(from, all[4].end() - from), false,
                     3, 2, 99};
  for (std::size_t i = 2; i < 5; ++i)
    piece.words.push_back(
      word_span{static_cast<uint32_t>(all[i].at - from), all[i].size});
  REQUIRE(piece.value == "-three 'four' 5 five");
  // A record whose measured words are some of its words: the tokenizer
  // takes those, it does not look for others.
  input_record some{1, 43, 8, "alpha beta gamma", false, 3, 0, 100};
  some.words = {word_span{6, 4}};
  caf::anon_send(aut, record_batch{{piece, some}});
  run();
  REQUIRE(r.routed->size() == 1);
  auto& els = r.routed->at(0).elements;
  CHECK(words_of(r.routed->at(0)) == words{"three", "'four'", "five", "beta"});
  REQUIRE(els.size() == piece.words.size() + some.words.size());
  for (std::size_t i = 0; i < 3; ++i) {
    CAPTURE(i);
    CHECK(els[i].partition == 1);
    CHECK(els[i].offset == 42);
    CHECK(els[i].timestamp == 7);
    CHECK(els[i].epoch == 3);
    CHECK(els[i].index == 2 + i);
    CHECK(els[i].seq == 99);
  }
  CHECK(els[3].offset == 43);
  CHECK(els[3].index == 0);
  auto st = test::status_as<tokenizer_status>(
    ask<actor_status>(aut, status_atom::value));
  CHECK(st.pieces == 2);
  CHECK(st.words == 4);
  CHECK(st.longest_word == 6);
}

TEST_CASE("tokenizer: a record without measured words, or with words that "
          "do not fit it, is scanned") {
  tokenizer_state t;
  input_record unmeasured{0, 1, 0, "one two", false};
  input_record misfit{0, 2, 0, "three four", false};
  misfit.words = {word_span{0, 5}, word_span{6, 40}};
  input_record out_of_order{0, 3, 0, "five six", false};
  out_of_order.words = {word_span{5, 3}, word_span{0, 4}};
  auto out = t.split(record_batch{{unmeasured, misfit, out_of_order}});
  CHECK(words_of(out)
        == words{"one", "two", "three", "four", "five", "six"});
  CHECK(t.words == 6);
}
