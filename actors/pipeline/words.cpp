#include "actors/pipeline/words.hpp"

namespace rpcbatch {

std::size_t count_words(std::string_view text) {
  std::size_t n = 0;
  for_each_word(text, [&](std::string_view) { ++n; });
  return n;
}

std::vector<word_span> measure_words(std::string_view text) {
  std::vector<word_span> out;
  for_each_word(text, [&](std::string_view w) {
    out.push_back(word_span{static_cast<uint32_t>(w.data() - text.data()),
                            static_cast<uint32_t>(w.size())});
  });
  return out;
}

bool fits(const std::vector<word_span>& words, std::size_t size) {
  std::size_t end = 0;
  for (auto& w : words) {
    if (w.size == 0 || w.at < end || w.end() > size)
      return false;
    end = w.end();
  }
  return true;
}

} // namespace rpcbatch
