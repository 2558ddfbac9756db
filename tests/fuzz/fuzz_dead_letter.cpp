// The sink's JSON on arbitrary input, two ways:
// - the input as a record value of the dead-letter topic: parse_dead_letter
//   takes or refuses it without harm, and what it takes writes back
//   (dead_letter_json) to a dead letter that reads as the same;
// - the input cut into a word, a topic, a reason and numbers: every dead
//   letter the sink writes is JSON that parse_dead_letter reads back (the
//   replay depends on it), whole words as they were, and every output
//   record of a UTF-8 word reads back as the word and its length.
#include <boost/json/parse.hpp>

#include "actors/pipeline/formats.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace rpcbatch;
using rpcbatch::fuzz::valid_utf8;

namespace {

void same_letter(const dead_letter& x, const dead_letter& y) {
  FUZZ_CHECK(x.word == y.word);
  FUZZ_CHECK(x.word_bytes == y.word_bytes);
  FUZZ_CHECK(x.input_topic == y.input_topic);
  FUZZ_CHECK(x.partition == y.partition);
  FUZZ_CHECK(x.offset == y.offset);
  FUZZ_CHECK(x.index == y.index);
  FUZZ_CHECK(x.timestamp == y.timestamp);
  FUZZ_CHECK(x.reason == y.reason);
}

void read_back(std::string_view value) {
  auto x = parse_dead_letter(value);
  if (!x)
    return;
  FUZZ_CHECK(x->word_bytes >= x->word.size());
  if (x->truncated())
    return;
  element e{x->word, x->partition, x->offset, x->timestamp, 0, x->index};
  auto y = parse_dead_letter(dead_letter_json(e, x->input_topic, x->reason,
                                              x->word.size()));
  FUZZ_CHECK(y);
  same_letter(*x, *y);
}

void write_and_read(fuzz::reader in) {
  auto max_word = std::size_t{in.byte()} + 1;
  auto topic = in.text();
  auto reason = in.text();
  auto partition = static_cast<int32_t>(in.byte() & 0x7F);
  auto offset = static_cast<int64_t>(in.byte()) << 32 | in.byte();
  auto index = uint32_t{in.byte()} << 24 | in.byte();
  auto timestamp = -static_cast<int64_t>(in.byte()) * 1000003;
  auto length = static_cast<int32_t>(in.byte()) - 128;
  auto word = in.rest();
  element e{std::string{word}, partition, offset, timestamp, 0, index};
  auto value = dead_letter_json(e, topic, reason, max_word);
  auto x = parse_dead_letter(value);
  FUZZ_CHECK(x);
  FUZZ_CHECK(x->word_bytes == word.size());
  FUZZ_CHECK(x->partition == partition);
  FUZZ_CHECK(x->offset == offset);
  FUZZ_CHECK(x->index == index);
  FUZZ_CHECK(x->timestamp == timestamp);
  FUZZ_CHECK(x->word.size() <= max_word);
  FUZZ_CHECK(word.substr(0, x->word.size()) == x->word);
  // A word is replayable exactly when it is whole.
  FUZZ_CHECK(x->truncated() == (x->word != word));
  if (word.size() <= max_word && valid_utf8(word))
    FUZZ_CHECK(!x->truncated());
  if (valid_utf8(topic))
    FUZZ_CHECK(x->input_topic == topic);
  if (valid_utf8(reason))
    FUZZ_CHECK(x->reason == reason);
  if (valid_utf8(word)) {
    boost::json::error_code ec;
    auto v = boost::json::parse(output_json(word, length), ec);
    FUZZ_CHECK(!ec && v.is_object() && v.as_object().size() == 2);
    FUZZ_CHECK(v.at("word").as_string() == word);
    FUZZ_CHECK(v.at("length").as_int64() == length);
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  read_back({reinterpret_cast<const char*>(data), size});
  write_and_read(fuzz::reader{data, size});
  return 0;
}
