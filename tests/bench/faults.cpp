// rpcbatch-bench-faults: what faults cost the node, measured from outside
// (the scenarios of tests/faults.hpp, which faults_test.cpp runs smaller).
// Every input word is unique, so that missing and duplicate outputs are
// counted exactly and each output maps to its input partition. Each run has
// a broker and a resolver of its own, with the input written up front as a
// backlog.
//
// - kill: the resolver answers in --kill-latency-ms; a node is killed with
//   SIGKILL at about 1/3 and 2/3 of the words out and restarted after each,
//   the last run --bounded to finish. Missing outputs (must be 0),
//   duplicates as a share of the input, the time from the first output to
//   the first commit, the total time.
// - join: the resolver answers in --join-latency-ms; node A runs, node B
//   joins the group mid-backlog and leaves again (SIGTERM), A finishes.
//   Missing, duplicates, the longest revoke (from the nodes' logs), the
//   longest time an input partition with words left got no output (from the
//   outputs' timestamps), the total time.
// Both: the longest time the committed offsets stood still while input was
// left, and whether a partition's committed offset ever moved back (polled
// every 200 ms).
//
// Each run prints a line; at the end one table per scenario gives every
// figure as the median over the rounds (with the range when they differ).
// --nodes=A,B compares two builds (or settings: "PATH --option=X") in the
// same run, alternating.
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "services/config/program.hpp"
#include "tests/bench/report.hpp"
#include "tests/support/faults.hpp"

namespace {

using namespace rpcbatch;
using namespace rpcbatch::bench;
namespace faults = rpcbatch::test::faults;

constexpr const char* usage = R"(usage: rpcbatch-bench-faults [options]

Runs the node through faults on a backlog of unique words: kill -9 twice
(kill), a second member joining and leaving the group (join). Prints a line
per run and at the end the medians over the rounds.
)";

struct bench_config : program_config {
  uint64_t words = 222000;
  std::size_t words_per_record = 30;
  int partitions = 12;
  int output_partitions = 24;
  int kill_latency_ms = 20;
  int join_latency_ms = 50;
  std::string scenarios = "kill,join";
  std::string node_args;
  std::string nodes = std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-node";
  int rounds = 1;
  int timeout_secs = 900;

  bench_config() : program_config("rpcbatch-bench-faults", usage) {
    add_options()
      .add(words, "words", "input words, each unique")
      .add(words_per_record, "words-per-record", "words in an input record")
      .add(partitions, "partitions", "partitions of the input topic")
      .add(output_partitions, "output-partitions",
           "partitions of the output topic (the embedded broker keeps about "
           "5 MiB per partition, duplicates included)")
      .add(kill_latency_ms, "kill-latency-ms",
           "resolver latency per call in the kill scenario")
      .add(join_latency_ms, "join-latency-ms",
           "resolver latency per call in the join scenario")
      .add(scenarios, "scenarios", "scenarios to run: kill,join")
      .add(node_args, "node-args", "extra node options, space separated")
      .add(nodes, "nodes",
           "nodes to compare, alternating: a binary, optionally with options "
           "of its own (\"PATH --opt=X,PATH --opt=Y\"; they come last and "
           "win)")
      .add(rounds, "rounds",
           "rounds of every scenario; the tables give medians and min-max")
      .add(timeout_secs, "timeout-secs", "bound on one scenario run");
  }
};

/// The figures of one scenario for one node, a sample per round.
struct row {
  row(std::string scenario, const node_spec& node)
    : scenario(std::move(scenario)), node(&node) {
    // nop
  }

  std::string scenario;
  const node_spec* node;
  samples missing;
  samples foreign;
  samples duplicates_pct;
  samples first_commit_s;
  samples total_s;
  samples standstill_s;
  samples revoke_s;
  samples partition_gap_s;
  std::vector<samples> committed_at_kills_pct;
  /// Rounds in which a committed offset moved back, and how often.
  int backwards_rounds = 0;
  std::size_t backwards_moves = 0;
  /// Rounds that ended with offsets not committed.
  int uncommitted_rounds = 0;
  /// Rounds that did not run to their end (no figures from them).
  int failed_rounds = 0;
};

struct bench_options {
  faults::unique_input input;
  int output_partitions = 0;
  int kill_latency_ms = 0;
  int join_latency_ms = 0;
  std::vector<std::string> scenarios;
  std::vector<std::string> extra;
  std::vector<node_spec> nodes;
  int rounds = 0;
  int timeout_secs = 0;
};

