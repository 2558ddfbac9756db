// rpcbatch-bench-scaleout: batcher nodes on loopback against the embedded
// broker and an in-process resolver with a per-call latency (RPC latency
// bound, where more batcher nodes should help).
//
// 1. Throughput: an ingest node with 1, then 2 batcher nodes processes the
//    same input (--bounded, a fresh group and output topic each), then 2
//    ingest nodes in one group share it through the 2 batcher nodes;
//    prints words/s from the ingest nodes' summaries.
// 2. Recovery: an ingest node streams the input through 2 batcher nodes;
//    once outputs flow, one batcher node is killed (SIGKILL). Prints the
//    time from the kill to the first output of a bucket that node owned
//    (Kafka create time of the record), and the duplicates that the re-read
//    unconfirmed window produced.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>

#include "actors/cluster/bucket_assignment.hpp"
#include "actors/pipeline/router.hpp"
#include "services/config/program.hpp"
#include "services/tools/textgen.hpp"
#include "tests/support/harness.hpp"

namespace {

using namespace rpcbatch;
using namespace rpcbatch::test;
using namespace std::chrono_literals;

constexpr const char* usage = R"(usage: rpcbatch-bench-scaleout [options]

Prints words/s with 1 and 2 batcher nodes, and with 2 ingest nodes sharing
the input through 2 batcher nodes, then the recovery after one of them is
killed.
)";

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Node options common to every run of the benchmark.
std::vector<std::string> ingest_command(const environment& env,
                                        const std::string& run,
                                        const std::string& buckets,
                                        std::vector<std::string> extra) {
  auto argv = env.node_command(
    {"--role=ingest", "--offset-reset=earliest", "--group-id=bench-" + run,
     "--output-topic=out-" + run, "--buckets=" + buckets, "--stats-secs=0",
     "--log-level=warn"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

/// The summary of a node that ran to its end; throws with its stderr
/// otherwise.
boost::json::object summary_of(node_run run) {
  if (run.process.exit_code != 0 || !run.has_summary)
    throw std::runtime_error("ingest node exited with "
                             + std::to_string(run.process.exit_code) + ": "
                             + tail(run.process.err));
  return std::move(run.summary);
}

/// Words/s of a bounded run of `ingests` ingest nodes (one consumer group,
/// sharing the input's partitions) through `nodes` batcher nodes: all the
/// words over the longest of the ingest nodes' active times.
double throughput(const environment& env, int ingests, int nodes,
                  const std::string& buckets) {
  std::vector<std::unique_ptr<batcher_node>> batchers;
  std::string list;
  for (int i = 0; i < nodes; ++i) {
    batchers.push_back(std::make_unique<batcher_node>(env.rpc_target()));
    list += (list.empty() ? "" : ",") + batchers.back()->address;
  }
  auto name = std::to_string(ingests) + "x" + std::to_string(nodes);
  auto command = ingest_command(env, name, buckets,
                                {"--bounded", "--batcher-nodes=" + list});
  if (ingests == 1) {
    auto s = summary_of(run_node(command, 30min));
    return s.at("words_per_s").to_number<double>();
  }
  std::vector<std::unique_ptr<child_process>> children;
  for (int i = 0; i < ingests; ++i)
    children.push_back(std::make_unique<child_process>(command));
  double words = 0;
  double seconds = 0;
  for (auto& child : children) {
    if (!child->wait(30min))
      throw std::runtime_error("an ingest node did not finish");
    auto s = summary_of(finished_run(*child));
    words += s.at("words").to_number<double>();
    seconds = std::max(seconds, s.at("active_seconds").to_number<double>());
  }
  return seconds > 0 ? words / seconds : 0;
}

void recovery(const environment& env, const std::vector<kafka_value>& corpus,
              const std::string& buckets) {
  auto n = static_cast<uint32_t>(std::stoul(buckets));
  auto words = static_cast<int64_t>(count_words(corpus));
  const std::string topic = "out-recovery";
  batcher_node survivor{env.rpc_target()};
  auto victim = std::make_unique<batcher_node>(env.rpc_target());
  auto victim_name = victim->address;
  auto owners = assign_buckets(n, {survivor.address, victim_name});
  child_process ingest{ingest_command(
    env, "recovery", buckets,
    {"--batcher-nodes=" + survivor.address + "," + victim_name})};
  auto stored = [&] {
    try {
      return env.stored(topic);
    } catch (const std::runtime_error&) { // not created yet
      return int64_t{0};
    }
  };
  if (!wait_until([&] { return stored() > words / 4; }, 5min))
    throw std::runtime_error("no outputs: " + tail(ingest.err()));
  // Taken before the signal: the ingest node may see the loss before the
  // wait for the killed process returns.
  auto killed_at = now_ms();
  victim->process.kill_and_wait();
  if (!wait_until([&] { return stored() >= words; }, 10min))
    throw std::runtime_error("outputs stopped: " + tail(ingest.err()));
  ingest.signal(SIGTERM);
  ingest.wait(2min);
  int64_t first = -1;
  int64_t after = 0;
  auto records = env.read(topic);
  for (auto& r : records) {
    if (r.timestamp <= killed_at || r.key.empty())
      continue;
    ++after;
    if (owners[bucket_of(r.key, n)] == victim_name
        && (first < 0 || r.timestamp < first))
      first = r.timestamp;
  }
  auto moved = std::count(owners.begin(), owners.end(), victim_name);
  std::printf("recovery: killed 1 of 2 batcher nodes (%ld of %u buckets) "
              "with %lld of %lld outputs written\n",
              static_cast<long>(moved), n,
              static_cast<long long>(records.size() - after),
              static_cast<long long>(words));
  // When the ingest node saw the loss: its log line's UTC time of day.
  auto err = ingest.err();
  auto gone = err.find(" is gone");
  auto line = err.rfind('\n', gone) + 1;
  if (gone != std::string::npos && err.size() > line + 12) {
    auto t = err.substr(line, 12); // HH:MM:SS.mmm
    auto of_day = ((std::stoll(t.substr(0, 2)) * 60 + std::stoll(t.substr(3, 2)))
                     * 60
                   + std::stoll(t.substr(6, 2)))
                    * 1000
                  + std::stoll(t.substr(9, 3));
    auto delta = (of_day - killed_at % 86400000 + 86400000) % 86400000;
    std::printf("recovery: the ingest node saw the loss %lld ms after the "
                "kill\n",
                static_cast<long long>(delta > 43200000 ? delta - 86400000
                                                        : delta));
  }
  if (first < 0)
    std::printf("recovery: no output from the moved buckets after the kill\n");
  else
    std::printf("recovery: first output from a moved bucket %lld ms after "
                "the kill\n",
                static_cast<long long>(first - killed_at));
  std::printf("recovery: %lld duplicate outputs (%.1f%% of the words)\n",
              static_cast<long long>(records.size()) - words,
              100.0 * static_cast<double>(records.size() - words) / words);
}

struct bench_config : program_config {
  std::size_t lines = 4000;
  int latency_ms = 5;
  int buckets = 10;

  bench_config() : program_config("rpcbatch-bench-scaleout", usage) {
    add_options()
      .add(lines, "lines", "input lines of ~200 bytes (~35 words)")
      .add(latency_ms, "latency-ms", "resolver latency per call")
      .add(buckets, "buckets", "node buckets");
  }
};

int run(const bench_config& cfg) {
  auto lines = cfg.lines;
  check_range("lines", lines, std::size_t{1}, std::size_t{1000000});
  check_range("latency-ms", cfg.latency_ms, 0, 60000);
  check_range("buckets", cfg.buckets, 1, 256);
  resolver_options ropts;
  ropts.latency_ms = cfg.latency_ms;
  auto buckets = std::to_string(cfg.buckets);
  environment env{ropts};
  auto corpus = make_corpus(7, lines);
  env.produce(corpus);
  std::printf("input: %zu lines, %llu words; resolver latency %d ms\n",
              corpus.size(),
              static_cast<unsigned long long>(count_words(corpus)),
              ropts.latency_ms);
  for (auto [ingests, nodes] : {std::pair{1, 1}, {1, 2}, {2, 2}}) {
    std::printf("throughput: %d ingest node(s), %d batcher node(s): ",
                ingests, nodes);
    try {
      std::printf("%.0f words/s\n", throughput(env, ingests, nodes, buckets));
    } catch (const std::runtime_error& e) {
      // The other rows still tell something.
      std::printf("failed: %s\n", e.what());
    }
    std::fflush(stdout);
  }
  recovery(env, corpus, buckets);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  bench_config cfg;
  return run_program(cfg, argc, argv, [&] { return run(cfg); });
}
