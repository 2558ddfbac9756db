#include "actors/pipeline/tokenizer.hpp"

#include <doctest/doctest.h>

#include "tests/support/fixture.hpp"

using namespace rpcbatch;

namespace {

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> out;
  for_each_word(text, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}

using words = std::vector<std::string>;

} // namespace

TEST_CASE("tokenizer matches the seed's [A-Za-z']+ runs") {
  struct row {
    std::string text;
    words expected;
  };
  std::vector<row> rows{
    {"Beautiful is better than ugly.", {"Beautiful", "is", "better", "than",
                                        "ugly"}},
    {"don't stop 'til it's done'", {"don't", "stop", "'til", "it's",
                                     "done'"}},
    {"abc123def 4ever", {"abc", "def", "ever"}},
    {"hello,world;foo-bar_baz", {"hello", "world", "foo", "bar", "baz"}},
    {"  \t\n", {}},
    {"", {}},
    {"''", {"''"}},
    {"h\xc3\xa9llo w\xc3\xb6rld", {"h", "llo", "w", "rld"}},
    {"\xff\xfe" "abc\x80\x81" "def\xc0", {"abc", "def"}},
    {std::string("a\0b", 3), {"a", "b"}},
    {"\xe6\x97\xa5\xe6\x9c\xac", {}},
  };
  for (auto& r : rows) {
    CAPTURE(r.text);
    CHECK(words_of(r.text) == r.expected);
  }
}

TEST_CASE("tokenizer copes with a 1 MiB value") {
  std::string big;
  std::size_t expected_words = 0;
  std::size_t expected_bytes = 0;
  while (big.size() < (1u << 20)) {
    auto w = "word" + std::string(expected_words % 7, 'x');
    big += w + " 123 ";
    ++expected_words;
    expected_bytes += w.size();
  }
  std::size_t n = 0;
  std::size_t bytes = 0;
  for_each_word(big, [&](std::string_view w) {
    ++n;
    bytes += w.size();
  });
  CHECK(n == expected_words);
  CHECK(bytes == expected_bytes);
  std::string single(1 << 20, 'a');
  CHECK(words_of(single) == words{single});
}

TEST_CASE("count_words and words_end cut a text between whole words") {
  std::string text = "  one, two-three 'four' 5 five  ";
  CHECK(count_words(text) == 5);
  CHECK(words_end(text, 0) == 0);
  for (std::size_t n = 1; n <= 6; ++n) {
    CAPTURE(n);
    auto cut = words_end(text, n);
    auto head = std::string_view{text}.substr(0, cut);
    auto tail = std::string_view{text}.substr(cut);
    CHECK(count_words(head) == std::min<std::size_t>(n, 5));
    CHECK(count_words(tail) == 5 - std::min<std::size_t>(n, 5));
    // No word is split: the pieces' words are the text's words.
    auto both = words_of(head);
    auto rest = words_of(tail);
    both.insert(both.end(), rest.begin(), rest.end());
    CHECK(both == words_of(text));
  }
  CHECK(words_end(text, 5) == text.find("five") + 4);
  CHECK(words_end(text, 6) == text.size());
}

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

} // namespace

TEST_CASE_FIXTURE(test::deterministic,
                  "tokenizer actor routes the words of records and pieces") {
  recording_router r;
  auto aut = sys.spawn(tokenizer, r.spawn(sys));
  record_batch batch;
  batch.records.push_back(input_record{0, 10, 111, "one two", false});
  batch.records.push_back(input_record{2, 5, 113, "\x01\x02 42", false});
  // The second piece of a record: its words are numbered from 4.
  batch.records.push_back(input_record{2, 6, 114, " three four", false, 0, 4});
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
