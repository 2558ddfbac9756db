// rpcbatch-bench-pipeline: the node end to end against the embedded broker
// and an in-process resolver, next to the raw ceilings of the same tools,
// all on one broker and one resolver in one run.
//
// It writes --lines lines of generated text to input-topic. Every round then
// measures
//  - the ceilings: a plain librdkafka consumer reading input-topic from the
//    beginning with the node's consumer settings (records/s, words/s), raw
//    librdkafka produce of the output records the input should give, and
//    async resolveBatch calls/s at every batch size and the in-flight bound;
//  - for every batch size, without and with the result cache, every node in
//    turn: `rpcbatch-node --bounded --offset-reset=earliest` (a fresh group
//    and output topic each time) on the input as a backlog: words/s, rpc
//    calls, peak RSS and, from the Kafka timestamps of the output records,
//    the longest gap in the output (the input is all there, so the output
//    should never stall) and when half and 99% of it was out;
//  - every node streaming while --steady lines a second arrive on a topic of
//    their own for --steady-secs: p50/p99 latency from record timestamp to
//    delivery, as the node's summary gives it.
// Each run prints a progress line; at the end one table gives every figure
// as the median over the rounds (with the range when there are several).
// --nodes=A,B compares two builds (or two settings: "PATH --option=X") in
// the same run on the same machine.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

#include "actors/pipeline/formats.hpp"
#include "actors/pipeline/words.hpp"
#include "services/config/program.hpp"
#include "services/tools/embedded_broker.hpp"
#include "services/adapters/kafka.hpp"
#include "services/adapters/kafka_consumer.hpp"
#include "services/tools/resolver_service.hpp"
#include "services/adapters/rpc_client.hpp"
#include "services/tools/textgen.hpp"
#include "tests/bench/report.hpp"
#include "tests/bench/rpc_load.hpp"
#include "tests/support/harness.hpp"
#include "tests/support/process.hpp"

namespace {

using namespace rpcbatch;
using namespace rpcbatch::bench;
using clock_type = std::chrono::steady_clock;

constexpr const char* usage = R"(usage: rpcbatch-bench-pipeline [options]

Prints the raw ceilings (consume of the input, produce of the outputs,
resolveBatch at every batch size), then the node on the input as a backlog
at every batch size without and with the result cache, then its latency at a
steady input rate; at the end one table of the medians over the rounds.
)";

// -- options ------------------------------------------------------------------

struct bench_options {
  uint64_t lines = 0;
  std::vector<std::size_t> batch_sizes;
  std::size_t cache_entries = 0;
  int partitions = 0;
  std::size_t inflight = 0;
  int latency_ms = 0;
  /// --node-args.
  std::vector<std::string> extra;
  std::vector<node_spec> nodes;
  int rounds = 0;
  /// Lines a second of the steady run; 0 skips it.
  double steady_rate = 0;
  double steady_secs = 0;
};

std::vector<std::size_t> parse_sizes(const std::string& text) {
  std::vector<std::size_t> out;
  for (auto& item : split(text, ',')) {
    auto end = std::size_t{0};
    auto n = 0ul;
    try {
      n = std::stoul(item, &end);
    } catch (const std::exception&) {
      end = 0;
    }
    if (end != item.size() || n == 0)
      throw cli_error("bad batch size '" + item + "'");
    out.push_back(n);
  }
  if (out.empty())
    throw cli_error("no batch sizes");
  return out;
}

/// The options as given; parse_options() makes bench_options of them.
struct bench_config : program_config {
  uint64_t lines = 20000;
  std::string batch_sizes = "10,100";
  std::size_t cache_entries = 100000;
  int partitions = 24;
  std::size_t inflight = 64;
  int latency_ms = 0;
  std::string node_args;
  std::string nodes = std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-node";
  int rounds = 1;
  int steady = 1000;
  int steady_secs = 10;

