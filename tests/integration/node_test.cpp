// rpcbatch-node as a process against an in-process embedded broker and
// resolver: bounded runs, injected RPC failures, restarts after SIGTERM and
// SIGKILL, bad input and bad options. Each case has its own broker.
#include "tests/support/harness.hpp"

#include "actors/pipeline/formats.hpp"
#include "actors/pipeline/words.hpp"

#include <csignal>
#include <filesystem>
#include <numeric>
#include <random>
#include <regex>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

using namespace std::chrono_literals;
using namespace rpcbatch::test;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The node's stderr (tail) on failure of any check in scope.
#define NODE_CONTEXT(run)                                                      \
  INFO("exit code: ", (run).process.exit_code, "\nstdout: ",                   \
       tail((run).process.out, 1000), "\nstderr: ", tail((run).process.err))

/// A node started as a child process is still running and has written its
/// first outputs (mid-stream from here on).
#define REQUIRE_RUNNING_WITH_OUTPUT(env, child)                                \
  INFO("node stderr: ", tail((child).err()));                                  \
  REQUIRE(wait_until(                                                          \
    [&] { return (child).exit_code() || (env).stored(output_topic) > 0; },     \
    60s));                                                                     \
  REQUIRE_FALSE((child).exit_code())

/// A run that drained completely: exit code 0 and a summary.
#define REQUIRE_COMPLETE_RUN(run)                                              \
  NODE_CONTEXT(run);                                                           \
  REQUIRE((run).process.exit_code == 0);                                       \
  REQUIRE((run).has_summary)

/// Checks the summary against the input: every record and word seen, every
/// word written (minus `dead_letters`), and the RPC calls that the resolver
/// received.
void check_summary(const node_run& run, std::size_t records, uint64_t words,
                   uint64_t dead_letters,
                   const rpcbatch::resolver_counts& rpc) {
  auto& s = run.summary;
  CHECK(summary_number(s, "records") == records);
  CHECK(summary_number(s, "words") == words);
  CHECK(summary_number(s, "outputs") == words - dead_letters);
  CHECK(summary_number(s, "dlq") == dead_letters);
  CHECK(summary_number(s, "rpc_calls") == rpc.batch_calls);
  CHECK(rpc.resolve_calls == 0);
  // Every flush is one job; every job is called once plus its retries.
  auto flushes = summary_number(s, "flushes.count")
                 + summary_number(s, "flushes.timer")
                 + summary_number(s, "flushes.end_of_window")
                 + summary_number(s, "flushes.bytes");
  CHECK(summary_number(s, "rpc_calls")
        == flushes + summary_number(s, "rpc_retries"));
}

/// Whether the output multiset has each expected pair at least as often as
/// expected and nothing else; counts the duplicates.
struct coverage {
  std::size_t missing = 0;
  std::size_t duplicates = 0;
  std::size_t foreign = 0;
};

coverage covers(const record_multiset& expected,
                const record_multiset& actual) {
  coverage c;
  auto d = compare(expected, actual);
  c.missing = d.missing;
  c.duplicates = d.extra;
  for (auto& x : actual)
    if (expected.count(x) == 0)
      ++c.foreign;
  c.duplicates -= c.foreign;
  return c;
}

/// The output topic holds exactly the outputs of `corpus` (multiset
/// equality: every word once, nothing else).
void check_exact_output(const environment& env,
                        const std::vector<kafka_value>& corpus) {
  auto diff = compare(expected_outputs(corpus),
                      key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.empty(), diff.describe());
}

/// The output topic holds every output of `corpus` at least once and
/// nothing else; answers the coverage (with the duplicates).
coverage check_every_word(const environment& env,
                          const std::vector<kafka_value>& corpus) {
  auto c = covers(expected_outputs(corpus),
                  key_values(env.read(output_topic)));
  CHECK(c.missing == 0);
  CHECK(c.foreign == 0);
  return c;
}

/// The words an ingest node sent again after losing batcher nodes (the sum
/// of its router's "sending N word(s) again" lines).
uint64_t words_sent_again(const std::string& log) {
  static const std::regex line{"sending ([0-9]+) word\\(s\\) again"};
  uint64_t n = 0;
  for (std::sregex_iterator i{log.begin(), log.end(), line}, end; i != end;
       ++i)
    n += std::stoull((*i)[1].str());
  return n;
}

/// What a bounded ingest run that lost batcher nodes must end with: exit 0,
/// every word at least once, every offset committed, and no more
/// duplicates than words sent again (the input is not read again). Answers
/// the words sent again.
uint64_t check_recovered_run(const environment& env, child_process& ingest,
                             const std::vector<kafka_value>& corpus,
                             const std::string& what) {
  auto code = ingest.wait(std::chrono::seconds{120});
  INFO("ingest node: ", tail(ingest.err()));
  REQUIRE(code);
  CHECK(*code == 0);
  auto c = check_every_word(env, corpus);
  CHECK(env.committed() == env.ends());
  auto again = words_sent_again(ingest.err());
  CHECK(c.duplicates <= again);
  MESSAGE(again, " word(s) sent again, ", c.duplicates, " duplicate outputs ",
          what);
  return again;
}

