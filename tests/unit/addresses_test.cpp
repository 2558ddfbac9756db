// Every program's options (services/config/program.hpp): declared once, read from
// the command line, RPCBATCH_ variables and a config file; and the address
// helpers (services/config/addresses.hpp).
#include "services/config/addresses.hpp"

#include <cmath>
#include <cstdio>
#include <fstream>

#include <unistd.h>

#include <doctest/doctest.h>

#include "services/config/env_config.hpp"
#include "services/config/program.hpp"

using rpcbatch::cli_error;

namespace {

constexpr const char* tool_usage = "usage: tool [options] [COMMAND]\n";

/// A small program with an option of each kind.
struct tool_config : rpcbatch::program_config {
  std::string target = "127.0.0.1:50051";
  int count = 3;
  double rate = 0.5;
  int retries = 0;
  bool verbose = false;
  std::string token;

  tool_config() : program_config("tool", tool_usage) {
    takes_arguments = true;
    env_aliases.emplace("RPCBATCH_TOOL_TOKEN", "token");
    add_options()
      .add(target, "target", "where to go")
      .add(count, "count", "how many")
      .add(rate, "rate", "how often")
      .add(retries, "retries", "tries again (default: never)")
      .add(verbose, "verbose", "say more")
      .add(token, "token", "a secret");
  }

  /// Parses `args` with `environment`; CAF's rendered error, if any.
  std::string parse(std::vector<std::string> args,
                    std::vector<std::string> environment = {}) {
    auto err = rpcbatch::parse_with_env(*this, std::move(args), environment);
    return err ? render(err) : std::string{};
  }
};

} // namespace

TEST_CASE("program options: command line, then arguments for the program") {
  tool_config cfg;
  REQUIRE(cfg.parse({"--target=h:1", "--verbose", "resolve", "word"}).empty());
  CHECK(cfg.target == "h:1");
  CHECK(cfg.verbose);
  CHECK(cfg.count == 3);
  CHECK(cfg.given("target"));
  CHECK_FALSE(cfg.given("count"));
  CHECK(cfg.arguments() == std::vector<std::string>{"resolve", "word"});
}

TEST_CASE("program options: command line > environment > config file > "
          "default, and aliases for variables") {
  char name[] = "/tmp/rpcbatch-tool-XXXXXX";
  auto fd = mkstemp(name);
  REQUIRE(fd >= 0);
  close(fd);
  std::ofstream{name} << "count=7\nrate=2\ntarget=\"f:1\"\n";
  tool_config cfg;
  auto err = cfg.parse({"--config-file=" + std::string{name}, "--count=9"},
                       {"RPCBATCH_COUNT=8", "RPCBATCH_TARGET=e:1",
                        "RPCBATCH_TOOL_TOKEN=s3cret"});
  std::remove(name);
  REQUIRE_MESSAGE(err.empty(), err);
  CHECK(cfg.count == 9);
  CHECK(cfg.target == "e:1");
  CHECK(cfg.rate == doctest::Approx(2.0));
  CHECK(cfg.token == "s3cret");
}

TEST_CASE("program options: bad values, unknown options and variables are "
          "errors; a program without Kafka takes no RPCBATCH_KAFKA_") {
  CHECK_FALSE(tool_config{}.parse({"--count=12x"}).empty());
  CHECK_FALSE(tool_config{}.parse({"--bogus=1"}).empty());
  CHECK_THROWS_AS(tool_config{}.parse({}, {"RPCBATCH_BOGUS=1"}), cli_error);
  CHECK_THROWS_AS(tool_config{}.parse({}, {"RPCBATCH_COUNT=x"}), cli_error);
  CHECK_THROWS_AS(tool_config{}.parse({}, {"RPCBATCH_KAFKA_ACKS=all"}),
                  cli_error);
}

TEST_CASE("program options: --help shows the usage and every option with "
          "its default unless the description states it") {
  auto help = tool_config{}.help();
  CHECK(help.rfind(tool_usage, 0) == 0);
  CHECK(help.find("--target=<string>") != std::string::npos);
  CHECK(help.find("where to go (default: 127.0.0.1:50051)")
        != std::string::npos);
  CHECK(help.find("how many (default: 3)") != std::string::npos);

  CHECK(help.find("how often (default: 0.5)\n") != std::string::npos);
  CHECK(help.find("tries again (default: never)\n") != std::string::npos);
  CHECK(help.find("--verbose  ") != std::string::npos);
  CHECK(help.find("say more\n") != std::string::npos);
  CHECK(help.find("a secret\n") != std::string::npos);
}

TEST_CASE("check_range names the option and the bounds") {
  CHECK_NOTHROW(rpcbatch::check_range("rate", 0.5, 0.0, 1.0));
  try {
    rpcbatch::check_range("count", 12, 0, 10);
    FAIL("no error");
  } catch (const cli_error& e) {
    CHECK(std::string{e.what()} == "--count must be between 0 and 10, got 12");
  }
  CHECK_THROWS_AS(rpcbatch::check_range("rate", std::nan(""), 0.0, 1.0),
                  cli_error);
}

TEST_CASE("split_host_port accepts names, IPv4 and bracketed IPv6") {
  CHECK(rpcbatch::split_host_port("127.0.0.1:50051")
        == std::pair<std::string, int>{"127.0.0.1", 50051});
  CHECK(rpcbatch::split_host_port("[::1]:80")
        == std::pair<std::string, int>{"::1", 80});
  CHECK_THROWS_AS(rpcbatch::split_host_port("nohost"), cli_error);
  CHECK_THROWS_AS(rpcbatch::split_host_port("h:99999"), cli_error);
}