  bench_config() : program_config("rpcbatch-bench-pipeline", usage) {
    add_options()
      .add(lines, "lines", "input lines of ~200 bytes (~35 words)")
      .add(batch_sizes, "batch-sizes", "node batch sizes to measure: A,B,...")
      .add(cache_entries, "cache-entries",
           "the cache rows run the node with --cache-entries=N (0: no cache "
           "rows)")
      .add(partitions, "partitions",
           "input partitions (the embedded broker keeps only ~5 MiB per "
           "partition)")
      .add(inflight, "inflight",
           "--rpc-max-inflight of the node (its default) and the raw RPC "
           "run")
      .add(latency_ms, "latency-ms", "resolver latency per call")
      .add(node_args, "node-args", "extra node options, space separated")
      .add(nodes, "nodes",
           "nodes to compare, alternating: a binary, optionally with options "
           "of its own (\"PATH --opt=X,PATH --opt=Y\"; they come last and "
           "win)")
      .add(rounds, "rounds",
           "rounds of every measurement; the table gives medians and min-max")
      .add(steady, "steady",
           "the steady run: this many lines a second arrive while each node "
           "streams (its default batch size, no cache), p50/p99 latency from "
           "input to output (0: skip)")
      .add(steady_secs, "steady-secs", "how long the steady input lasts");
  }
};

bench_options parse_options(const bench_config& c) {
  check_range("lines", c.lines, uint64_t{1}, uint64_t{100000000});
  check_range("cache-entries", c.cache_entries, std::size_t{0},
              std::size_t{1000000000});
  check_range("partitions", c.partitions, 1, 1000);
  check_range("inflight", c.inflight, std::size_t{1}, std::size_t{10000});
  check_range("latency-ms", c.latency_ms, 0, 60000);
  check_range("rounds", c.rounds, 1, 100);
  check_range("steady", c.steady, 0, 1000000);
  check_range("steady-secs", c.steady_secs, 1, 3600);
  bench_options o;
  o.lines = c.lines;
  o.batch_sizes = parse_sizes(c.batch_sizes);
  o.cache_entries = c.cache_entries;
  o.partitions = c.partitions;
  o.inflight = c.inflight;
  o.latency_ms = c.latency_ms;
  o.extra = split(c.node_args, ' ');
  o.nodes = parse_nodes(c.nodes);
  o.rounds = c.rounds;
  o.steady_rate = c.steady;
  o.steady_secs = c.steady_secs;
  return o;
}

// -- figures ------------------------------------------------------------------

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

/// The ceilings of the tools the node is built on, a sample per round.
struct ceilings {
  samples consume_records_per_s;
  samples consume_words_per_s;
  samples produce_records_per_s;
  /// resolveBatch calls/s by batch size.
  std::map<std::size_t, samples> rpc_calls_per_s;
};

/// One row of the table: a node on the backlog at one batch size, with or
/// without the result cache.
struct backlog_row {
  backlog_row(const node_spec& node, std::size_t batch, std::size_t cache)
    : node(&node), batch(batch), cache_asked(cache) {
    // nop
  }

  const node_spec* node;
  std::size_t batch;
  /// The bench's --cache-entries for this row (0: not given, the node's
  /// default: no cache).
  std::size_t cache_asked;
  /// --cache-entries as the node got it (the last one on its command line:
  /// --node-args and the node's own options come after the bench's).
  std::size_t cache_entries = 0;
  samples words_per_s;
  samples calls;
  samples gap_ms;
  samples peak_rss_mb;
  /// When half and 99% of the outputs were out, after the first one (the
  /// node's latency from the input's timestamp would mostly be the time
  /// the backlog waited for this run).
  samples out_p50_ms;
  samples out_p99_ms;
};

/// A node's latency at the steady input rate.
struct steady_row {
  explicit steady_row(const node_spec& node) : node(&node) {
    // nop
  }

  const node_spec* node;
  samples p50_ms;
  samples p99_ms;
};

// -- the raw ceilings ---------------------------------------------------------

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
                    std::size_t inflight) {
  auto calls = std::max<std::size_t>(2000, 20000 / batch * 10);
  rpc_client client{target};
  client.wait_connected(std::chrono::seconds(10));
  return bench::run_rpc_load(client, bench::distinct_words(batch), calls,
                             inflight, std::chrono::seconds(10))
    .calls_per_second();
}

