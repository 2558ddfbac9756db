// rpcbatch-node as a process under flow-control and failure conditions:
// records larger than the credit window, outages of the RPC target, dead
// letters and their replay, actors lost on a live batcher node. Each case
// has its own embedded broker.
#include "tests/harness.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>

#include "messages/type_ids.hpp"
#include "services/cli.hpp"

using namespace std::chrono_literals;
using namespace rpcbatch::test;

namespace {

/// The node's output on failure of any check in scope.
#define RUN_CONTEXT(run)                                                       \
  INFO("exit code: ", (run).process.exit_code, "\nstdout: ",                   \
       tail((run).process.out, 1000), "\nstderr: ", tail((run).process.err))

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// Kills the actor named `name` among those the batcher node at `address`
/// spawned (as its console lists them, e.g. "ingest-1/batcher-3"), from
/// another CAF node, as a crash of that actor would end it. Answers whether
/// it was found.
bool kill_remote_actor(const std::string& address, const std::string& name) {
  struct config : caf::actor_system_config {
    config() {
      load<caf::io::middleman>();
      rpcbatch::register_message_types(*this);
    }
  } cfg;
  caf::actor_system sys{cfg};
  auto [host, port] = rpcbatch::split_host_port(address);
  auto remote = sys.middleman().remote_actor<rpcbatch::batcher_host_actor>(
    host, static_cast<uint16_t>(port));
  REQUIRE(remote);
  caf::scoped_actor self{sys};
  bool found = false;
  self->request(*remote, 10s, rpcbatch::actors_atom::value)
    .receive(
      [&](rpcbatch::actor_list& actors) {
        for (auto& [n, handle] : actors)
          if (n == name) {
            found = true;
            caf::anon_send_exit(handle, caf::exit_reason::kill);
          }
      },
      [&](caf::error& err) { FAIL("no actor list: " << sys.render(err)); });
  return found;
}

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

TEST_CASE("flow: a batcher killed on a batcher node that stays up: its "
          "words go again and the bounded run completes") {
  // Calls of 2 ms, two at a time, two words each: the words pile up on the
  // batcher node, so that it holds many when one of its batchers dies.
  rpcbatch::resolver_options slow;
  slow.latency_ms = 2;
  environment env{slow};
  auto corpus = make_corpus(91, 300);
  env.produce(corpus);
  batcher_node batchers{env.rpc_target(),
                        {"--rpc-max-inflight=2", "--batch-size=2"}};
  child_process ingest{env.node_command(
    {"--role=ingest", "--bounded", "--offset-reset=earliest",
     "--batcher-nodes=" + batchers.address})};
  INFO("ingest node: ", tail(ingest.err()));
  INFO("batcher node: ", tail(batchers.process.err()));
  REQUIRE(wait_until(
    [&] { return ingest.exit_code() || env.stored(output_topic) > 0; }, 60s));
  REQUIRE_FALSE(ingest.exit_code());
  REQUIRE(kill_remote_actor(batchers.address, "ingest-1/batcher-3"));
  auto code = ingest.wait(120s);
  REQUIRE(code);
  CHECK(*code == 0);
  // Every word written, every offset committed.
  auto expected = expected_outputs(corpus);
  auto actual = key_values(env.read(output_topic));
  auto diff = compare(expected, actual);
  CHECK(diff.missing == 0);
  CHECK(env.committed() == env.ends());
  // The host stopped the other actors of that ingest node, the ingest node
  // sent the words again and attached once more.
  CHECK(contains(batchers.process.err(), "lost an actor"));
  CHECK(contains(batchers.process.err(), "ingest node 2 attached"));
  CHECK(contains(ingest.err(), "a batcher on batcher node"));
  CHECK(contains(ingest.err(), "word(s) again"));
  MESSAGE(diff.extra, " duplicate outputs after a batcher was killed");
}

} // TEST_SUITE
