// rpcbatch-bench-pipeline: the node end to end against the embedded broker
// and an in-process resolver, next to the raw ceilings of the same tools.
//
// It writes --lines lines of generated text to input-topic, then for every
// batch size runs `rpcbatch-node --bounded --offset-reset=earliest` (a fresh
// group and output topic each time) and prints words/s, rpc calls/s, mean
// words per call, p50/p99 latency from record timestamp to delivery, the
// longest gap in the output (Kafka timestamps of the output records: the
// input is a backlog, so the output should never stall) and the node's peak
// RSS. With --nodes=A,B,... every batch size runs each node in turn,
// --rounds times, so that two builds (or two settings: "PATH --option=X")
// are compared in the same run.
// The ceilings: raw librdkafka produce rate of the same output records, and
// the raw async resolveBatch rate at the same batch size and in-flight bound.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <boost/json/parse.hpp>
#include <librdkafka/rdkafkacpp.h>

#include "actors/sink.hpp"
#include "actors/tokenizer.hpp"
#include "services/cli.hpp"
#include "services/embedded_broker.hpp"
#include "services/kafka.hpp"
#include "services/resolver_service.hpp"
#include "services/rpc_client.hpp"
#include "services/textgen.hpp"
#include "tests/bench/rpc_load.hpp"
#include "tests/harness.hpp"
#include "tests/process.hpp"

namespace {

using namespace rpcbatch;
using clock_type = std::chrono::steady_clock;

constexpr const char* usage = R"(usage: rpcbatch-bench-pipeline [options]

  --lines=N          input lines of ~200 bytes (~35 words) (default 20000)
  --batch-sizes=A,B  node batch sizes to measure (default 10,100)
  --partitions=N     input partitions (default 24; the embedded broker keeps
                     only ~5 MiB per partition)
  --inflight=N       --rpc-max-inflight of the node and the raw RPC run
                     (default 16)
  --latency-ms=N     resolver latency per call (default 0)
  --node-args="..."  extra node options, space separated
  --nodes=A,B        nodes to compare, alternating: a binary, optionally
                     with options of its own ("PATH --opt=X,PATH --opt=Y");
                     default: the one built with this bench
  --rounds=N         runs of every binary at every batch size (default 1)
  --steady=N         instead of a backlog: each node streams while N lines
                     a second arrive for --steady-secs (default 10), and
                     the p50/p99 latency from input to output is printed
)";

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> out;
  std::istringstream in{text};
  std::string item;
  while (std::getline(in, item, sep))
    if (!item.empty())
      out.push_back(item);
  return out;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// Raw produce rate of `records` (key, value) with the node's producer
