// rpcbatch-node as a process under flow-control and failure conditions:
// records larger than the credit window, outages of the RPC target, dead
// letters and their replay, actors lost on a live batcher node. Each case
// has its own embedded broker.
#include "tests/support/harness.hpp"

#include <csignal>
#include <thread>

#include <boost/json/parse.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>
#include <httplib.h>

#include "actors/pipeline/formats.hpp"
#include "actors/pipeline/words.hpp"
#include "messages/type_ids.hpp"
#include "services/config/addresses.hpp"

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
        for (auto& e : actors)
          if (e.name == name) {
            found = true;
            caf::anon_send_exit(e.handle, caf::exit_reason::kill);
          }
      },
      [&](caf::error& err) { FAIL("no actor list: " << sys.render(err)); });
  return found;
}

/// A resolver process on `listen` (port 0: a free one).
struct resolver_process {
  child_process process;
  std::string address;

  explicit resolver_process(const std::string& listen,
                            const std::vector<std::string>& extra = {})
    : process(resolver_command(listen, extra)),
      address(listening_address(process, "rpcbatch-resolver")) {
  }
};

/// A loopback address where nothing listens now (a resolver bound it and
/// went away): where a resolver will come up later.
std::string vacated_address() {
  resolver_process probe{"127.0.0.1:0"};
  probe.process.signal(SIGTERM);
  REQUIRE(probe.process.wait(10s));
  return probe.address;
}

