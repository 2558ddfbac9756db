// Words as the seed finds them (re.findall(r"[A-Za-z\']+", ...)): the
// maximal runs of ASCII letters and apostrophes; every other byte
// separates, including every byte >= 0x80, so invalid UTF-8 cannot hurt.
//
// A record value is scanned once on its way through: the source measures
// its words (measure_words) to spend credit on them and to cut pieces
// between them, and hands the measured words on with the record, where the
// tokenizer cuts them out.
#pragma once

#include <cstddef>
#include <string_view>
#include <type_traits>
#include <vector>

#include "messages/types.hpp"

namespace rpcbatch {

/// True for the bytes that make up words.
constexpr bool is_word_byte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '\'';
}

/// Calls `f(word)` for every word of `text`, in order, until `f` answers
/// false (if it answers bool); answers where the scan stopped: the end of
/// the last word given to `f`, or text.size().
template <class F>
std::size_t for_each_word(std::string_view text, F&& f) {
  auto n = text.size();
  std::size_t i = 0;
  while (i < n) {
    while (i < n && !is_word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    auto first = i;
    while (i < n && is_word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    if (i == first)
      break;
    if constexpr (std::is_same_v<decltype(f(text)), bool>) {
      if (!f(text.substr(first, i - first)))
        return i;
    } else {
      f(text.substr(first, i - first));
    }
  }
  return n;
}

/// The number of words of `text`.
std::size_t count_words(std::string_view text);

/// Where the words of `text` are, in order, in one scan. `text` is shorter
/// than 4 GiB (a Kafka record value is at most 2 GiB).
std::vector<word_span> measure_words(std::string_view text);

/// Whether `words` can be the measured words of a text of `size` bytes:
/// each inside it, not empty, and after the one before.
bool fits(const std::vector<word_span>& words, std::size_t size);

} // namespace rpcbatch
