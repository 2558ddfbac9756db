#include "actors/pipeline/tokenizer.hpp"

#include <algorithm>

#include "actors/observe/status.hpp"

namespace rpcbatch {

std::size_t count_words(std::string_view text) {
  std::size_t n = 0;
  for_each_word(text, [&](std::string_view) { ++n; });
  return n;
}

std::size_t words_end(std::string_view text, std::size_t n) {
  if (n == 0)
    return 0;
  std::size_t seen = 0;
  return for_each_word(text, [&](std::string_view) { return ++seen < n; });
}

word_batch tokenizer_state::split(const record_batch& batch) {
  word_batch out;
  // Text averages well over four bytes a word (with its space): one
  // allocation for the usual batch, a few doublings for the rare one.
  std::size_t batch_bytes = 0;
  for (auto& rec : batch.records)
    batch_bytes += rec.value.size();
  out.elements.reserve(batch_bytes / 4 + 1);
  for (auto& rec : batch.records) {
    auto index = rec.first_index;
    for_each_word(rec.value, [&](std::string_view w) {
      out.elements.push_back(element{std::string{w}, rec.partition,
                                     rec.offset, rec.timestamp, rec.epoch,
                                     index++, rec.seq});
      longest_word = std::max(longest_word, w.size());
    });
    ++pieces;
    bytes += rec.value.size();
  }
  words += out.elements.size();
  return out;
}

tokenizer_actor::behavior_type
tokenizer(tokenizer_actor::stateful_pointer<tokenizer_state> self,
          router_actor router) {
  self->state.router = std::move(router);
  return {
    [=](record_batch& batch) {
      auto out = self->state.split(batch);
      if (!out.elements.empty())
        self->send(self->state.router, std::move(out));
    },
    [=](end_of_window_atom) {
      // After every word sent to the router so far.
      ++self->state.end_of_windows;
      return self->delegate(self->state.router, end_of_window_atom::value);
    },
    [=](cancel_atom, std::vector<partition_epoch>& revoked) {
      // After every word sent to the router so far.
      return self->delegate(self->state.router, cancel_atom::value,
                            std::move(revoked));
    },
    [=](status_atom) {
      auto& st = self->state;
      return status_of(self, tokenizer_status{st.pieces, st.words, st.bytes,
                                              st.end_of_windows,
                                              st.longest_word});
    },
  };
}

} // namespace rpcbatch