std::vector<kafka_value> slice(const std::vector<kafka_value>& xs,
                               std::size_t from, std::size_t to) {
  return {xs.begin() + static_cast<std::ptrdiff_t>(from),
          xs.begin() + static_cast<std::ptrdiff_t>(to)};
}

int64_t total(const std::map<int32_t, int64_t>& offsets) {
  int64_t n = 0;
  for (auto& [partition, offset] : offsets)
    n += std::max<int64_t>(0, offset);
  return n;
}

/// A resolver that answers after 2 ms, for nodes limited to 2 calls in
/// flight and 1000 words in flight: at most about 10000 words/s, so that a
/// signal sent soon after the first outputs lands mid-stream. A max wait of
/// 1 s (not 4) lets rare buckets flush, and records complete and commit,
/// sooner.
rpcbatch::resolver_options slow_rpc() {
  rpcbatch::resolver_options opts;
  opts.latency_ms = 2;
  return opts;
}

const std::vector<std::string> throttled = {
  "--offset-reset=earliest", "--rpc-max-inflight=2",
  "--max-inflight-words=1000", "--max-wait-secs=1"};

std::vector<std::string> with(std::vector<std::string> xs,
                              const std::vector<std::string>& more) {
  xs.insert(xs.end(), more.begin(), more.end());
  return xs;
}

} // namespace