/// What a plain consumer read of a topic.
struct consume_result {
  uint64_t records = 0;
  uint64_t words = 0;
  /// From the assignment to the last record.
  double seconds = 0;
};

/// A librdkafka KafkaConsumer with the node's consumer settings reads
/// `topic` from the beginning to its end offsets at the start, counting
/// records and their words as the tokenizer does. It is assigned each
/// partition at its low watermark, as the node's consumer assigns its
/// partitions at explicit offsets (no group join; OFFSET_BEGINNING would
/// cost an offset lookup first, about half a second here).
consume_result raw_consume(const std::string& bootstrap,
                           const std::string& topic) {
  auto props = consumer_defaults();
  props["bootstrap.servers"] = bootstrap;
  props["group.id"] = "rpcbatch-bench-raw-consume";
  auto conf = make_kafka_conf(props);
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer{
    RdKafka::KafkaConsumer::create(conf.get(), err)};
  if (!consumer)
    throw std::runtime_error("raw consume: " + err);
  // Partition -> the offset at which it is read completely.
  std::map<int32_t, int64_t> todo;
  std::vector<RdKafka::TopicPartition*> parts;
  for (auto& m : watermark_offsets(*consumer, topic, std::chrono::seconds(10)))
    if (m.high > m.low) {
      todo[m.partition] = m.high;
      parts.push_back(RdKafka::TopicPartition::create(
        topic, m.partition, m.low));
    }
  auto t0 = clock_type::now();
  auto rc = consumer->assign(parts);
  RdKafka::TopicPartition::destroy(parts);
  if (rc != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("raw consume: assign: " + RdKafka::err2str(rc));
  consume_result out;
  auto deadline = t0 + std::chrono::minutes(5);
  while (!todo.empty()) {
    if (clock_type::now() >= deadline)
      throw std::runtime_error("raw consume: timed out");
    std::unique_ptr<RdKafka::Message> m{consumer->consume(100)};
    if (m->err() == RdKafka::ERR__TIMED_OUT
        || m->err() == RdKafka::ERR__PARTITION_EOF)
      continue;
    if (m->err() != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("raw consume: " + m->errstr());
    ++out.records;
    std::string_view text{static_cast<const char*>(m->payload()), m->len()};
    for_each_word(text, [&](std::string_view) { ++out.words; });
    auto i = todo.find(m->partition());
    if (i != todo.end() && m->offset() + 1 >= i->second)
      todo.erase(i);
  }
  out.seconds = seconds_since(t0);
  consumer->close();
  return out;
}

// -- node runs ----------------------------------------------------------------

/// When the outputs of a run were written, by their Kafka timestamps: when
/// half and when 99% of them were out, in ms after the first one, and the
/// longest time between two consecutive ones: its length, when it began (ms
/// after the first output) and the share of the outputs written before it.
struct output_times {
  double p50_ms = 0;
  double p99_ms = 0;
  double gap_ms = 0;
  double gap_at_ms = 0;
  double before_gap = 0;
};

output_times times_of_outputs(const std::string& bootstrap,
                              const std::string& topic) {
  std::vector<int64_t> stamps;
  for (auto& r : test::read_topic(bootstrap, topic, std::chrono::minutes(5)))
    stamps.push_back(r.timestamp);
  output_times out;
  if (stamps.empty())
    return out;
  std::sort(stamps.begin(), stamps.end());
  auto after_first = [&](double share) {
    auto i = static_cast<std::size_t>(share * (stamps.size() - 1));
    return static_cast<double>(stamps[i] - stamps.front());
  };
  out.p50_ms = after_first(0.5);
  out.p99_ms = after_first(0.99);
  for (std::size_t i = 1; i < stamps.size(); ++i)
    if (auto gap = static_cast<double>(stamps[i] - stamps[i - 1]);
        gap > out.gap_ms) {
      out.gap_ms = gap;
      out.gap_at_ms = static_cast<double>(stamps[i - 1] - stamps.front());
      out.before_gap = static_cast<double>(i) / stamps.size();
    }
  return out;
}

/// The value of the last --cache-entries=N of a command line (0 if none:
/// the node's default).
std::size_t cache_entries_of(const std::vector<std::string>& argv) {
  const std::string prefix = "--cache-entries=";
  std::size_t out = 0;
  for (auto& arg : argv)
    if (arg.compare(0, prefix.size(), prefix) == 0)
      out = std::stoul(arg.substr(prefix.size()));
  return out;
}

/// The summary a node printed last, or an exception with its stderr.
boost::json::object summary_of(const test::process_result& r,
                               const std::string& what) {
  auto summary = test::parse_summary(r.out);
  if (r.exit_code != 0 || !summary)
    throw std::runtime_error(what + ": the node exited with "
                             + std::to_string(r.exit_code) + "\n"
                             + test::tail(r.err));
  return *summary;
}

double number(const boost::json::object& summary, const char* key) {
  auto x = summary.if_contains(key);
  return x ? x->to_number<double>() : 0;
}

/// The progress line of a backlog run.
void print_backlog_run(const std::string& what, const boost::json::object& s,
                       const output_times& t) {
  auto words = number(s, "words");
  auto calls = number(s, "rpc_calls");
  auto secs = number(s, "active_seconds");
  std::printf("%s: words/s=%.0f rpc_calls/s=%.0f words/call=%.2f "
              "outputs_p50_ms=%.0f outputs_p99_ms=%.0f longest_gap_ms=%.0f "
              "(at +%.0f ms, %.1f%% of the outputs before it) "
              "peak_rss_mb=%.1f rpc_inflight_limit=%.0f "
              "(%.0f decreases) (words=%.0f in %.2f s, outputs=%.0f, "
              "dlq=%.0f, cache_hits=%.0f)\n",
              what.c_str(), number(s, "words_per_s"), calls / secs,
              words / calls, t.p50_ms, t.p99_ms, t.gap_ms, t.gap_at_ms,
              100 * t.before_gap, number(s, "peak_rss_mb"),
              number(s, "rpc_inflight_limit"),
              number(s, "rpc_limit_decreases"), words, secs,
              number(s, "outputs"), number(s, "dlq"), number(s, "cache_hits"));
  std::fflush(stdout);
}

// -- the report ---------------------------------------------------------------

std::string two_decimals(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", x);
  return buf;
}

void print_heading(const bench_options& opts, std::size_t words) {
  auto rounds = opts.rounds == 1 ? std::string{"one round"}
                                 : "median of " + std::to_string(opts.rounds)
                                     + " rounds (min-max)";
  std::printf("\n## rpcbatch-bench-pipeline: %s lines (%s words), "
              "%d partitions, %zu rpc calls in flight, resolver latency "
              "%d ms; %s\n\n",
              grouped(static_cast<double>(opts.lines)).c_str(),
              grouped(static_cast<double>(words)).c_str(), opts.partitions,
              opts.inflight, opts.latency_ms, rounds.c_str());
  for (auto& node : opts.nodes)
    std::printf("- node %s: %s\n", node.label.c_str(), node.text.c_str());
  if (!opts.extra.empty()) {
    std::string args;
    for (auto& a : opts.extra)
      args += " " + a;
    std::printf("- every node also:%s\n", args.c_str());
  }
}

/// What the machine allows the whole pipeline at `batch` words a call: the
/// stages share its CPU, so the harmonic sum of the raw rates (words/s) of
/// consume, resolveBatch (0: without RPC, as with a cache that answers
/// everything) and produce.
double limit_of(const ceilings& c, std::size_t batch) {
  auto inverse = 1 / c.consume_words_per_s.median()
                 + 1 / c.produce_records_per_s.median();
  if (batch > 0)
    inverse += 1 / (c.rpc_calls_per_s.at(batch).median() * batch);
  return 1 / inverse;
}

void print_ceilings(const ceilings& c) {
  std::printf("\nCeilings (same broker and resolver):\n\n");
  std::printf("- raw consume of input-topic (node's consumer settings): "
              "%s records/s, %s words/s\n",
              cell(c.consume_records_per_s).c_str(),
              cell(c.consume_words_per_s).c_str());
  std::printf("- raw produce of the output records: %s records/s\n",
              cell(c.produce_records_per_s).c_str());
  for (auto& [batch, calls] : c.rpc_calls_per_s)
    std::printf("- raw resolveBatch at batch %zu: %s calls/s = %s words/s\n",
                batch, cell(calls).c_str(),
                grouped(calls.median() * batch).c_str());
  std::printf("\nLimits (words/s; 1 / (1/consume + 1/resolveBatch + "
              "1/produce), medians):\n\n");
  for (auto& [batch, calls] : c.rpc_calls_per_s)
    std::printf("- batch %zu: %s\n", batch,
                grouped(limit_of(c, batch)).c_str());
  std::printf("- without RPC (every word from the cache): %s\n",
              grouped(limit_of(c, 0)).c_str());
}

void print_backlog(const std::vector<backlog_row>& backlog,
                   const ceilings& c) {
  std::printf(
    "\nThe node on the backlog. x limit: words/s over the limit of its batch "
    "size, or\nwithout RPC for the cache rows (medians). out p50/p99: when "
    "half and 99%% of the\noutputs were written, ms after the first one "
    "(latency: see the steady run).\n\n");
  std::vector<std::vector<std::string>> rows;
  for (auto& r : backlog) {
    auto limit = limit_of(c, r.cache_entries == 0 ? r.batch : 0);
    auto cache = r.cache_entries == 0
                   ? std::string{"off"}
                   : grouped(static_cast<double>(r.cache_entries));
    if (r.words_per_s.empty()) {
      rows.push_back({r.node->label, std::to_string(r.batch), cache,
                      "failed", "-", "-", "-", "-", "-", "-"});
      continue;
    }
    rows.push_back({r.node->label, std::to_string(r.batch), cache,
                    cell(r.words_per_s),
                    two_decimals(r.words_per_s.median() / limit),
                    cell(r.calls), cell(r.gap_ms),
                    cell(r.peak_rss_mb, one_decimal), cell(r.out_p50_ms),
                    cell(r.out_p99_ms)});
  }
  print_table({"node", "batch", "cache", "words/s", "x limit", "rpc calls",
               "longest gap ms", "peak RSS MB", "out p50 ms", "out p99 ms"},
              rows);
}

void print_steady(const std::vector<steady_row>& steady,
                  const bench_options& opts) {
  std::printf("\nLatency at a steady %s lines/s for %.0f s (the node's "
              "default batch size, no cache):\n\n",
              grouped(opts.steady_rate).c_str(), opts.steady_secs);
  for (auto& r : steady)
    std::printf("- node %s: p50 %s ms, p99 %s ms\n", r.node->label.c_str(),
                cell(r.p50_ms).c_str(), cell(r.p99_ms).c_str());
}

/// One broker and one resolver for every measurement, the input and the
/// output records it should give, and the figures of every round.
class pipeline_bench {
public:
  explicit pipeline_bench(bench_options opts)
    : opts_(std::move(opts)),
      broker_{1,
              {{"input-topic", opts_.partitions},
               {"steady-input", opts_.partitions},
               {"rpc-pardo-stateful-dlq", 3},
               {"raw-output", 12}}},
      resolver_{resolver_opts(opts_.latency_ms)} {
    resolver_.start();
    // In the order of the runs and of the table.
    std::vector<std::size_t> caches{0};
    if (opts_.cache_entries > 0)
      caches.push_back(opts_.cache_entries);
    for (auto batch : opts_.batch_sizes)
      for (auto cache : caches)
        for (auto& node : opts_.nodes)
          backlog_.emplace_back(node, batch, cache);
    for (auto& node : opts_.nodes)
      steady_.emplace_back(node);
  }

  void run() {
    write_input();
    for (int round = 1; round <= opts_.rounds; ++round) {
      std::printf("-- round %d of %d\n", round, opts_.rounds);
      measure_ceilings();
      for (auto& row : backlog_)
        try {
          backlog_run(row);
        } catch (const std::exception& e) {
          // A node that cannot run a row (say, an older build without the
          // cache) leaves that row "failed", not the whole table.
          std::printf("%s\n", e.what());
        }
      if (opts_.steady_rate > 0)
        for (auto& row : steady_)
          steady_run(row);
    }
    print_report();
  }

private:
  static resolver_options resolver_opts(int latency_ms) {
    resolver_options r;
    r.listen = "127.0.0.1:0";
    r.latency_ms = latency_ms;
    return r;
  }

  /// Writes the backlog to input-topic and computes the output records it
  /// should give (the raw produce writes those).
  void write_input() {
    textgen_options t;
    t.bootstrap = broker_.bootstrap();
    t.delay_seconds = 0;
    t.count = opts_.lines;
    t.seed = 7;
    std::atomic<bool> stop{false};
    auto t0 = clock_type::now();
    produce_text(t, stop);
    std::printf("input: %llu lines written in %.2f s\n",
                static_cast<unsigned long long>(opts_.lines),
                seconds_since(t0));
    std::mt19937_64 rng{t.seed};
    for (uint64_t i = 0; i < opts_.lines; ++i)
      for_each_word(make_text(rng), [&](std::string_view w) {
        outputs_.emplace_back(std::string{w},
                              output_json(w, static_cast<int32_t>(w.size())));
      });
    std::printf("input: %zu words\n", outputs_.size());
  }

  void measure_ceilings() {
    auto c = raw_consume(broker_.bootstrap(), "input-topic");
    ceilings_.consume_records_per_s.add(c.records / c.seconds);
    ceilings_.consume_words_per_s.add(c.words / c.seconds);
    std::printf("ceiling: raw consume %.0f records/s = %.0f words/s "
                "(%llu records, %llu words in %.2f s)\n",
                c.records / c.seconds, c.words / c.seconds,
                static_cast<unsigned long long>(c.records),
                static_cast<unsigned long long>(c.words), c.seconds);
    auto produce = raw_produce_rate(broker_.bootstrap(), "raw-output",
                                    outputs_);
    ceilings_.produce_records_per_s.add(produce);
    std::printf("ceiling: raw produce %.0f records/s\n", produce);
    for (auto batch : opts_.batch_sizes) {
      auto rate = raw_rpc_rate(resolver_.address(), batch, opts_.inflight);
      ceilings_.rpc_calls_per_s[batch].add(rate);
      std::printf("ceiling: batch %zu: rpc %.0f calls/s = %.0f words/s at "
                  "%zu in flight\n",
                  batch, rate, rate * batch, opts_.inflight);
    }
    std::fflush(stdout);
  }

  /// A new output topic, named after `prefix` and the number of the run.
  std::string fresh_topic(const std::string& prefix) {
    auto name = prefix + "-" + std::to_string(++runs_);
    broker_.create_topic({name, 12});
    return name;
  }

  /// The node's command line: `node`'s binary; where the broker and the
  /// resolver are; `name` for the group and the output topic (a fresh one
  /// each run); `mode`, what the run measures; then --node-args and the
  /// node's own options, last so that they win.
  std::vector<std::string>
  node_command(const node_spec& node, const std::string& name,
               const std::vector<std::string>& mode) const {
    std::vector<std::string> argv{node.words.front(),
                                  "--bootstrap-servers=" + broker_.bootstrap(),
                                  "--rpc-target=" + resolver_.address(),
                                  "--group-id=" + name,
                                  "--output-topic=" + name,
                                  "--dlq-topic=rpc-pardo-stateful-dlq",
                                  "--stats-secs=0"};
    argv.insert(argv.end(), mode.begin(), mode.end());
    argv.insert(argv.end(), opts_.extra.begin(), opts_.extra.end());
    argv.insert(argv.end(), node.words.begin() + 1, node.words.end());
    return argv;
  }

  /// The node on the whole input as a backlog, until it is done (--bounded).
  void backlog_run(backlog_row& row) {
    std::vector<std::string> mode{
      "--bounded", "--offset-reset=earliest",
      "--batch-size=" + std::to_string(row.batch),
      "--rpc-max-inflight=" + std::to_string(opts_.inflight),
      "--log-level=warn"};
    // Only the cache rows name the option, so that a build from before the
    // cache runs the others.
    if (row.cache_asked > 0)
      mode.push_back("--cache-entries=" + std::to_string(row.cache_asked));
    auto name = fresh_topic("out");
    auto argv = node_command(*row.node, name, mode);
    row.cache_entries = cache_entries_of(argv);
    auto what = "batch " + std::to_string(row.batch) + " ["
                + row.node->text + "]";
    auto s = summary_of(test::run_process(argv, "", std::chrono::minutes(30)),
                        what);
    auto times = times_of_outputs(broker_.bootstrap(), name);
    row.words_per_s.add(number(s, "words_per_s"));
    row.calls.add(number(s, "rpc_calls"));
    row.gap_ms.add(times.gap_ms);
    row.peak_rss_mb.add(number(s, "peak_rss_mb"));
    row.out_p50_ms.add(times.p50_ms);
    row.out_p99_ms.add(times.p99_ms);
    print_backlog_run(what + " cache=" + std::to_string(row.cache_entries), s,
                      times);
  }

  /// The node streaming from steady-input (from its end) while
  /// --steady lines a second arrive for --steady-secs; its latency from
  /// record timestamp to delivery, as its summary gives it after the drain.
  void steady_run(steady_row& row) {
    auto argv = node_command(*row.node, fresh_topic("steady"),
                             {"--input-topic=steady-input",
                              "--offset-reset=latest", "--log-level=info"});
    auto what = "steady " + std::to_string(std::lround(opts_.steady_rate))
                + " lines/s [" + row.node->text + "]";
    test::child_process node{argv};
    if (!node.wait_for_stderr("assigned", std::chrono::seconds(60)))
      throw std::runtime_error(what + ": the node got no partitions\n"
                               + test::tail(node.err()));
    textgen_options t;
    t.bootstrap = broker_.bootstrap();
    t.topic = "steady-input";
    t.delay_seconds = 1 / opts_.steady_rate;
    t.count = static_cast<uint64_t>(opts_.steady_rate * opts_.steady_secs);
    t.seed = 1000 + static_cast<uint64_t>(runs_);
    std::atomic<bool> stop{false};
    produce_text(t, stop);
    node.signal(SIGTERM);
    test::process_result r;
    r.exit_code = node.wait(std::chrono::seconds(120)).value_or(-1);
    node.wait_output_closed(std::chrono::seconds(10));
    r.out = node.out();
    r.err = node.err();
    auto s = summary_of(r, what);
    row.p50_ms.add(number(s, "latency_ms_p50"));
    row.p99_ms.add(number(s, "latency_ms_p99"));
    std::printf("%s: p50_ms=%.0f p99_ms=%.0f (words=%.0f, outputs=%.0f)\n",
                what.c_str(), number(s, "latency_ms_p50"),
                number(s, "latency_ms_p99"), number(s, "words"),
                number(s, "outputs"));
    std::fflush(stdout);
  }

  void print_report() const {
    print_heading(opts_, outputs_.size());
    print_ceilings(ceilings_);
    print_backlog(backlog_, ceilings_);
    if (opts_.steady_rate > 0)
      print_steady(steady_, opts_);
    std::fflush(stdout);
  }

  bench_options opts_;
  embedded_broker broker_;
  resolver_server resolver_;
  /// The output records the input should give.
  std::vector<std::pair<std::string, std::string>> outputs_;
  ceilings ceilings_;
  std::vector<backlog_row> backlog_;
  std::vector<steady_row> steady_;
  /// Node runs so far, for fresh group and topic names.
  int runs_ = 0;
};

} // namespace

int main(int argc, char** argv) {
  bench_config cfg;
  return run_bench<pipeline_bench>(cfg, argc, argv, parse_options);
}
