#include "actors/pipeline/tokenizer.hpp"

#include <algorithm>

#include "actors/observe/reporting.hpp"
#include "actors/pipeline/words.hpp"

namespace rpcbatch {

word_batch tokenizer_state::split(const record_batch& batch) {
  word_batch out;
  // One element per word the source measured.
  std::size_t measured = 0;
  for (auto& rec : batch.records)
    measured += rec.words.size();
  out.elements.reserve(measured);
  for (auto& rec : batch.records) {
    auto index = rec.first_index;
    auto add = [&](std::string_view w) {
      out.elements.push_back(element{std::string{w}, rec.partition,
                                     rec.offset, rec.timestamp, rec.epoch,
                                     index++, rec.seq});
      longest_word = std::max(longest_word, w.size());
    };
    // Cut out where the source measured them; a record that comes
    // unmeasured is scanned here.
    std::string_view value = rec.value;
    if (!rec.words.empty() && fits(rec.words, value.size()))
      for (auto& w : rec.words)
        add(value.substr(w.at, w.size));
    else
      for_each_word(value, add);
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
