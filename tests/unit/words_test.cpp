// Words as the seed finds them, and their measurement: where each word of
// a text is, in one scan.
#include "actors/pipeline/words.hpp"

#include <doctest/doctest.h>

using namespace rpcbatch;

namespace {

std::vector<std::string> words_of(std::string_view text) {
  std::vector<std::string> out;
  for_each_word(text, [&](std::string_view w) { out.emplace_back(w); });
  return out;
}

/// The words of `text` cut out where `spans` say.
std::vector<std::string> cut(std::string_view text,
                             const std::vector<word_span>& spans) {
  std::vector<std::string> out;
  for (auto& w : spans)
    out.emplace_back(text.substr(w.at, w.size));
  return out;
}

using words = std::vector<std::string>;

} // namespace

TEST_CASE("words: the seed's [A-Za-z']+ runs, found and measured") {
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
    CHECK(count_words(r.text) == r.expected.size());
    auto spans = measure_words(r.text);
    CHECK(cut(r.text, spans) == r.expected);
    CHECK(fits(spans, r.text.size()));
  }
}

TEST_CASE("words: a 1 MiB value") {
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
  auto spans = measure_words(big);
  CHECK(spans.size() == expected_words);
  CHECK(cut(big, spans) == words_of(big));
  std::string single(1 << 20, 'a');
  CHECK(words_of(single) == words{single});
  CHECK(measure_words(single).size() == 1);
  CHECK(measure_words(single)[0].size == single.size());
}

TEST_CASE("words: measured words are where the words are") {
  std::string text = "  one, two-three 'four' 5 five  ";
  auto spans = measure_words(text);
  REQUIRE(spans.size() == 5);
  CHECK(spans[0].at == 2);
  CHECK(spans[0].size == 3);
  CHECK(spans[3].at == text.find("'four'"));
  CHECK(spans[3].size == 6);
  CHECK(spans[4].end() == text.find("five") + 4);
  // A stop early answers the end of the last word given: where the source
  // would have cut a piece of n words before it measured them.
  for (std::size_t n = 1; n < spans.size(); ++n) {
    std::size_t seen = 0;
    CHECK(for_each_word(text, [&](std::string_view) { return ++seen < n; })
          == spans[n - 1].end());
  }
}

TEST_CASE("words: spans that do not fit their text") {
  std::string text = "alpha beta";
  CHECK(fits({}, 0));
  CHECK(fits({{0, 5}, {6, 4}}, text.size()));
  CHECK(fits({{6, 4}}, text.size())); // some of the words
  CHECK_FALSE(fits({{6, 5}}, text.size())); // past the end
  CHECK_FALSE(fits({{11, 0}}, text.size()));
  CHECK_FALSE(fits({{0, 0}}, text.size())); // empty
  CHECK_FALSE(fits({{6, 4}, {0, 5}}, text.size())); // out of order
  CHECK_FALSE(fits({{0, 5}, {4, 2}}, text.size())); // overlapping
  CHECK_FALSE(fits({{0xffffffffu, 0xffffffffu}}, text.size()));
}
