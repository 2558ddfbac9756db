// rpcbatch-node as a process under flow-control and failure conditions:
// records larger than the credit window, outages of the RPC target, dead
// letters and their replay, actors lost on a live batcher node. Each case
// has its own embedded broker.
#include "tests/harness.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;
using namespace rpcbatch::test;

namespace {

/// The node's output on failure of any check in scope.
#define RUN_CONTEXT(run)                                                       \
  INFO("exit code: ", (run).process.exit_code, "\nstdout: ",                   \
       tail((run).process.out, 1000), "\nstderr: ", tail((run).process.err))

} // namespace

TEST_SUITE("flow") {

TEST_CASE("flow: three records of 1 MiB of words enter in pieces: every "
          "word is written and memory stays bounded by the window") {
  environment env;
  // The outputs (1.5 million records) need more room than the embedded
  // broker keeps in 3 partitions.
  env.broker().create_topic({"big-output", 24});
  std::string big;
  while (big.size() + 2 <= (1u << 20))
    big += "a ";
  const uint64_t per_record = big.size() / 2;
  env.produce({big, big, big});
  auto run = run_node(env.node_command(
    {"--bounded", "--offset-reset=earliest", "--output-topic=big-output",
     "--dlq-topic=" + dlq_topic, "--batch-size=100",
     "--max-inflight-words=100000"}));
  RUN_CONTEXT(run);
  REQUIRE(run.process.exit_code == 0);
  REQUIRE(run.has_summary);
  auto words = 3 * per_record;
  CHECK(summary_number(run.summary, "words") == words);
  CHECK(summary_number(run.summary, "outputs") == words);
  CHECK(summary_number(run.summary, "dlq") == 0);
  // The embedded broker keeps only the newest of them, but its end offsets
  // count every record written.
  int64_t written = 0;
  for (auto& [partition, end] : env.ends("big-output"))
    written += end;
  CHECK(written == static_cast<int64_t>(words));
  CHECK(env.committed("big-output-group") == env.ends());
  // 1.5 million words in flight at once took 250 MB; the window of 100,000
  // words keeps the node near its idle size.
  auto rss = run.summary.at("peak_rss_mb").to_number<double>();
  CHECK(rss <= 150);
  MESSAGE(words, " words in 3 records, peak RSS ", rss, " MB");
}

} // TEST_SUITE
