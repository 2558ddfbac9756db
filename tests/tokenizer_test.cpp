#include "actors/tokenizer.hpp"

#include <doctest/doctest.h>

#include "fixture.hpp"

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

TEST_CASE_FIXTURE(test::deterministic,
                  "tokenizer actor counts words per record and routes them") {
  auto routed = std::make_shared<std::vector<word_batch>>();
  auto rtr = sys.spawn([routed]() -> router_actor::behavior_type {
    return {
      [routed](word_batch& b) { routed->push_back(std::move(b)); },
      [](std::vector<batcher_actor>&) {},
      [](handover_atom, std::vector<batcher_actor>&) {},
      [](lost_atom, caf::node_id&, std::vector<batcher_actor>&) {},
      [](std::vector<partition_done>&) {},
      [](source_actor&) {},
      [](eow_atom) { return uint64_t{0}; },
      [](status_atom) { return std::string{"{}"}; },
    };
  });
  auto aut = sys.spawn(tokenizer, rtr);
  record_batch batch;
  batch.records.push_back(input_record{0, 10, 111, "one two", false});
  batch.records.push_back(input_record{0, 11, 112, "", true});
  batch.records.push_back(input_record{2, 5, 113, "\x01\x02 42", false});
  batch.records.push_back(input_record{2, 6, 114, "three", false});
  auto counts = ask<word_counts>(aut, batch);
  REQUIRE(counts.records.size() == 4);
  CHECK(counts.records[0].words == 2);
  CHECK(counts.records[1].words == 0);
  CHECK(counts.records[2].words == 0);
  CHECK(counts.records[3].words == 1);
  CHECK(counts.records[3].partition == 2);
  CHECK(counts.records[3].offset == 6);
  REQUIRE(routed->size() == 1);
  auto& els = routed->at(0).elements;
  REQUIRE(els.size() == 3);
  CHECK(els[0].word == "one");
  CHECK(els[0].timestamp == 111);
  // Positions in the record, for acknowledging each word once.
  CHECK(els[0].index == 0);
  CHECK(els[1].index == 1);
  CHECK(els[2].index == 0);
  CHECK(els[2].word == "three");
  CHECK(els[2].offset == 6);
  CHECK(els[2].timestamp == 114);
}