TEST_SUITE("node") {

TEST_CASE("node: a bounded run writes one output per word and commits the "
          "end offsets") {
  environment env;
  auto corpus = make_corpus(20240601, 2000);
  env.produce(corpus);
  auto expected = expected_outputs(corpus);
  auto words = count_words(corpus);
  auto run = run_node(
    env.node_command({"--bounded", "--offset-reset=earliest"}));
  REQUIRE_COMPLETE_RUN(run);
  auto diff = compare(expected, key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.empty(), diff.describe());
  CHECK(env.stored(dlq_topic) == 0);
  auto ends = env.ends();
  CHECK(ends.size() == 3);
  CHECK(env.committed() == ends);
  auto rpc = env.resolver().counts();
  check_summary(run, corpus.size(), words, 0, rpc);
  CHECK(summary_number(run.summary, "rpc_retries") == 0);
  CHECK(rpc.failed_calls == 0);
  // Batches of at most batch_size (10) elements, hence at most 10 unique
  // words a call, and at least words / 10 calls.
  CHECK(rpc.max_batch >= 1);
  CHECK(rpc.max_batch <= 10);
  CHECK(rpc.batch_calls >= (words + 9) / 10);
  // Deduplication: each distinct word of a bucket is asked at least once,
  // repeated words within a batch only once.
  std::set<std::string> distinct;
  for (auto& [key, value] : expected)
    distinct.insert(key);
  CHECK(rpc.inputs >= distinct.size());
  CHECK(rpc.inputs < words);
  MESSAGE(corpus.size(), " lines, ", words, " words, ", rpc.batch_calls,
          " resolveBatch calls, ", rpc.inputs, " words asked, ",
          summary_number(run.summary, "flushes.count"), " count flushes");
}

TEST_CASE("node: a bounded run ends at the end of the input, not at the "
          "max-wait timer") {
  // With a max wait of a day, only the end of window can flush the last
  // words of each bucket; if it overtook them, the drain would time out.
  environment env;
  auto corpus = make_corpus(555, 1000);
  env.produce(corpus);
  auto run = run_node(env.node_command(
    {"--bounded", "--offset-reset=earliest", "--max-wait-secs=86400",
     "--drain-timeout-secs=15"}));
  REQUIRE_COMPLETE_RUN(run);
  check_exact_output(env, corpus);
  CHECK(env.committed() == env.ends());
  CHECK(summary_number(run.summary, "flushes.timer") == 0);
  CHECK(summary_number(run.summary, "flushes.end_of_window") > 0);
}

TEST_CASE("node: with 30% of the RPC calls failing, retries lose nothing") {
  rpcbatch::resolver_options ropts;
  ropts.fail_rate = 0.3;
  environment env{ropts};
  auto corpus = make_corpus(77, 200);
  env.produce(corpus);
  auto run = run_node(
    env.node_command({"--bounded", "--offset-reset=earliest"}));
  REQUIRE_COMPLETE_RUN(run);
  check_exact_output(env, corpus);
  CHECK(env.stored(dlq_topic) == 0);
  CHECK(env.committed() == env.ends());
  auto rpc = env.resolver().counts();
  check_summary(run, corpus.size(), count_words(corpus), 0, rpc);
  auto retries = summary_number(run.summary, "rpc_retries");
  CHECK(retries > 0);
  // Every injected failure was retried (none went to the dead letters).
  CHECK(rpc.failed_calls == retries);
  CHECK(rpc.max_batch <= 10);
  MESSAGE(rpc.batch_calls, " calls, ", retries, " retries");
}

TEST_CASE("node: when every RPC call fails the words go to the dead-letter "
          "topic and are committed") {
  rpcbatch::resolver_options ropts;
  ropts.fail_rate = 1;
  environment env{ropts};
  auto corpus = make_corpus(8, 40);
  env.produce(corpus);
  auto run = run_node(env.node_command(
    {"--bounded", "--offset-reset=earliest", "--rpc-give-up-secs=1"}));
  REQUIRE_COMPLETE_RUN(run);
  auto words = count_words(corpus);
  CHECK(env.stored(output_topic) == 0);
  CHECK(env.committed() == env.ends());
  auto& s = run.summary;
  auto rpc = env.resolver().counts();
  CHECK(summary_number(s, "records") == corpus.size());
  CHECK(summary_number(s, "words") == words);
  CHECK(summary_number(s, "outputs") == 0);
  CHECK(summary_number(s, "dlq") == words);
  auto calls = summary_number(s, "rpc_calls");
  auto retries = summary_number(s, "rpc_retries");
  CHECK(calls == rpc.batch_calls);
  CHECK(calls == rpc.failed_calls);
  CHECK(rpc.resolve_calls == 0);
  // A job fails until it has been failing for a second, then goes to the
  // dead letters: each of its failed calls was retried but the one that
  // found it failing that long, if any (the open breaker holds jobs without
  // calling them, and gives up on them from there).
  auto jobs = summary_number(s, "flushes.count")
              + summary_number(s, "flushes.timer")
              + summary_number(s, "flushes.end_of_window")
              + summary_number(s, "flushes.bytes");
  CHECK(retries <= calls);
  CHECK(calls <= retries + jobs);
  // The breaker opened after the first failures: most jobs were never
  // called.
  CHECK(calls < jobs);
  MESSAGE(jobs, " jobs, ", calls, " calls, ", retries, " retries");
  record_multiset dead_words;
  std::size_t with_reason = 0;
  for (auto& r : env.read(dlq_topic)) {
    auto letter = boost::json::parse(r.value).as_object();
    dead_words.emplace(r.key, std::string{letter.at("word").as_string()});
    with_reason += contains(std::string{letter.at("reason").as_string()},
                            "UNAVAILABLE");
  }
  record_multiset expected;
  for (auto& [key, value] : expected_outputs(corpus))
    expected.emplace(key, key);
  auto diff = compare(expected, dead_words);
  CHECK_MESSAGE(diff.empty(), diff.describe());
  CHECK(with_reason == words);
}

TEST_CASE("node: outputs the broker refuses for good are dead letters with "
          "their provenance and the run completes") {
  environment env{slow_rpc()};
  auto corpus = make_corpus(2718, 600);
  env.produce(corpus);
  child_process node{env.node_command(with(throttled, {"--bounded"}))};
  // Mid-stream, the next Produce request (of outputs: no dead letter is
  // written before) is refused for good, as a broker refuses records that
  // break its limits: stopping the node would only meet the same refusal
  // again after a restart.
  REQUIRE_RUNNING_WITH_OUTPUT(env, node);
  env.broker().fail_produce_requests(1, 10 /* MSG_SIZE_TOO_LARGE */, 1);
  auto code = node.wait(120s);
  REQUIRE(code);
  auto run = finished_run(node);
  REQUIRE_COMPLETE_RUN(run);
  CHECK(env.broker().pending_produce_errors(1) == 0);
  // Input records by position, to check each dead letter's provenance.
  std::map<std::pair<int32_t, int64_t>, std::vector<std::string>> inputs;
  for (auto& r : env.read(input_topic)) {
    auto& words = inputs[{r.partition, r.offset}];
    rpcbatch::for_each_word(r.value, [&](std::string_view w) {
      words.emplace_back(w);
    });
  }
  auto dead = env.read(dlq_topic);
  REQUIRE(!dead.empty());
  auto expected = expected_outputs(corpus);
  for (auto& r : dead) {
    auto letter = rpcbatch::parse_dead_letter(r.value);
    REQUIRE(letter);
    INFO(r.value);
    CHECK(r.key == letter->word);
    CHECK(letter->input_topic == input_topic);
    CHECK(contains(letter->reason, "MSG_SIZE_TOO_LARGE"));
    auto in = inputs.find({letter->partition, letter->offset});
    REQUIRE(in != inputs.end());
    REQUIRE(letter->index < in->second.size());
    CHECK(in->second[letter->index] == letter->word);
    // Everything else is an output.
    auto i = expected.find({letter->word, expected_value(letter->word)});
    REQUIRE(i != expected.end());
    expected.erase(i);
  }
  auto diff = compare(expected, key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.empty(), diff.describe());
  CHECK(env.committed() == env.ends());
  check_summary(run, corpus.size(), count_words(corpus), dead.size(),
                env.resolver().counts());
  MESSAGE(dead.size(), " output(s) refused and written as dead letters");
}

TEST_CASE("node: a batch the resolver refuses goes to the dead-letter topic "
          "at once and the rest is written") {
  rpcbatch::resolver_options ropts;
  ropts.reject_word = "ALLCAPS"; // once in the corpus, in its last lines
  environment env{ropts};
  auto corpus = make_corpus(5, 100);
  env.produce(corpus);
  auto run = run_node(
    env.node_command({"--bounded", "--offset-reset=earliest"}));
  REQUIRE_COMPLETE_RUN(run);
  auto rpc = env.resolver().counts();
  auto dead = env.read(dlq_topic);
  check_summary(run, corpus.size(), count_words(corpus), dead.size(), rpc);
  CHECK(env.committed() == env.ends());
  CHECK(rpc.rejected_calls == 1);
  CHECK(summary_number(run.summary, "rpc_retries") == 0);
  // One batch of at most --batch-size words, ALLCAPS among them, each with
  // the resolver's reason; every other word is written, each word once.
  CHECK(dead.size() >= 1);
  CHECK(dead.size() <= 10);
  auto written = key_values(env.read(output_topic));
  std::size_t refused = 0;
  std::size_t allcaps = 0;
  for (auto& r : dead) {
    auto letter = boost::json::parse(r.value).as_object();
    refused += contains(std::string{letter.at("reason").as_string()},
                        "INVALID_ARGUMENT: word 'ALLCAPS' rejected");
    allcaps += r.key == "ALLCAPS";
    written.emplace(r.key, expected_value(r.key));
  }
  CHECK(refused == dead.size());
  CHECK(allcaps == 1);
  auto diff = compare(expected_outputs(corpus), written);
  CHECK_MESSAGE(diff.empty(), diff.describe());
}

TEST_CASE("node: with the result cache every distinct word is asked once "
          "and the output is exact") {
  environment env;
  auto corpus = make_corpus(8080, 1000);
  env.produce(corpus);
  std::set<std::string> distinct;
  for (auto& [key, value] : expected_outputs(corpus))
    distinct.insert(key);
  auto run = run_node(env.node_command(
    {"--bounded", "--offset-reset=earliest", "--cache-entries=100000"}));
  REQUIRE_COMPLETE_RUN(run);
  check_exact_output(env, corpus);
  CHECK(env.committed() == env.ends());
  auto rpc = env.resolver().counts();
  CHECK(rpc.inputs == distinct.size());
  auto words = count_words(corpus);
  // Without the cache every 10 words make a call.
  CHECK(rpc.batch_calls * 10 < words);
  CHECK(summary_number(run.summary, "outputs") == words);
  MESSAGE(words, " words, ", distinct.size(), " distinct, ", rpc.batch_calls,
          " resolveBatch calls, ", summary_number(run.summary, "cache_hits"),
          " answered from the cache");
}

// No ';' in test names: doctest_discover_tests would split the name there.
TEST_CASE("node: SIGTERM drains and a restart in the same group completes "
          "the input exactly once") {
  environment env{slow_rpc()};
  auto corpus = make_corpus(31337, 600);
  auto half = corpus.size() / 2;
  env.produce(slice(corpus, 0, half));
  child_process streaming{env.node_command(throttled)};
  // Mid-stream: some outputs are written when the signal comes; the rest
  // of the input arrives after the drain, so that the restart has work
  // whatever the timing.
  REQUIRE_RUNNING_WITH_OUTPUT(env, streaming);
  REQUIRE(streaming.signal(SIGTERM));
  auto code = streaming.wait(90s);
  REQUIRE(code.has_value());
  env.produce(slice(corpus, half, corpus.size()));
  auto first = finished_run(streaming);
  CHECK(*code == 0);
  REQUIRE(first.has_summary);
  // A complete drain wrote every word it read.
  auto first_words = summary_number(first.summary, "words");
  CHECK(summary_number(first.summary, "outputs") == first_words);
  CHECK(contains(first.process.err, "draining"));
  auto after_first = env.stored(output_topic);
  CHECK(after_first == static_cast<int64_t>(first_words));
  auto second = run_node(env.node_command(with(throttled, {"--bounded"})));
  REQUIRE_COMPLETE_RUN(second);
  // The signal came mid-stream: both runs had words to do.
  CHECK(first_words > 0);
  CHECK(summary_number(second.summary, "words") > 0);
  check_exact_output(env, corpus);
  CHECK(env.committed() == env.ends());
  CHECK(summary_number(first.summary, "words")
          + summary_number(second.summary, "words")
        == count_words(corpus));
  MESSAGE("words: ", first_words, " before SIGTERM, ",
          summary_number(second.summary, "words"), " after the restart");
}

TEST_CASE("node: after SIGKILL a restart in the same group loses no word") {
  environment env{slow_rpc()};
  auto corpus = make_corpus(4242, 600);
  auto half = corpus.size() / 2;
  env.produce(slice(corpus, 0, half));
  // Short sessions: the broker drops the killed member sooner and waits
  // less for it to rejoin, so that the restart gets the partitions sooner.
  auto args = with(throttled, {"--kafka.session.timeout.ms=3000",
                               "--kafka.heartbeat.interval.ms=1000"});
  child_process streaming{env.node_command(args)};
  REQUIRE_RUNNING_WITH_OUTPUT(env, streaming);
  env.produce(slice(corpus, half, corpus.size()));
  // Killed once it committed something, so that the restart resumes from
  // committed offsets rather than from the start.
  bool committed = wait_until(
    [&] { return streaming.exit_code() || total(env.committed()) > 0; }, 60s,
    200ms);
  REQUIRE(committed);
  REQUIRE_FALSE(streaming.exit_code());
  CHECK(streaming.kill_and_wait() == 128 + SIGKILL);
  auto resume_from = total(env.committed());
  CHECK(resume_from < static_cast<int64_t>(corpus.size()));
  auto second = run_node(env.node_command(with(args, {"--bounded"})));
  REQUIRE_COMPLETE_RUN(second);
  auto c = check_every_word(env, corpus);
  CHECK(env.committed() == env.ends());
  // The restart read only what was not committed.
  CHECK(summary_number(second.summary, "records")
        == corpus.size() - static_cast<std::size_t>(resume_from));
  MESSAGE(c.duplicates, " duplicate output(s) after SIGKILL; the restart "
          "resumed after ", resume_from, " of ", corpus.size(), " records");
}

TEST_CASE("node: bad records neither stall a partition nor stop the node") {
  environment env;
  auto good = make_corpus(99, 60);
  std::mt19937_64 rng{1234};
  std::string garbage(4096, '\0');
  for (auto& c : garbage)
    c = static_cast<char>(rng() & 0xff);
  std::string high_bytes;
  for (int i = 0; i < 512; ++i)
    high_bytes += static_cast<char>(i % 3 == 0 ? 0 : 0x80 + i % 128);
  // A single word whose output record (key and value both hold it) exceeds
  // the producer's message.max.bytes of 1000000.
  std::string huge(900 * 1024, 'a');
  for (std::size_t i = 0; i < huge.size(); ++i)
    huge[i] = static_cast<char>('a' + i % 26);
  std::string long_word(100000, 'A');
  for (std::size_t i = 0; i < long_word.size(); ++i)
    long_word[i] = static_cast<char>('A' + i % 26);
  std::vector<kafka_value> values = slice(good, 0, 20);
  for (auto& v : std::vector<kafka_value>{std::string{}, std::nullopt,
                                          garbage, high_bytes})
    values.push_back(v);
  for (auto& v : slice(good, 20, 40))
    values.push_back(v);
  values.push_back(huge);
  for (auto& v : slice(good, 40, 50))
    values.push_back(v);
  for (auto& v : std::vector<kafka_value>{long_word, std::nullopt,
                                          std::string{}, huge.substr(0, 10)})
    values.push_back(v);
  for (auto& v : slice(good, 50, good.size()))
    values.push_back(v);
  env.produce(values);
  auto expected = expected_outputs(values);
  expected.erase(expected.find({huge, expected_value(huge)}));
  auto run = run_node(
    env.node_command({"--bounded", "--offset-reset=earliest"}));
  REQUIRE_COMPLETE_RUN(run);
  auto diff = compare(expected, key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.empty(), diff.describe());
  CHECK(env.committed() == env.ends());
  check_summary(run, values.size(), count_words(values), 1,
                env.resolver().counts());
  // The oversized output is a dead letter: the word truncated, its size and
  // the reason.
  auto dead = env.read(dlq_topic);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].key == huge.substr(0, 1024));
  auto letter = boost::json::parse(dead[0].value).as_object();
  CHECK(letter.at("word").as_string() == huge.substr(0, 1024));
  CHECK(letter.at("word_bytes").to_number<uint64_t>() == huge.size());
  auto reason = std::string{letter.at("reason").as_string()};
  CHECK_MESSAGE(contains(reason, "too large"), reason);
}