/// The node's command line for `env`'s broker and the resolver at `target`.
std::vector<std::string> node_for(const environment& env,
                                  const std::string& target,
                                  const std::vector<std::string>& extra) {
  std::vector<std::string> argv{node_binary(),
                                "--bootstrap-servers=" + env.bootstrap(),
                                "--rpc-target=" + target};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

/// GET `path` from the HTTP endpoints at `address` (HOST:PORT).
httplib::Result http_get(const std::string& address, const std::string& path) {
  auto [host, port] = rpcbatch::split_host_port(address);
  httplib::Client client{host, port};
  client.set_read_timeout(10s);
  return client.Get(path.c_str());
}

/// A sample of a Prometheus text ("name value" lines), -1 if missing.
double metric(const std::string& text, const std::string& name) {
  auto at = text.find("\n" + name + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(text.substr(at + name.size() + 2));
}

/// What an outage looks like from outside, checked while it lasts: /readyz
/// says not ready because the breaker is open, nothing is dead-lettered or
/// written, and consuming stopped at the credit window.
void check_waiting(const environment& env, const std::string& http,
                   std::size_t records) {
  std::string body;
  REQUIRE(wait_until(
    [&] {
      auto r = http_get(http, "/readyz");
      body = r ? r->body : "";
      return r && r->status == 503 && contains(body, "circuit breaker open");
    },
    30s, 200ms));
  CHECK(contains(body, "not ready"));
  auto m = http_get(http, "/metrics");
  REQUIRE(m);
  CHECK(metric(m->body, "rpcbatch_rpc_breaker_opens_total") >= 1);
  CHECK(metric(m->body, "rpcbatch_words_in_flight") <= 2000);
  CHECK(metric(m->body, "rpcbatch_records_total") < records);
  CHECK(env.stored(dlq_topic) == 0);
}

/// What a run through an outage ends with: exit 0, every word written once,
/// nothing dead-lettered, every offset committed, the breaker's two lines.
void check_recovered(const environment& env, child_process& node,
                     const std::vector<kafka_value>& corpus) {
  auto code = node.wait(180s);
  REQUIRE(code);
  CHECK(*code == 0);
  auto diff = compare(expected_outputs(corpus),
                      key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.empty(), diff.describe());
  CHECK(env.stored(dlq_topic) == 0);
  CHECK(env.committed() == env.ends());
  CHECK(contains(node.err(), "circuit breaker open after"));
  CHECK(contains(node.err(), "circuit breaker closed after"));
}

/// A node that reads 2000 words ahead at most and has the time to wait out
/// an outage in its final drain.
const std::vector<std::string> patient = {
  "--bounded", "--offset-reset=earliest", "--max-inflight-words=2000",
  "--http-port=0", "--drain-timeout-secs=180", "--max-wait-secs=1"};

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

TEST_CASE("flow: an RPC target that is down for the first 30 s of a stream "
          "costs latency, not data") {
  environment env;
  auto corpus = make_corpus(1001, 600);
  env.produce(corpus);
  auto target = vacated_address();
  auto down_since = std::chrono::steady_clock::now();
  child_process node{node_for(env, target, patient)};
  INFO("node: ", tail(node.err()));
  auto http = listening_address(node, "rpcbatch-node http");
  check_waiting(env, http, corpus.size());
  // The outage is what the test does to the node, not a wait for it.
  std::this_thread::sleep_until(down_since + 30s);
  CHECK(env.stored(dlq_topic) == 0);
  CHECK(env.stored(output_topic) == 0);
  resolver_process resolver{target};
  check_recovered(env, node, corpus);
}

TEST_CASE("flow: an RPC target frozen for 30 s mid-stream costs latency, "
          "not data") {
  environment env;
  auto corpus = make_corpus(2002, 600);
  env.produce(corpus);
  resolver_process resolver{"127.0.0.1:0"};
  child_process node{node_for(
    env, resolver.address,
    {"--bounded", "--offset-reset=earliest", "--max-inflight-words=2000",
     "--http-port=0", "--drain-timeout-secs=180", "--max-wait-secs=1",
     "--rpc-deadline-ms=1000"})};
  INFO("node: ", tail(node.err()));
  auto http = listening_address(node, "rpcbatch-node http");
  REQUIRE(wait_until(
    [&] { return node.exit_code() || env.stored(output_topic) > 0; }, 60s));
  REQUIRE_FALSE(node.exit_code());
  REQUIRE(resolver.process.signal(SIGSTOP));
  auto frozen_since = std::chrono::steady_clock::now();
  check_waiting(env, http, corpus.size());
  std::this_thread::sleep_until(frozen_since + 30s);
  CHECK(env.stored(dlq_topic) == 0);
  REQUIRE(resolver.process.signal(SIGCONT));
  check_recovered(env, node, corpus);
}

TEST_CASE("flow: a word the resolver refuses is a dead letter with its "
          "provenance, and a replay writes it once the resolver takes it") {
  environment env;
  auto corpus = make_corpus(5, 100); // ALLCAPS once, in its last lines
  env.produce(corpus);
  std::vector<kafka_record> dead;
  {
    resolver_process refusing{"127.0.0.1:0", {"--reject-word=ALLCAPS"}};
    auto run = run_node(node_for(env, refusing.address,
                                 {"--bounded", "--offset-reset=earliest"}));
    RUN_CONTEXT(run);
    REQUIRE(run.process.exit_code == 0);
    dead = env.read(dlq_topic);
  }
  // One batch, ALLCAPS among it; each letter names the record and the
  // position its word came from, and why.
  REQUIRE(dead.size() >= 1);
  CHECK(dead.size() <= 10);
  std::map<std::pair<int32_t, int64_t>, std::string> inputs;
  for (auto& r : env.read(input_topic))
    inputs[{r.partition, r.offset}] = r.value;
  record_multiset dead_words;
  for (auto& r : dead) {
    auto letter = rpcbatch::parse_dead_letter(r.value);
    REQUIRE(letter);
    CHECK(letter->input_topic == input_topic);
    CHECK(contains(letter->reason, "INVALID_ARGUMENT"));
    auto in = inputs.find({letter->partition, letter->offset});
    REQUIRE(in != inputs.end());
    std::vector<std::string> words;
    rpcbatch::for_each_word(in->second,
                            [&](std::string_view w) { words.emplace_back(w); });
    REQUIRE(letter->index < words.size());
    CHECK(words[letter->index] == letter->word);
    dead_words.emplace(letter->word, expected_value(letter->word));
  }
  // The resolver is fixed: the replay writes the dead letters' words, in
  // its own group, committing the dead-letter topic to its end.
  resolver_process fixed{"127.0.0.1:0"};
  auto replay = run_node(node_for(env, fixed.address,
                                  {"--replay-dlq=" + dlq_topic}));
  {
    RUN_CONTEXT(replay);
    REQUIRE(replay.process.exit_code == 0);
  }
  CHECK(summary_number(replay.summary, "words") == dead.size());
  CHECK(summary_number(replay.summary, "outputs") == dead.size());
  auto diff = compare(expected_outputs(corpus),
                      key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.empty(), diff.describe());
  CHECK(env.committed("rpc-pardo-stateful-replay-group", dlq_topic)
        == env.ends(dlq_topic));
  // Replayed once: a second replay finds nothing new.
  auto again = run_node(node_for(env, fixed.address,
                                 {"--replay-dlq=" + dlq_topic}));
  CHECK(again.process.exit_code == 0);
  CHECK(summary_number(again.summary, "words") == 0);
  MESSAGE(dead.size(), " word(s) dead-lettered and replayed");
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