bench_options parse_options(const bench_config& c) {
  check_range("words", c.words, uint64_t{3}, uint64_t{10000000});
  check_range("words-per-record", c.words_per_record, std::size_t{1},
              std::size_t{100000});
  check_range("partitions", c.partitions, 1, 1000);
  check_range("output-partitions", c.output_partitions, 1, 1000);
  check_range("kill-latency-ms", c.kill_latency_ms, 0, 60000);
  check_range("join-latency-ms", c.join_latency_ms, 0, 60000);
  check_range("rounds", c.rounds, 1, 100);
  check_range("timeout-secs", c.timeout_secs, 10, 86400);
  bench_options o;
  o.input = faults::unique_input{c.words, c.words_per_record, c.partitions};
  o.output_partitions = c.output_partitions;
  o.kill_latency_ms = c.kill_latency_ms;
  o.join_latency_ms = c.join_latency_ms;
  o.scenarios = split(c.scenarios, ',');
  for (auto& s : o.scenarios)
    if (s != "kill" && s != "join")
      throw cli_error("unknown scenario '" + s + "' (kill or join)");
  if (o.scenarios.empty())
    throw cli_error("no scenarios");
  o.extra = split(c.node_args, ' ');
  o.nodes = parse_nodes(c.nodes);
  o.rounds = c.rounds;
  o.timeout_secs = c.timeout_secs;
  return o;
}

class faults_bench {
public:
  explicit faults_bench(bench_options opts) : opts_(std::move(opts)) {
    for (auto& scenario : opts_.scenarios)
      for (auto& node : opts_.nodes)
        rows_.emplace_back(scenario, node);
  }

  void run() {
    for (int round = 1; round <= opts_.rounds; ++round) {
      std::printf("-- round %d of %d\n", round, opts_.rounds);
      std::fflush(stdout);
      for (auto& r : rows_)
        run_once(r, round);
    }
    print_report();
  }

private:
  void run_once(row& r, int round) {
    auto what = r.scenario + " [" + r.node->label + ": " + r.node->text
                + "] round " + std::to_string(round);
    faults::setup s;
    s.node = {r.node->words.front()};
    s.node.insert(s.node.end(), opts_.extra.begin(), opts_.extra.end());
    s.node.insert(s.node.end(), r.node->words.begin() + 1,
                  r.node->words.end());
    s.input = opts_.input;
    s.output_partitions = opts_.output_partitions;
    s.latency_ms = r.scenario == "kill" ? opts_.kill_latency_ms
                                        : opts_.join_latency_ms;
    s.timeout = std::chrono::seconds(opts_.timeout_secs);
    s.say = [&](const std::string& line) {
      std::printf("  %s: %s\n", what.c_str(), line.c_str());
      std::fflush(stdout);
    };
    faults::result res;
    try {
      res = r.scenario == "kill" ? faults::kill_twice(s)
                                 : faults::join_leave(s);
    } catch (const std::exception& e) {
      res.failure = e.what();
    }
    std::printf("%s: %s\n", what.c_str(), faults::describe(res).c_str());
    if (!res.failure.empty()) {
      ++r.failed_rounds;
      std::printf("%s\n", res.logs.c_str());
      std::fflush(stdout);
      return;
    }
    std::fflush(stdout);
    r.missing.add(static_cast<double>(res.missing));
    r.foreign.add(static_cast<double>(res.foreign));
    r.duplicates_pct.add(100 * res.duplicate_share());
    if (res.first_output_to_commit_s >= 0)
      r.first_commit_s.add(res.first_output_to_commit_s);
    r.total_s.add(res.total_s);
    r.standstill_s.add(res.longest_commit_standstill_s);
    r.revoke_s.add(res.revokes.longest_s);
    r.partition_gap_s.add(res.longest_partition_gap.longest_s);
    if (r.committed_at_kills_pct.size() < res.committed_at_kills.size())
      r.committed_at_kills_pct.resize(res.committed_at_kills.size());
    for (std::size_t i = 0; i < res.committed_at_kills.size(); ++i)
      r.committed_at_kills_pct[i].add(100 * res.committed_at_kills[i]);
    if (!res.commits_backwards.empty()) {
      ++r.backwards_rounds;
      r.backwards_moves += res.commits_backwards.size();
    }
    if (!res.all_committed)
      ++r.uncommitted_rounds;
  }