namespace {

/// The node's group committed an offset of partition 0 that the broker no
/// longer holds: words, the commit among them, then more digits than the
/// embedded broker keeps per partition (about 5 MiB; digits are no words,
/// so they cost nothing to process), then the records with words still
/// held. Partition 1 gets words before the run but no commit.
struct out_of_retention {
  static constexpr int64_t committed = 10;
  /// The oldest offset of partition 0 still held.
  int64_t held_from = 0;
  std::map<int32_t, int64_t> ends;
  /// The records with words that the broker still holds on partition 0.
  std::vector<kafka_value> kept;

  explicit out_of_retention(const environment& env) {
    env.produce_to(0, std::vector<kafka_value>(50, "dropped by retention"));
    rpcbatch::test::commit_offsets(env.bootstrap(), node_group, input_topic,
                                   {{0, committed}});
    REQUIRE(env.committed()[0] == committed);
    env.produce_to(1, {"before the start", "without a commit"});
    env.produce_to(0, std::vector<kafka_value>(800, std::string(10000, '7')));
    kept = make_corpus(2718, 40);
    env.produce_to(0, kept);
    // Read after the last write: each write may push the oldest digits out.
    held_from = env.starts()[0];
    // Every record with words before the digits is gone, the commit point
    // too.
    REQUIRE(held_from > 50);
    ends = env.ends();
  }

