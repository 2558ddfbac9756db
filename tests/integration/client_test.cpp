// rpcbatch-client as a process against an in-process resolver.
#include "services/tools/resolver_service.hpp"
#include "tests/support/process.hpp"

#include <cstdio>

#include <doctest/doctest.h>
#include <unistd.h>

namespace {

const std::string client_bin = RPCBATCH_BIN_DIR "/rpcbatch-client";

/// A resolver on an ephemeral port; runs the client against it.
struct fixture {
  fixture() : server(options()) {
    server.start();
    target = "--target=" + server.address();
  }

  static rpcbatch::resolver_options options() {
    rpcbatch::resolver_options opts;
    opts.listen = "127.0.0.1:0";
    return opts;
  }

  rpcbatch::test::process_result run(std::vector<std::string> args,
                                     const std::string& input = "") {
    args.insert(args.begin(), {client_bin, target});
    return rpcbatch::test::run_process(args, input);
  }

  rpcbatch::resolver_server server;
  std::string target;
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_SUITE("client") {

TEST_CASE("rpcbatch-client: resolve prints a Python tuple") {
  fixture f;
  auto r = f.run({"resolve", "Hello"});
  CHECK(r.exit_code == 0);
  CHECK(r.out == "('Hello', 5)\n");
  CHECK(f.run({"resolve", "don't"}).out == "(\"don't\", 5)\n");
  CHECK(f.run({"resolve", "h\xc3\xa9llo"}).out == "('h\xc3\xa9llo', 5)\n");
}

TEST_CASE("rpcbatch-client: resolve-batch prints one tuple per word") {
  fixture f;
  auto r = f.run({"resolve-batch", "Beautiful is better  than ugly"});
  CHECK(r.exit_code == 0);
  CHECK(r.out
        == "('Beautiful', 9)\n('is', 2)\n('better', 6)\n('than', 4)\n"
           "('ugly', 4)\n");
  CHECK(f.server.counts().batch_calls == 1);
}

TEST_CASE("rpcbatch-client: the interactive menu reads choices from stdin") {
  fixture f;
  auto r = f.run({}, "1\nHello\n2\nBeautiful is\nq\n");
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "1: resolve a word"));
  CHECK(contains(r.out, "2: resolve a batch (text split on spaces)"));
  CHECK(contains(r.out, "('Hello', 5)\n"));
  CHECK(contains(r.out, "('Beautiful', 9)\n('is', 2)\n"));
  CHECK(f.server.counts().resolve_calls == 1);
  CHECK(f.server.counts().batch_calls == 1);
  auto eof = f.run({}, "1\nabc\n");
  CHECK(eof.exit_code == 0);
  CHECK(contains(eof.out, "('abc', 3)\n"));
}

TEST_CASE("rpcbatch-client: an unreachable target exits 1 with a message") {
  std::string address;
  {
    fixture gone;
    address = gone.server.address();
  }
  auto r = rpcbatch::test::run_process(
    {client_bin, "--target=" + address, "--deadline-ms=2000", "resolve", "x"});
  CHECK(r.exit_code == 1);
  CHECK_FALSE(r.timed_out);
  CHECK(r.out.empty());
  CHECK(contains(r.err, "cannot reach RpcService at " + address + ": "));
}

TEST_CASE("rpcbatch-client: options from RPCBATCH_ variables and a config "
          "file, as every program's") {
  fixture f;
  auto address = f.server.address();
  auto by_env = rpcbatch::test::run_process(
    {"/usr/bin/env", "RPCBATCH_TARGET=" + address, client_bin, "resolve",
     "Hello"});
  CHECK(by_env.exit_code == 0);
  CHECK(by_env.out == "('Hello', 5)\n");
  char name[] = "/tmp/rpcbatch-client-XXXXXX";
  auto fd = mkstemp(name);
  REQUIRE(fd >= 0);
  auto line = "target=\"" + address + "\"\n";
  REQUIRE(write(fd, line.data(), line.size())
          == static_cast<ssize_t>(line.size()));
  close(fd);
  auto by_file = rpcbatch::test::run_process(
    {client_bin, "--config-file=" + std::string{name}, "resolve", "Hi"});
  std::remove(name);
  CHECK(by_file.exit_code == 0);
  CHECK(by_file.out == "('Hi', 2)\n");
  auto unknown = rpcbatch::test::run_process(
    {"/usr/bin/env", "RPCBATCH_TARGETS=" + address, client_bin, "resolve",
     "x"});
  CHECK(unknown.exit_code == 2);
  CHECK(contains(unknown.err, "RPCBATCH_TARGETS"));
}

TEST_CASE("rpcbatch-client: --help lists the options with their defaults") {
  auto r = rpcbatch::test::run_process({client_bin, "--help"});
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "resolve-batch TEXT"));
  CHECK(contains(r.out, "--target=<string>"));
  CHECK(contains(r.out, "(default: 127.0.0.1:50051)"));
  CHECK(contains(r.out, "--deadline-ms=<int32>"));
}

TEST_CASE("rpcbatch-client: bad arguments exit 2") {
  auto run = [](std::vector<std::string> args) {
    args.insert(args.begin(), client_bin);
    return rpcbatch::test::run_process(args).exit_code;
  };
  CHECK(run({"--deadline-ms=soon", "resolve", "x"}) == 2);
  CHECK(run({"--target=nohost", "resolve", "x"}) == 2);
  CHECK(run({"frobnicate", "x"}) == 2);
  CHECK(run({"resolve"}) == 2);
  auto late = rpcbatch::test::run_process(
    {client_bin, "resolve", "x", "--deadline-ms=5"});
  CHECK(late.exit_code == 2);
  CHECK(contains(late.err, "'--deadline-ms=5' comes after the arguments"));
}

} // TEST_SUITE
