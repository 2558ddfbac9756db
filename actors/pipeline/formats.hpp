// What the pipeline writes to Kafka, as the seed writes it and as replay
// reads it back: the output value of a word ({"word":"...","length":N}) and
// the dead letter of an element that cannot be written as output, with its
// provenance and reason. The sink writes both; the source parses dead
// letters to replay them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "messages/types.hpp"

namespace rpcbatch {

/// The output value: {"word":"...","length":N}.
std::string output_json(std::string_view word, int32_t length);

/// The same, written into `out` (cleared first), so that one buffer serves
/// every output of a batch.
void write_output_json(std::string& out, std::string_view word,
                       int32_t length);

/// A dead letter's value: the word (truncated to `max_word` bytes, and
/// before anything that is not UTF-8), its full size, its provenance (input
/// topic, partition, offset, the word's index in its record, the record's
/// timestamp) and the reason (bytes that are not UTF-8 as U+FFFD):
/// {"word":"...","word_bytes":N,"input_topic":"...","partition":P,
///  "offset":O,"index":I,"timestamp":T,"reason":"..."}.
std::string dead_letter_json(const element& e, std::string_view input_topic,
                             std::string_view reason,
                             std::size_t max_word = 1024);

/// A dead letter read back, for replay.
struct dead_letter {
  std::string word;
  /// The size of the whole word; more than word.size() if it was cut.
  uint64_t word_bytes = 0;
  std::string input_topic;
  int32_t partition = 0;
  int64_t offset = 0;
  uint32_t index = 0;
  int64_t timestamp = 0;
  std::string reason;

  /// The word was cut to fit the dead letter: it cannot be replayed.
  bool truncated() const {
    return word.size() < word_bytes;
  }
};

/// Parses a dead letter's value (dead_letter_json); nothing if it is not
/// one: not JSON, a field missing or of the wrong type, a number out of
/// range, or a word longer than its word_bytes.
std::optional<dead_letter> parse_dead_letter(std::string_view value);

} // namespace rpcbatch