  /// The warning the node logs about partition 0.
  std::string warning() const {
    return "input-topic [0]: the committed offset 10 is out of range (the "
           "broker holds offsets "
           + std::to_string(held_from) + " to " + std::to_string(ends.at(0))
           + ")";
  }
};

} // namespace

TEST_CASE("node: a committed offset that fell out of retention resumes at "
          "the earliest offset still held and says so") {
  environment env;
  out_of_retention input{env};
  // The default --offset-reset=latest: the group's partitions without a
  // commit start at their end, the committed one must not.
  auto run = run_node(env.node_command({"--bounded"}));
  REQUIRE_COMPLETE_RUN(run);
  // Every word still held, and none of partition 1's from before the start.
  check_exact_output(env, input.kept);
  CHECK(summary_number(run.summary, "records")
        == static_cast<uint64_t>(input.ends[0] - input.held_from));
  CHECK(env.committed()[0] == input.ends[0]);
  CHECK(contains(run.process.err, input.warning()));
  CHECK(contains(run.process.err,
                 "resuming at the earliest offset still held, "
                   + std::to_string(input.held_from)));
}

TEST_CASE("node: with --on-offset-out-of-range=fail a committed offset out "
          "of retention stops the node and stays committed") {
  environment env;
  out_of_retention input{env};
  auto run = run_node(
    env.node_command({"--bounded", "--on-offset-out-of-range=fail"}));
  NODE_CONTEXT(run);
  CHECK(run.process.exit_code == 1);
  CHECK(contains(run.process.err, input.warning()));
  CHECK(contains(run.process.err, "--on-offset-out-of-range=fail"));
  CHECK(env.committed()[0] == out_of_retention::committed);
  CHECK(env.stored(output_topic) == 0);
}

