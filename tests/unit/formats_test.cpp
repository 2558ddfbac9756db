// The formats of what the pipeline writes: output values as the seed's
// JSON, dead letters with provenance and reason, and the dead-letter parser
// that replay reads them back with.
#include "actors/pipeline/formats.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

using namespace rpcbatch;

TEST_CASE("formats: output values are the seed's JSON, escaped by Boost.JSON") {
  CHECK(output_json("Hello", 5) == R"({"word":"Hello","length":5})");
  CHECK(output_json("don't", 5) == R"({"word":"don't","length":5})");
  auto tricky = std::string{"a\"b\\c\x01"};
  auto v = boost::json::parse(output_json(tricky, 7)).as_object();
  CHECK(v["word"].as_string() == tricky);
  CHECK(v["length"].as_int64() == 7);
}

TEST_CASE("formats: dead letters carry provenance and reason and truncate the "
          "word") {
  element e{std::string(5000, 'x'), 2, 41, 1700000000000, 3, 17};
  auto v = boost::json::parse(
             dead_letter_json(e, "input-topic", "too large", 1024))
             .as_object();
  CHECK(v["word"].as_string().size() == 1024);
  CHECK(v["word_bytes"].to_number<uint64_t>() == 5000);
  CHECK(v["input_topic"].as_string() == "input-topic");
  CHECK(v["partition"].as_int64() == 2);
  CHECK(v["offset"].as_int64() == 41);
  CHECK(v["index"].to_number<uint32_t>() == 17);
  CHECK(v["timestamp"].as_int64() == 1700000000000);
  CHECK(v["reason"].as_string() == "too large");
  // The epoch is the source's bookkeeping, not provenance.
  CHECK(v.size() == 8);
}

TEST_CASE("formats: a dead letter parses back to what was written") {
  element e{"don\"t\\\x01", 7, 123456789012, -1, 2, 4000000000u};
  auto reason = std::string{"UNAVAILABLE: \"down\"\n"};
  auto x = parse_dead_letter(dead_letter_json(e, "in.put_topic-1", reason));
  REQUIRE(x);
  CHECK(x->word == e.word);
  CHECK(x->word_bytes == e.word.size());
  CHECK(x->input_topic == "in.put_topic-1");
  CHECK(x->partition == 7);
  CHECK(x->offset == 123456789012);
  CHECK(x->index == 4000000000u);
  CHECK(x->timestamp == -1);
  CHECK(x->reason == reason);
  CHECK_FALSE(x->truncated());
  // A word of exactly the limit is whole.
  element limit{std::string(1024, 'y'), 0, 0, 0};
  auto y = parse_dead_letter(dead_letter_json(limit, "t", "r"));
  REQUIRE(y);
  CHECK_FALSE(y->truncated());
  CHECK(y->word == limit.word);
}

TEST_CASE("formats: a truncated dead letter says so and cannot be replayed") {
  element e{std::string(5000, 'z'), 1, 2, 3, 0, 4};
  auto x = parse_dead_letter(dead_letter_json(e, "input-topic", "big"));
  REQUIRE(x);
  CHECK(x->truncated());
  CHECK(x->word == std::string(1024, 'z'));
  CHECK(x->word_bytes == 5000);
  CHECK(x->index == 4);
}

TEST_CASE("formats: a dead letter is JSON that parses back whatever the bytes "
          "of its word and reason") {
  // A reason from a server's error message in Latin-1, a topic with a
  // stray continuation byte: replaced, not copied into invalid JSON.
  element e{"word", 1, 2, 3, 0, 4};
  auto x = parse_dead_letter(
    dead_letter_json(e, "t\x80", "INVALID_ARGUMENT: caf\xe9 \xc3\xa9"));
  REQUIRE(x);
  CHECK(x->reason == "INVALID_ARGUMENT: caf\xef\xbf\xbd \xc3\xa9");
  CHECK(x->input_topic == "t\xef\xbf\xbd");
  CHECK(x->word == "word");
  CHECK_FALSE(x->truncated());
  // A word cut at the limit inside a character loses the whole character;
  // one that is not UTF-8 is cut before the first stray byte. Both read as
  // truncated, so neither is replayed as something it was not.
  element cut{std::string(1023, 'a') + "\xc3\xa9", 0, 0, 0};
  auto y = parse_dead_letter(dead_letter_json(cut, "t", "r"));
  REQUIRE(y);
  CHECK(y->word == std::string(1023, 'a'));
  CHECK(y->word_bytes == 1025);
  CHECK(y->truncated());
  element stray{"ab\xff" "cd", 0, 0, 0};
  auto z = parse_dead_letter(dead_letter_json(stray, "t", "r"));
  REQUIRE(z);
  CHECK(z->word == "ab");
  CHECK(z->word_bytes == 5);
  CHECK(z->truncated());
  // UTF-8 words of up to 4-byte characters stay whole.
  element wide{"\xf0\x9f\x98\x80\xe2\x82\xac", 0, 0, 0};
  auto w = parse_dead_letter(dead_letter_json(wide, "t", "r"));
  REQUIRE(w);
  CHECK(w->word == wide.word);
  CHECK_FALSE(w->truncated());
}

TEST_CASE("formats: garbage is not a dead letter") {
  element e{"word", 1, 2, 3, 0, 4};
  auto good = boost::json::parse(dead_letter_json(e, "t", "r")).as_object();
  REQUIRE(parse_dead_letter(boost::json::serialize(good)));
  for (const char* text :
       {"", "not json", "[]", "null", "42", "\"word\"", "{}", "{\"word\":",
        R"({"word":"a"})", "\xff\xfe{}"}) {
    CAPTURE(text);
    CHECK_FALSE(parse_dead_letter(text));
  }
  // One field missing, of the wrong type, or out of range.
  std::vector<std::pair<const char*, boost::json::value>> bad{
    {"word", 5},
    {"word_bytes", "4"},
    {"word_bytes", -1},
    {"word_bytes", 3}, // shorter than the word
    {"input_topic", nullptr},
    {"partition", -1},
    {"partition", int64_t{1} << 40},
    {"partition", 1.5},
    {"offset", -5},
    {"offset", "2"},
    {"index", int64_t{1} << 33},
    {"index", true},
    {"timestamp", boost::json::array{}},
    {"reason", boost::json::object{}},
  };
  for (auto& [key, value] : bad) {
    auto obj = good;
    obj[key] = value;
    CAPTURE(boost::json::serialize(obj));
    CHECK_FALSE(parse_dead_letter(boost::json::serialize(obj)));
    obj.erase(key);
    CHECK_FALSE(parse_dead_letter(boost::json::serialize(obj)));
  }
}
