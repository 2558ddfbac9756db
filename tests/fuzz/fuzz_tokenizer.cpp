// The tokenizer on arbitrary record values: for_each_word gives the
// [A-Za-z']+ runs in order (compared with a byte-by-byte scan),
// count_words counts them, words_end(text, n) cuts between whole words
// with exactly min(n, words) before the cut, and tokenizer_state::split
// numbers the words of a record from its first_index.
#include <string>
#include <vector>

#include "actors/pipeline/tokenizer.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace rpcbatch;

namespace {

/// The words as the seed's regular expression finds them, one byte at a
/// time.
std::vector<std::string_view> reference_words(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  bool in_word = false;
  for (std::size_t i = 0; i <= text.size(); ++i) {
    bool word = i < text.size()
                && is_word_byte(static_cast<unsigned char>(text[i]));
    if (word && !in_word)
      start = i;
    if (!word && in_word)
      out.push_back(text.substr(start, i - start));
    in_word = word;
  }
  return out;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  std::string_view text{reinterpret_cast<const char*>(data), size};
  auto expected = reference_words(text);
  std::vector<std::string_view> words;
  auto end = for_each_word(text, [&](std::string_view w) { words.push_back(w); });
  FUZZ_CHECK(end == text.size());
  FUZZ_CHECK(words.size() == expected.size());
  for (std::size_t i = 0; i < words.size(); ++i) {
    // The same bytes at the same place, not just equal text.
    FUZZ_CHECK(words[i].data() == expected[i].data());
    FUZZ_CHECK(words[i].size() == expected[i].size());
  }
  auto k = count_words(text);
  FUZZ_CHECK(k == expected.size());
  // Cuts at 0, 1, the middle, the last, all and more than all words.
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, k / 2,
                        k > 0 ? k - 1 : 0, k, k + 1}) {
    auto cut = words_end(text, n);
    FUZZ_CHECK(cut <= text.size());
    auto before = std::min(n, k);
    FUZZ_CHECK(count_words(text.substr(0, cut)) == before);
    FUZZ_CHECK(count_words(text.substr(cut)) == k - before);
    // Between whole words: a word does not go on across the cut.
    if (cut > 0 && cut < text.size())
      FUZZ_CHECK(!is_word_byte(static_cast<unsigned char>(text[cut - 1]))
                 || !is_word_byte(static_cast<unsigned char>(text[cut])));
    // A stop early answers the end of the last word given.
    if (before > 0 && before < k)
      FUZZ_CHECK(cut == static_cast<std::size_t>(
                          expected[before - 1].data() + expected[before - 1].size()
                          - text.data()));
  }
  // The actor's split: two records, the input cut in the middle, the
  // second a piece that starts at a later word of its record.
  auto half = text.size() / 2;
  record_batch batch;
  batch.records.push_back(input_record{3, 10, 1000, std::string{text.substr(0, half)},
                                       false, 2, 0});
  batch.records.push_back(input_record{3, 11, 1001, std::string{text.substr(half)},
                                       false, 2, 7});
  tokenizer_state st;
  auto out = st.split(batch);
  auto first = reference_words(batch.records[0].value);
  auto second = reference_words(batch.records[1].value);
  FUZZ_CHECK(out.elements.size() == first.size() + second.size());
  for (std::size_t i = 0; i < out.elements.size(); ++i) {
    auto& e = out.elements[i];
    bool one = i < first.size();
    auto j = one ? i : i - first.size();
    FUZZ_CHECK(e.word == (one ? first[j] : second[j]));
    FUZZ_CHECK(e.partition == 3 && e.epoch == 2);
    FUZZ_CHECK(e.offset == (one ? 10 : 11));
    FUZZ_CHECK(e.index == (one ? j : 7 + j));
  }
  FUZZ_CHECK(st.words == out.elements.size());
  return 0;
}