TEST_CASE("node: with --on-offset-out-of-range=latest a committed offset out "
          "of retention skips to the end, loudly") {
  environment env;
  out_of_retention input{env};
  auto run = run_node(
    env.node_command({"--bounded", "--on-offset-out-of-range=latest"}));
  REQUIRE_COMPLETE_RUN(run);
  CHECK(summary_number(run.summary, "records") == 0);
  CHECK(env.stored(output_topic) == 0);
  CHECK(contains(run.process.err,
                 "input-topic [0]: the committed offset 10 is out of range"));
  CHECK(contains(run.process.err,
                 "resuming at the end, skipping what is held before it, "
                   + std::to_string(input.ends[0])));
}

TEST_CASE("node: a new group with the default offset reset starts at the "
          "end and reads only what comes after its start") {
  environment env;
  auto before = make_corpus(161, 60);
  env.produce(before);
  child_process node{env.node_command({})};
  INFO("node stderr: ", tail(node.err()));
  REQUIRE(node.wait_for_stderr("assigned 3 partition(s)", 60s));
  auto after = make_corpus(162, 60);
  env.produce(after);
  auto words = static_cast<int64_t>(count_words(after));
  CHECK(wait_until(
    [&] { return node.exit_code() || env.stored(output_topic) >= words; },
    60s));
  REQUIRE(node.signal(SIGTERM));
  REQUIRE(node.wait(60s));
  auto run = finished_run(node);
  REQUIRE_COMPLETE_RUN(run);
  check_exact_output(env, after);
  CHECK(summary_number(run.summary, "records") == after.size());
  CHECK(env.committed() == env.ends());
}

TEST_CASE("node: bad options exit 2 with a message naming the option") {
  environment env;
  struct bad {
    std::string arg;
    std::string named;
  };
  for (auto& b : std::vector<bad>{{"--batch-size=0", "batch-size"},
                                  {"--offset-reset=middle", "offset-reset"},
                                  {"--on-offset-out-of-range=skip",
                                   "on-offset-out-of-range"},
                                  {"--max-wait-secs=abc", "max-wait-secs"},
                                  {"--no-such-option=1", "no-such-option"},
                                  {"--kafka.no.such.property=1",
                                   "no.such.property"},
                                  {"--join=127.0.0.1:4260", "--join"},
                                  {"--role=ingest", "--batcher-nodes"},
                                  {"--batcher-nodes=127.0.0.1:4250",
                                   "--batcher-nodes"}}) {
    auto r = run_process(env.node_command({b.arg}), "", 30s);
    INFO(b.arg, " -> exit ", r.exit_code, ", stderr: ", r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, b.named));
    CHECK(r.out.empty());
  }
  auto help = run_process({node_binary(), "--help"}, "", 30s);
  INFO("--help stdout: ", help.out, "\nstderr: ", help.err);
  CHECK(help.exit_code == 0);
  CHECK(contains(help.out + help.err, "--batch-size"));
  CHECK(contains(help.out + help.err, "--bounded"));
}

} // TEST_SUITE

// -- scale-out roles: an ingest node and batcher nodes over CAF's middleman --

TEST_CASE("node: an ingest node and a batcher node process a corpus "
          "exactly") {
  environment env;
  batcher_node batchers{env.rpc_target()};
  auto corpus = make_corpus(31, 400);
  env.produce(corpus);
  auto run = run_node(env.node_command(
    {"--role=ingest", "--batcher-nodes=" + batchers.address, "--bounded",
     "--offset-reset=earliest"}));
  REQUIRE_COMPLETE_RUN(run);
  check_exact_output(env, corpus);
  CHECK(env.committed() == env.ends());
  auto rpc = env.resolver().counts();
  CHECK(rpc.batch_calls > 0);
  CHECK(rpc.max_batch <= 10);
  CHECK(contains(batchers.process.err(), "attached with 10 buckets"));
  // The batcher node stops what it ran for the ingest node that left.
  CHECK(batchers.process.wait_for_stderr("went away: its 11 actors stop",
                                         30s));
}

