// The tokenizer: record values -> words ([A-Za-z']+ runs, as the seed's
// re.findall(r"[A-Za-z\']+", ...)); every other byte separates, including
// every byte >= 0x80, so invalid UTF-8 cannot hurt. It gets records (or
// pieces of a large record) from the source and sends their words on to the
// router; nothing goes back: the source measured every piece in words before
// it spent credit on it (count_words, words_end).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <type_traits>

#include "messages/actors.hpp"

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

/// Where the first `n` words of `text` end (text.size() if it has fewer):
/// text.substr(0, words_end(text, n)) holds exactly min(n, words) words and
/// the rest the others.
std::size_t words_end(std::string_view text, std::size_t n);

struct tokenizer_state {
  static inline const char* name = "tokenizer";
  router_actor router;
  /// Records and pieces of records tokenized.
  uint64_t pieces = 0;
  uint64_t words = 0;
  uint64_t bytes = 0;
  uint64_t end_of_windows = 0;
  std::size_t longest_word = 0;

  /// The words of every record of `batch`, numbered from each record's
  /// first_index.
  word_batch split(const record_batch& batch);
};

tokenizer_actor::behavior_type
tokenizer(tokenizer_actor::stateful_pointer<tokenizer_state> self,
          router_actor router);

} // namespace rpcbatch
