#include "actors/pipeline/formats.hpp"

#include <charconv>

#include <boost/json/object.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

namespace rpcbatch {

void write_output_json(std::string& out, std::string_view word,
                       int32_t length) {
  // Boost.JSON escapes the word; the rest is fixed text.
  out.clear();
  out += R"({"word":)";
  boost::json::serializer sr;
  boost::json::string_view sv{word.data(), word.size()};
  sr.reset(sv);
  char buf[256];
  while (!sr.done())
    out += sr.read(buf);
  out += R"(,"length":)";
  char digits[16];
  auto end = std::to_chars(digits, digits + sizeof(digits), length).ptr;
  out.append(digits, end);
  out += '}';
}

std::string output_json(std::string_view word, int32_t length) {
  std::string out;
  write_output_json(out, word, length);
  return out;
}

namespace {

/// The size of the valid UTF-8 sequence at the front of `s` (0 if there is
/// none: a stray or missing continuation byte, an overlong form, a
/// surrogate, beyond U+10FFFF), as JSON parsers demand.
std::size_t utf8_sequence(std::string_view s) {
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  auto c = at(0);
  if (c < 0x80)
    return 1;
  std::size_t n = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3
                  : (c >> 3) == 0x1E ? 4 : 0;
  if (n == 0 || n > s.size())
    return 0;
  uint32_t cp = c & (0x7F >> n);
  for (std::size_t k = 1; k < n; ++k) {
    if ((at(k) & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (at(k) & 0x3F);
  }
  static constexpr uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < least[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

/// The longest prefix of `s` of at most `max` bytes that is valid UTF-8.
std::string_view utf8_prefix(std::string_view s, std::size_t max) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto n = utf8_sequence(s.substr(i));
    if (n == 0 || i + n > max)
      break;
    i += n;
  }
  return s.substr(0, i);
}

/// `s` with every byte that is not part of valid UTF-8 replaced by U+FFFD.
std::string utf8_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  while (!s.empty()) {
    auto n = utf8_sequence(s);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      n = 1;
    } else {
      out.append(s.data(), n);
    }
    s.remove_prefix(n);
  }
  return out;
}

} // namespace

std::string dead_letter_json(const element& e, std::string_view input_topic,
                             std::string_view reason, std::size_t max_word) {
  // JSON text is UTF-8, and Boost.JSON copies bytes as they are: what is not
  // UTF-8 would make a dead letter that nothing can parse (the replay
  // neither). A word is cut before its first byte that is not (so it reads
  // as truncated and is not replayed); the texts keep U+FFFD in its place.
  boost::json::object obj;
  obj["word"] = utf8_prefix(e.word, max_word);
  obj["word_bytes"] = e.word.size();
  obj["input_topic"] = utf8_text(input_topic);
  obj["partition"] = e.partition;
  obj["offset"] = e.offset;
  obj["index"] = e.index;
  obj["timestamp"] = e.timestamp;
  obj["reason"] = utf8_text(reason);
  return boost::json::serialize(obj);
}

namespace {

/// Reads an integer field of type T; false if it is missing, not a number,
/// not integral or out of T's range.
template <class T>
bool read_number(const boost::json::object& obj, std::string_view key,
                 T& out) {
  auto v = obj.if_contains(key);
  if (v == nullptr || !(v->is_int64() || v->is_uint64()))
    return false;
  boost::json::error_code ec;
  out = v->to_number<T>(ec);
  return !ec;
}

bool read_string(const boost::json::object& obj, std::string_view key,
                 std::string& out) {
  auto v = obj.if_contains(key);
  if (v == nullptr || !v->is_string())
    return false;
  out.assign(v->get_string().data(), v->get_string().size());
  return true;
}

} // namespace

std::optional<dead_letter> parse_dead_letter(std::string_view value) {
  boost::json::error_code ec;
  auto v = boost::json::parse(boost::json::string_view{value.data(),
                                                       value.size()},
                              ec);
  if (ec || !v.is_object())
    return std::nullopt;
  auto& obj = v.get_object();
  dead_letter x;
  if (!read_string(obj, "word", x.word)
      || !read_number(obj, "word_bytes", x.word_bytes)
      || !read_string(obj, "input_topic", x.input_topic)
      || !read_number(obj, "partition", x.partition)
      || !read_number(obj, "offset", x.offset)
      || !read_number(obj, "index", x.index)
      || !read_number(obj, "timestamp", x.timestamp)
      || !read_string(obj, "reason", x.reason))
    return std::nullopt;
  if (x.partition < 0 || x.offset < 0 || x.word_bytes < x.word.size())
    return std::nullopt;
  return x;
}

} // namespace rpcbatch