TEST_CASE("node: two batcher nodes share the buckets and the output stays "
          "exact") {
  environment env;
  batcher_node first{env.rpc_target()};
  batcher_node second{env.rpc_target()};
  auto corpus = make_corpus(32, 300);
  env.produce(corpus);
  auto run = run_node(env.node_command(
    {"--role=ingest",
     "--batcher-nodes=" + first.address + "," + second.address, "--bounded",
     "--offset-reset=earliest"}));
  REQUIRE_COMPLETE_RUN(run);
  CHECK(contains(run.process.err, "buckets assigned to 2 batcher node(s)"));
  check_exact_output(env, corpus);
  CHECK(env.committed() == env.ends());
}

namespace {

/// A port that takes TCP connections and never says a word: a CAF node
/// connecting to it waits for a handshake that does not come.
struct silent_port {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  uint16_t port = 0;

  silent_port() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), len) == 0);
    REQUIRE(::listen(fd, 16) == 0);
    REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port = ntohs(addr.sin_port);
  }

  ~silent_port() {
    ::close(fd);
  }
};

} // namespace

TEST_CASE("node: SIGTERM while an ingest node still waits for its first "
          "batcher node stops it at once and cleanly") {
  environment env;
  silent_port silent;
  child_process ingest{env.node_command(
    {"--role=ingest", "--listen=127.0.0.1:0",
     "--batcher-nodes=127.0.0.1:" + std::to_string(silent.port)})};
  // The first attempt at the batcher node stays open for 10 s.
  REQUIRE(ingest.wait_for_stdout("listening on", 30s));
  ingest.signal(SIGTERM);
  auto code = ingest.wait(30s);
  INFO("stderr: ", ingest.err());
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(contains(ingest.err(), "nothing to drain"));
}

TEST_CASE("node: an ingest node that lost its only batcher node waits for "
          "it to come back and loses no word") {
  environment env{slow_rpc()};
  auto corpus = make_corpus(33, 400);
  env.produce(corpus);
  auto lost = std::make_unique<batcher_node>(
    env.rpc_target(), std::vector<std::string>{"--rpc-max-inflight=1"});
  auto address = lost->address;
  child_process ingest{env.node_command(with(
    throttled, {"--role=ingest", "--bounded", "--batcher-nodes=" + address}))};
  REQUIRE_RUNNING_WITH_OUTPUT(env, ingest);
  CHECK(lost->process.kill_and_wait() == 128 + SIGKILL);
  REQUIRE(ingest.wait_for_stderr("no batcher node is left", 30s));
  CHECK(ingest.wait_for_stderr("trying again in", 30s));
  CHECK_FALSE(ingest.exit_code());
  // The node comes back on the same address: the ingest node reattaches.
  batcher_node back{env.rpc_target(), {}, address};
  check_recovered_run(env, ingest, corpus,
                      "after the only batcher node came back");
  CHECK(contains(back.process.err(), "attached with 10 buckets"));
}

TEST_CASE("node: a batcher node that joins mid-stream takes over buckets and "
          "the output stays exact") {
  environment env{slow_rpc()};
  auto corpus = make_corpus(35, 600);
  auto half = corpus.size() / 2;
  env.produce(slice(corpus, 0, half));
  const std::vector<std::string> slow = {"--rpc-max-inflight=1"};
  batcher_node first{env.rpc_target(), slow};
  child_process ingest{env.node_command(
    with(throttled, {"--role=ingest", "--listen=127.0.0.1:0",
                     "--batcher-nodes=" + first.address}))};
  auto ingest_address = listening_address(ingest);
  REQUIRE_RUNNING_WITH_OUTPUT(env, ingest);
  batcher_node second{env.rpc_target(),
                      with(slow, {"--join=" + ingest_address})};
  REQUIRE(ingest.wait_for_stderr("bucket(s) move to it", 30s));
  CHECK(contains(ingest.err(), "batcher node " + second.address
                                 + " joined: 5 bucket(s) move to it"));
  // The rest of the input arrives after the join, then a drain.
  env.produce(slice(corpus, half, corpus.size()));
  auto words = static_cast<int64_t>(count_words(corpus));
  CHECK(wait_until([&] { return env.stored(output_topic) >= words; }, 120s));
  REQUIRE(ingest.signal(SIGTERM));
  auto code = ingest.wait(60s);
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK(contains(second.process.err(), "attached with 10 buckets"));
  check_exact_output(env, corpus);
  CHECK(env.committed() == env.ends());
}

