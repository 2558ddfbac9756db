// The tokenizer: record values -> words (actors/pipeline/words.hpp). It
// gets records (or pieces of a large record) from the source and sends their
// words on to the router; nothing goes back: the source measured every
// piece's words before it spent credit on it, and they come with the piece,
// so the tokenizer cuts them out where they are without scanning the value.
#pragma once

#include <cstddef>
#include <cstdint>

#include "messages/actors.hpp"

namespace rpcbatch {

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
  /// first_index: those the source measured (input_record::words); a
  /// record that comes without them, or with words that do not fit its
  /// value, is scanned here.
  word_batch split(const record_batch& batch);
};

tokenizer_actor::behavior_type
tokenizer(tokenizer_actor::stateful_pointer<tokenizer_state> self,
          router_actor router);

} // namespace rpcbatch
