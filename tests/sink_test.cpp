#include "actors/sink.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

using namespace rpcbatch;

TEST_CASE("output values are the seed's JSON, escaped by Boost.JSON") {
  CHECK(output_json("Hello", 5) == R"({"word":"Hello","length":5})");
  CHECK(output_json("don't", 5) == R"({"word":"don't","length":5})");
  auto tricky = std::string{"a\"b\\c\x01"};
  auto v = boost::json::parse(output_json(tricky, 7)).as_object();
  CHECK(v["word"].as_string() == tricky);
  CHECK(v["length"].as_int64() == 7);
}

TEST_CASE("dead letters keep provenance and truncate the word") {
  element e{std::string(5000, 'x'), 2, 41, 1700000000000};
  auto v = boost::json::parse(dead_letter_json(e, "too large", 1024))
             .as_object();
  CHECK(v["word"].as_string().size() == 1024);
  CHECK(v["word_bytes"].to_number<uint64_t>() == 5000);
  CHECK(v["partition"].as_int64() == 2);
  CHECK(v["offset"].as_int64() == 41);
  CHECK(v["timestamp"].as_int64() == 1700000000000);
  CHECK(v["reason"].as_string() == "too large");
}