TEST_CASE("node: when one of two batcher nodes is killed its buckets move "
          "and the bounded run completes with every word") {
  environment env{slow_rpc()};
  auto corpus = make_corpus(34, 1500);
  env.produce(corpus);
  // One call in flight per batcher node: slow enough to kill one mid-stream.
  const std::vector<std::string> slow = {"--rpc-max-inflight=1",
                                         "--max-wait-secs=1"};
  batcher_node survivor{env.rpc_target(), slow};
  auto doomed = std::make_unique<batcher_node>(env.rpc_target(), slow);
  child_process ingest{env.node_command(with(
    throttled, {"--role=ingest", "--bounded",
                "--batcher-nodes=" + survivor.address + ","
                  + doomed->address}))};
  REQUIRE_RUNNING_WITH_OUTPUT(env, ingest);
  CHECK(doomed->process.kill_and_wait() == 128 + SIGKILL);
  CHECK_FALSE(ingest.exit_code()); // killed mid-stream
  check_recovered_run(env, ingest, corpus, "after a batcher node was killed");
  CHECK(contains(ingest.err(), "is gone: its buckets move to 1 other node"));
}

TEST_CASE("node: a batcher node killed during the final drain: its words go "
          "to the other node and the bounded run completes with every word") {
  environment env{slow_rpc()};
  auto corpus = make_corpus(38, 600);
  env.produce(corpus);
  // The doomed node calls once per word, one call at a time, and the ingest
  // node reads the whole input at once: the words pile up on the doomed
  // node, so it holds many when the drain begins.
  batcher_node survivor{env.rpc_target(), {"--max-wait-secs=1"}};
  auto doomed = std::make_unique<batcher_node>(
    env.rpc_target(),
    std::vector<std::string>{"--rpc-max-inflight=1", "--batch-size=1"});
  child_process ingest{env.node_command(
    {"--role=ingest", "--bounded", "--offset-reset=earliest",
     "--max-inflight-words=100000",
     "--batcher-nodes=" + survivor.address + "," + doomed->address})};
  REQUIRE(ingest.wait_for_stderr("bounded input consumed", 120s));
  CHECK(doomed->process.kill_and_wait() == 128 + SIGKILL);
  CHECK(check_recovered_run(env, ingest, corpus,
                            "after a batcher node was killed in the drain")
        > 0);
}

// The embedded broker's group coordinator refuses offset commits during a
// rebalance whatever its state (Kafka accepts those of the current
// generation while it prepares one), so a member leaving can leave the
// other's last commit refused: this case checks that nothing is lost and
// that both nodes share the work; exact commits are checked elsewhere.
TEST_CASE("node: two ingest nodes share the input through the consumer "
          "group and one batcher node") {
  environment env;
  batcher_node batchers{env.rpc_target()};
  auto corpus = make_corpus(37, 600);
  env.produce(corpus);
  auto command = env.node_command(
    {"--role=ingest", "--batcher-nodes=" + batchers.address,
     "--offset-reset=earliest", "--max-inflight-words=2000"});
  child_process first{command};
  child_process second{command};
  // Duplicates after a rebalance can fill the output topic before the last
  // records are read, so the stop waits for every offset to be committed,
  // which happens only once their words are written.
  auto ends = env.ends();
  CHECK(wait_until([&] { return env.committed() == ends; }, 120s, 200ms));
  REQUIRE(first.signal(SIGTERM));
  REQUIRE(second.signal(SIGTERM));
  REQUIRE(first.wait(90s));
  REQUIRE(second.wait(90s));
  auto a = finished_run(first);
  auto b = finished_run(second);
  INFO("first ingest node: ", tail(a.process.err));
  INFO("second ingest node: ", tail(b.process.err));
  REQUIRE(a.has_summary);
  REQUIRE(b.has_summary);
  CHECK(contains(batchers.process.err(), "ingest node 2 attached"));
  auto c = check_every_word(env, corpus);
  auto ra = summary_number(a.summary, "records");
  auto rb = summary_number(b.summary, "records");
  CHECK(ra + rb >= corpus.size());
  MESSAGE("records: ", ra, " and ", rb, " (exit codes ", a.process.exit_code,
          " and ", b.process.exit_code, "); ", c.duplicates,
          " duplicate outputs");
}

TEST_CASE("node: node links with TLS carry the corpus exactly and refuse "
          "nodes without a certificate of the CA") {
  test_certificates certs;
  environment env;
  batcher_node batchers{env.rpc_target(), certs.options()};
  CHECK(contains(batchers.process.out(), "(TLS)"));
  // Neither a plain node nor one with a stranger's certificate gets in.
  for (auto extra : {std::vector<std::string>{}, certs.options(true)}) {
    child_process refused{env.node_command(with(
      extra, {"--role=ingest", "--batcher-nodes=" + batchers.address}))};
    CHECK(refused.wait_for_stderr("cannot connect", 30s));
    CHECK_FALSE(contains(batchers.process.err(), "attached"));
  }
  auto corpus = make_corpus(36, 200);
  env.produce(corpus);
  auto run = run_node(env.node_command(with(
    certs.options(), {"--role=ingest", "--batcher-nodes=" + batchers.address,
                      "--bounded", "--offset-reset=earliest"})));
  REQUIRE_COMPLETE_RUN(run);
  check_exact_output(env, corpus);
  CHECK(contains(batchers.process.err(), "attached with 10 buckets"));
}
