#include "actors/tokenizer.hpp"


#include "actors/status.hpp"

namespace rpcbatch {

tokenizer_actor::behavior_type
tokenizer(tokenizer_actor::stateful_pointer<tokenizer_state> self,
          router_actor router) {
  self->state.router = std::move(router);
  return {
    [=](record_batch& batch) {
      auto& st = self->state;
      word_batch out;
      word_counts counts;
      counts.records.reserve(batch.records.size());
      for (auto& rec : batch.records) {
        uint32_t n = 0;
        for_each_word(rec.value, [&](std::string_view w) {
          out.elements.push_back(
            element{std::string{w}, rec.partition, rec.offset, rec.timestamp,
                    rec.epoch, n});
          st.longest_word = std::max(st.longest_word, w.size());
          ++n;
        });
        counts.records.push_back(
          record_words{rec.partition, rec.offset, n, rec.epoch});
        ++st.records;
        st.words += n;
        st.bytes += rec.value.size();
        if (rec.null_value)
          ++st.null_records;
        else if (n == 0)
          ++st.empty_records;
      }
      if (!out.elements.empty())
        self->send(st.router, std::move(out));
      return counts;
    },
    [=](status_atom) {
      auto& st = self->state;
      return status_json(self, {{"records", st.records},
                                {"words", st.words},
                                {"bytes", st.bytes},
                                {"records_without_words", st.empty_records},
                                {"null_records", st.null_records},
                                {"longest_word", st.longest_word}});
    },
  };
}

} // namespace rpcbatch