  /// "never", or "N moves in K of R rounds".
  std::string backwards_cell(const row& r) const {
    if (r.backwards_rounds == 0)
      return r.missing.empty() ? "-" : "never";
    return std::to_string(r.backwards_moves) + " move(s) in "
           + std::to_string(r.backwards_rounds) + " of "
           + std::to_string(r.missing.size()) + " round(s)";
  }

  /// What a row's rounds did beyond their figures: failed rounds, offsets
  /// left uncommitted.
  std::string notes(const row& r) const {
    std::string out;
    if (r.failed_rounds > 0)
      out += std::to_string(r.failed_rounds) + " round(s) failed";
    if (r.uncommitted_rounds > 0)
      out += (out.empty() ? "" : ", ")
             + std::to_string(r.uncommitted_rounds)
             + " round(s) ended uncommitted";
    return out.empty() ? "-" : out;
  }

  void print_report() const {
    auto rounds = opts_.rounds == 1 ? std::string{"one round"}
                                    : "median of "
                                        + std::to_string(opts_.rounds)
                                        + " rounds (min-max)";
    std::printf("\n## rpcbatch-bench-faults: %s unique words, %zu a record, "
                "%d input partitions; %s\n\n",
                grouped(static_cast<double>(opts_.input.words)).c_str(),
                opts_.input.per_record, opts_.input.partitions,
                rounds.c_str());
    for (auto& node : opts_.nodes)
      std::printf("- node %s: %s\n", node.label.c_str(), node.text.c_str());
    if (!opts_.extra.empty()) {
      std::string args;
      for (auto& a : opts_.extra)
        args += " " + a;
      std::printf("- every node also:%s\n", args.c_str());
    }
    for (auto& scenario : opts_.scenarios)
      if (scenario == "kill")
        print_kill();
      else
        print_join();
    std::fflush(stdout);
  }

  void print_kill() const {
    std::printf(
      "\nkill -9 twice under a backlog (resolver at %d ms; kills at 1/3 and "
      "2/3 of the\nwords out, the third run --bounded). duplicates: share of "
      "the input; first commit:\nfrom the first output; committed at kills: "
      "share of the input records; partition\ngap: the longest time an "
      "input partition with words left got no output;\ncommits still: the "
      "longest time the committed offsets did not move (both with\nthe "
      "restarts).\n\n",
      opts_.kill_latency_ms);
    std::vector<std::vector<std::string>> rows;
    for (auto& r : rows_) {
      if (r.scenario != "kill")
        continue;
      std::string kills;
      for (auto& k : r.committed_at_kills_pct)
        kills += (kills.empty() ? "" : " / ") + cell(k, one_decimal);
      rows.push_back({r.node->label, cell(r.missing), cell(r.foreign),
                      cell(r.duplicates_pct, one_decimal),
                      cell(r.first_commit_s, one_decimal),
                      cell(r.total_s, one_decimal),
                      kills.empty() ? "-" : kills,
                      cell(r.partition_gap_s, one_decimal),
                      cell(r.standstill_s, one_decimal), backwards_cell(r),
                      notes(r)});
    }
    print_table({"node", "missing", "foreign", "duplicates %",
                 "first commit s", "total s", "committed at kills %",
                 "partition gap s", "commits still s", "commits backwards",
                 "notes"},
                rows);
  }

  void print_join() const {
    std::printf(
      "\nA second member joining and leaving under a backlog (resolver at "
      "%d ms). revoke:\nthe longest, from the nodes' logs; partition gap: "
      "the longest time an input\npartition with words left got no output; "
      "commits still: the longest time the\ncommitted offsets did not move; "
      "total: until every input offset was committed.\n\n",
      opts_.join_latency_ms);
    std::vector<std::vector<std::string>> rows;
    for (auto& r : rows_) {
      if (r.scenario != "join")
        continue;
      rows.push_back({r.node->label, cell(r.missing), cell(r.foreign),
                      cell(r.duplicates_pct, one_decimal),
                      cell(r.revoke_s, one_decimal),
                      cell(r.partition_gap_s, one_decimal),
                      cell(r.standstill_s, one_decimal),
                      cell(r.total_s, one_decimal), backwards_cell(r),
                      notes(r)});
    }
    print_table({"node", "missing", "foreign", "duplicates %", "revoke s",
                 "partition gap s", "commits still s", "total s",
                 "commits backwards", "notes"},
                rows);
  }

  bench_options opts_;
  std::vector<row> rows_;
};

} // namespace

int main(int argc, char** argv) {
  bench_config cfg;
  return run_bench<faults_bench>(cfg, argc, argv, parse_options);
}
