// The tokenizer on arbitrary record values: for_each_word gives the
// [A-Za-z']+ runs in order (compared with a byte-by-byte scan),
// count_words counts them, measure_words says where each is, and
// tokenizer_state::split cuts a record's measured words out (a piece of a
// record as the source cuts it, between whole words) and numbers them from
// the record's first_index.
#include <string>
#include <vector>

#include "actors/pipeline/tokenizer.hpp"
#include "actors/pipeline/words.hpp"
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
  auto spans = measure_words(text);
  FUZZ_CHECK(spans.size() == k);
  FUZZ_CHECK(fits(spans, text.size()));
  for (std::size_t i = 0; i < k; ++i) {
    FUZZ_CHECK(text.data() + spans[i].at == expected[i].data());
    FUZZ_CHECK(spans[i].size == expected[i].size());
  }
  // The actor's split: two measured records, the input cut between whole
  // words as the source cuts a piece (after word k / 2), the second a piece
  // that starts at a later word of its record.
  std::size_t half = k / 2 > 0 ? spans[k / 2 - 1].end() : 0;
  record_batch batch;
  batch.records.push_back(input_record{3, 10, 1000, std::string{text.substr(0, half)},
                                       false, 2, 0});
  batch.records.push_back(input_record{3, 11, 1001, std::string{text.substr(half)},
                                       false, 2, 7});
  for (auto& w : spans)
    if (w.end() <= half)
      batch.records[0].words.push_back(w);
    else
      batch.records[1].words.push_back(
        word_span{static_cast<uint32_t>(w.at - half), w.size});
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
