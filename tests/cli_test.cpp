#include "actors/adapters/cli.hpp"

#include <doctest/doctest.h>

using rpcbatch::cli_error;
using rpcbatch::command_line;

namespace {

command_line parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args)
    argv.push_back(a.data());
  return command_line(static_cast<int>(argv.size()), argv.data());
}

} // namespace

TEST_CASE("command_line parses options, flags and positional arguments") {
  auto cl = parse({"tool", "--target=h:1", "--verbose", "resolve", "word"});
  CHECK(cl.program() == "tool");
  CHECK(cl.text("target", "x") == "h:1");
  CHECK(cl.flag("verbose"));
  CHECK_FALSE(cl.flag("quiet"));
  CHECK(cl.positional() == std::vector<std::string>{"resolve", "word"});
}

TEST_CASE("command_line rejects bad numbers and unknown options") {
  auto cl = parse({"tool", "--count=12x", "--rate=0.5", "--bogus=1"});
  CHECK_THROWS_AS(cl.integer("count", 0, 0, 100), cli_error);
  CHECK(cl.real("rate", 0, 0, 1) == doctest::Approx(0.5));
  CHECK_THROWS_AS(cl.real("rate", 0, 0.6, 1), cli_error);
  CHECK_THROWS_AS(cl.allow_only({"count", "rate"}), cli_error);
  CHECK_NOTHROW(cl.allow_only({"count", "rate", "bogus"}));
}

TEST_CASE("split_host_port accepts names, IPv4 and bracketed IPv6") {
  CHECK(rpcbatch::split_host_port("127.0.0.1:50051")
        == std::pair<std::string, int>{"127.0.0.1", 50051});
  CHECK(rpcbatch::split_host_port("[::1]:80")
        == std::pair<std::string, int>{"::1", 80});
  CHECK_THROWS_AS(rpcbatch::split_host_port("nohost"), cli_error);
  CHECK_THROWS_AS(rpcbatch::split_host_port("h:99999"), cli_error);
}
