// The tokenizer: record values -> words ([A-Za-z']+ runs, as the seed's
// re.findall(r"[A-Za-z\']+", ...)); every other byte separates, including
// every byte >= 0x80, so invalid UTF-8 cannot hurt.
#pragma once

#include <cstdint>
#include <string_view>

#include "messages/actors.hpp"

namespace rpcbatch {

/// True for the bytes that make up words.
constexpr bool is_word_byte(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '\'';
}

/// Calls `f(word)` for every word of `text`, in order.
template <class F>
void for_each_word(std::string_view text, F&& f) {
  auto n = text.size();
  std::size_t i = 0;
  while (i < n) {
    while (i < n && !is_word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    auto first = i;
    while (i < n && is_word_byte(static_cast<unsigned char>(text[i])))
      ++i;
    if (i > first)
      f(text.substr(first, i - first));
  }
}

struct tokenizer_state {
  static inline const char* name = "tokenizer";
  router_actor router;
  uint64_t records = 0;
  uint64_t words = 0;
  uint64_t empty_records = 0;
  uint64_t null_records = 0;
  uint64_t bytes = 0;
  std::size_t longest_word = 0;
};

tokenizer_actor::behavior_type
tokenizer(tokenizer_actor::stateful_pointer<tokenizer_state> self,
          router_actor router);

} // namespace rpcbatch