/// settings; records/s.
double raw_produce_rate(const std::string& bootstrap, const std::string& topic,
                        const std::vector<std::pair<std::string, std::string>>&
                          records) {
  auto conf = make_kafka_conf({{"bootstrap.servers", bootstrap},
                               {"enable.idempotence", "true"},
                               {"linger.ms", "5"},
                               {"queue.buffering.max.messages", "2000000"},
                               {"queue.buffering.max.kbytes", "2097151"}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> producer{
    RdKafka::Producer::create(conf.get(), err)};
  if (!producer)
    throw std::runtime_error(err);
  auto t0 = clock_type::now();
  for (auto& [key, value] : records) {
    while (producer->produce(topic, RdKafka::Topic::PARTITION_UA,
                             RdKafka::Producer::RK_MSG_COPY,
                             const_cast<char*>(value.data()), value.size(),
                             key.data(), key.size(), 0, nullptr)
           == RdKafka::ERR__QUEUE_FULL)
      producer->poll(10);
    producer->poll(0);
  }
  if (flush_producer(*producer, std::chrono::seconds(60)) != 0)
    throw std::runtime_error("raw produce: records left undelivered");
  return static_cast<double>(records.size()) / seconds_since(t0);
}

/// Raw resolveBatch calls/s at `batch` unique words with `inflight` calls.
double raw_rpc_rate(const std::string& target, std::size_t batch,
                    std::size_t inflight, std::size_t calls) {
  rpc_client client{target};
  client.wait_connected(std::chrono::seconds(10));
  return bench::run_rpc_load(client, bench::distinct_words(batch), calls,
                             inflight, std::chrono::seconds(10))
    .calls_per_second();
}

/// The longest time between two consecutive output records (by their Kafka
/// timestamps): its length, when it began (ms after the first output) and
/// the share of the outputs written before it.
struct output_gap {
  int64_t ms = 0;
  int64_t at_ms = 0;
  double before = 0;
};

output_gap longest_gap(const std::string& bootstrap, const std::string& topic) {
  std::vector<int64_t> stamps;
  for (auto& r : test::read_topic(bootstrap, topic, std::chrono::minutes(5)))
    stamps.push_back(r.timestamp);
  std::sort(stamps.begin(), stamps.end());
  output_gap gap;
  for (std::size_t i = 1; i < stamps.size(); ++i)
    if (stamps[i] - stamps[i - 1] > gap.ms)
      gap = output_gap{stamps[i] - stamps[i - 1], stamps[i - 1] - stamps[0],
                       static_cast<double>(i) / stamps.size()};
  return gap;
}

/// A streaming node (a fresh group and output topic, reading from the end)
/// while `rate` lines a second arrive for `secs`; prints its latency from
/// record timestamp to delivery, as its summary gives it after the drain.
int steady_run(embedded_broker& broker, const std::string& rpc_target,
               const std::vector<std::string>& spec,
               const std::vector<std::string>& extra, int number, double rate,
               double secs) {
  auto out_topic = "steady-" + std::to_string(number);
  broker.create_topic({out_topic, 12});
  std::vector<std::string> argv{spec.front(),
                                "--bootstrap-servers=" + broker.bootstrap(),
                                "--rpc-target=" + rpc_target,
                                "--offset-reset=latest",
                                "--group-id=steady-" + std::to_string(number),
                                "--output-topic=" + out_topic,
                                "--dlq-topic=rpc-pardo-stateful-dlq",
                                "--stats-secs=0",
                                "--log-level=info"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.end(), spec.begin() + 1, spec.end());
  test::child_process node{argv};
  if (!node.wait_for_stderr("assigned", std::chrono::seconds(60))) {
    std::printf("steady: the node got no partitions\n%s\n",
                node.err().c_str());
    return 1;
  }
  textgen_options t;
  t.bootstrap = broker.bootstrap();
  t.delay_seconds = 1 / rate;
  t.count = static_cast<uint64_t>(rate * secs);
  t.seed = 1000 + static_cast<uint64_t>(number);
  std::atomic<bool> stop{false};
  produce_text(t, stop);
  node.signal(SIGTERM);
  if (node.wait(std::chrono::seconds(120)) != 0) {
    std::printf("steady: the node failed\n%s\n", node.err().c_str());
    return 1;
  }
  node.wait_output_closed(std::chrono::seconds(10));
  auto lines_out = split(node.out(), '\n');
  auto s = boost::json::parse(lines_out.back()).as_object();
  auto num = [&](const char* k) { return s[k].to_number<double>(); };
  std::string options;
  for (std::size_t i = 1; i < spec.size(); ++i)
    options += " " + spec[i];
  std::printf("steady %.0f lines/s [%s]: p50_ms=%.0f p99_ms=%.0f "
              "(words=%.0f, outputs=%.0f)\n",
              rate, options.c_str(), num("latency_ms_p50"),
              num("latency_ms_p99"), num("words"), num("outputs"));
  std::fflush(stdout);
  return 0;
}

int run(const command_line& cl) {
  cl.allow_only({"lines", "batch-sizes", "partitions", "inflight",
                 "latency-ms", "node-args", "nodes", "rounds", "steady",
                 "steady-secs"});
  auto lines = static_cast<uint64_t>(cl.integer("lines", 20000, 1, 1e8));
  auto batch_sizes = split(cl.text("batch-sizes", "10,100"), ',');
  auto partitions = static_cast<int>(cl.integer("partitions", 24, 1, 1000));
  auto inflight = static_cast<std::size_t>(cl.integer("inflight", 16, 1, 1e4));
  auto latency = static_cast<int>(cl.integer("latency-ms", 0, 0, 60000));
  auto extra = split(cl.text("node-args", ""), ' ');
  auto nodes = split(
    cl.text("nodes", std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-node"), ',');
  auto rounds = static_cast<int>(cl.integer("rounds", 1, 1, 100));
  auto steady = static_cast<double>(cl.integer("steady", 0, 0, 1e6));
  auto steady_secs = static_cast<double>(cl.integer("steady-secs", 10, 1,
                                                    3600));

  embedded_broker broker{1, {{"input-topic", partitions},
                             {"rpc-pardo-stateful", 12},
                             {"rpc-pardo-stateful-dlq", 3},
                             {"raw-output", 12}}};
  resolver_options ropts;
  ropts.listen = "127.0.0.1:0";
  ropts.latency_ms = latency;
  resolver_server resolver{ropts};
  resolver.start();

  if (steady > 0) {
    int number = 0;
    for (int round = 0; round < rounds; ++round)
      for (auto& node : nodes)
        if (steady_run(broker, resolver.address(), split(node, ' '), extra,
                       ++number, steady, steady_secs)
            != 0)
          return 1;
    return 0;
  }

  // The input, and the output records it should produce.
  textgen_options t;
  t.bootstrap = broker.bootstrap();
  t.delay_seconds = 0;
  t.count = lines;
  t.seed = 7;
  std::atomic<bool> stop{false};
  auto t0 = clock_type::now();
  produce_text(t, stop);
  std::printf("input: %llu lines written in %.2f s\n",
              static_cast<unsigned long long>(lines), seconds_since(t0));
  std::mt19937_64 rng{t.seed};
  std::vector<std::pair<std::string, std::string>> outputs;
  for (uint64_t i = 0; i < lines; ++i)
    for_each_word(make_text(rng), [&](std::string_view w) {
      outputs.emplace_back(std::string{w},
                           output_json(w, static_cast<int32_t>(w.size())));
    });
  std::printf("input: %zu words\n", outputs.size());

  auto produce_ceiling = raw_produce_rate(broker.bootstrap(), "raw-output",
                                          outputs);
  std::printf("ceiling: raw produce %.0f records/s\n", produce_ceiling);

  int run_number = 0;
  for (auto& bs : batch_sizes) {
    auto batch = std::stoul(bs);
    for (int round = 0; round < rounds; ++round) {
      for (auto& node : nodes) {
        auto out_topic = "out-" + std::to_string(++run_number);
        broker.create_topic({out_topic, 12});
        auto spec = split(node, ' ');
        std::vector<std::string> argv{
          spec.front(),
          "--bootstrap-servers=" + broker.bootstrap(),
          "--rpc-target=" + resolver.address(),
          "--bounded",
          "--offset-reset=earliest",
          "--group-id=bench-" + std::to_string(run_number),
          "--output-topic=" + out_topic,
          "--dlq-topic=rpc-pardo-stateful-dlq",
          "--batch-size=" + bs,
          "--rpc-max-inflight=" + std::to_string(inflight),
          "--stats-secs=0",
          "--log-level=warn"};
        argv.insert(argv.end(), extra.begin(), extra.end());
        argv.insert(argv.end(), spec.begin() + 1, spec.end());
        auto r = test::run_process(argv, "", std::chrono::minutes(30));
        auto lines_out = split(r.out, '\n');
        if (r.exit_code != 0 || lines_out.empty()) {
          std::printf("batch %s: %s exited with %d\n%s\n", bs.c_str(),
                      node.c_str(), r.exit_code, r.err.c_str());
          return 1;
        }
        auto s = boost::json::parse(lines_out.back()).as_object();
        auto num = [&](const char* k) { return s[k].to_number<double>(); };
        auto words = num("words");
        auto calls = num("rpc_calls");
        auto secs = num("active_seconds");
        auto gap = longest_gap(broker.bootstrap(), out_topic);
        std::printf(
          "batch %s [%s]: words/s=%.0f rpc_calls/s=%.0f words/call=%.2f "
          "p50_ms=%.0f p99_ms=%.0f longest_gap_ms=%lld (at +%lld ms, "
          "%.1f%% of the outputs before it) peak_rss_mb=%.1f "
          "(words=%.0f in %.2f s, outputs=%.0f, dlq=%.0f)\n",
          bs.c_str(), node.c_str(), num("words_per_s"), calls / secs,
          words / calls, num("latency_ms_p50"), num("latency_ms_p99"),
          static_cast<long long>(gap.ms), static_cast<long long>(gap.at_ms),
          100 * gap.before, num("peak_rss_mb"), words, secs, num("outputs"),
          num("dlq"));
        std::fflush(stdout);
      }
    }
    auto rpc_ceiling = raw_rpc_rate(resolver.address(), batch, inflight,
                                    std::max<std::size_t>(2000, 20000 / batch
                                                                  * 10));
    std::printf("batch %s: ceiling rpc %.0f calls/s = %.0f words/s at %zu in "
                "flight; ceiling produce %.0f records/s\n",
                bs.c_str(), rpc_ceiling, rpc_ceiling * batch, inflight,
                produce_ceiling);
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  return run_tool(argc, argv, usage, run);
}
