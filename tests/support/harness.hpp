// Integration harness for rpcbatch-node (node_test.cpp, the pipeline
// benchmark): an in-process environment (embedded broker with the node's
// topics, resolver on an ephemeral port), Kafka helpers to produce inputs and
// read outputs and committed offsets back, the expected outputs of an input
// by the seed's rule, and runs of the node binary with its JSON summary.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>

#include "services/tools/embedded_broker.hpp"
#include "services/adapters/kafka.hpp"
#include "services/tools/resolver_service.hpp"
#include "tests/support/process.hpp"

namespace rpcbatch::test {

// -- names the node uses by default -------------------------------------------

inline const std::string input_topic = "input-topic";
inline const std::string output_topic = "rpc-pardo-stateful";
inline const std::string dlq_topic = "rpc-pardo-stateful-dlq";
inline const std::string node_group = "rpc-pardo-stateful-group";

/// build/bin/rpcbatch-node.
std::string node_binary();

// -- Kafka --------------------------------------------------------------------

/// A record value to produce: nothing stands for a null value.
using kafka_value = std::optional<std::string>;

/// One record read back from a topic.
struct kafka_record {
  int32_t partition = 0;
  int64_t offset = 0;
  /// Milliseconds since the epoch (the producer's create time).
  int64_t timestamp = 0;
  std::string key;
  std::string value;
  bool null_key = false;
  bool null_value = false;
};

/// (key, value) pairs, order ignored.
using record_multiset = std::multiset<std::pair<std::string, std::string>>;

/// Writes `values` to `topic`, value i to partition i % partitions (so that
/// every partition gets records, whatever the partitioner), and waits until
/// the broker acknowledged all of them. Throws std::runtime_error if one
/// cannot be queued or delivered, or after `timeout`.
void produce_values(const std::string& bootstrap, const std::string& topic,
                    const std::vector<kafka_value>& values,
                    std::chrono::milliseconds timeout
                    = std::chrono::seconds{30});

/// Writes `values` to one partition of `topic`, like produce_values.
void produce_to_partition(const std::string& bootstrap,
                          const std::string& topic, int32_t partition,
                          const std::vector<kafka_value>& values,
                          std::chrono::milliseconds timeout
                          = std::chrono::seconds{30});

/// Every record of `topic`, from the start of each partition up to its end
/// offset at the time of the call, in partition and offset order. Throws
/// std::runtime_error after `timeout` or if the broker dropped the oldest
/// records of a partition (the embedded broker keeps about 5 MiB each).
std::vector<kafka_record>
read_topic(const std::string& bootstrap, const std::string& topic,
           std::chrono::milliseconds timeout = std::chrono::seconds{30});

/// The (key, value) pairs of `records`.
record_multiset key_values(const std::vector<kafka_record>& records);

/// The end offset (high watermark) of every partition of `topic`.
std::map<int32_t, int64_t>
end_offsets(const std::string& bootstrap, const std::string& topic,
            std::chrono::milliseconds timeout = std::chrono::seconds{10});

/// The oldest offset still stored (low watermark) of every partition of
/// `topic`.
std::map<int32_t, int64_t>
start_offsets(const std::string& bootstrap, const std::string& topic,
              std::chrono::milliseconds timeout = std::chrono::seconds{10});

/// Records currently stored in `topic` (sum of high - low).
int64_t stored_records(const std::string& bootstrap, const std::string& topic,
                       std::chrono::milliseconds timeout
                       = std::chrono::seconds{10});

/// The offsets `group` committed for every partition of `topic`; a partition
/// without a commit maps to a negative value.
std::map<int32_t, int64_t>
committed_offsets(const std::string& bootstrap, const std::string& group,
                  const std::string& topic,
                  std::chrono::milliseconds timeout = std::chrono::seconds{10});

/// Commits `offsets` (partition -> offset) of `topic` for `group`, as a
/// member of no generation; throws std::runtime_error if the broker refuses
/// one. The embedded broker takes such commits only for a group that no
/// consumer has joined yet.
void commit_offsets(const std::string& bootstrap, const std::string& group,
                    const std::string& topic,
                    const std::map<int32_t, int64_t>& offsets);

/// Checks `condition` until it holds or `timeout` passed (every `step`);
/// returns whether it held. For conditions that no event announces, such as
/// the count of records in a topic.
bool wait_until(const std::function<bool()>& condition,
                std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds{50});

// -- the in-process environment -----------------------------------------------

/// An embedded broker (one broker; input-topic, rpc-pardo-stateful and
/// rpc-pardo-stateful-dlq with 3 partitions each) and a resolver on
/// 127.0.0.1:0 with `resolver` options (its listen address is overridden).
class environment {
public:
  explicit environment(resolver_options resolver = {});

  environment(const environment&) = delete;
  environment& operator=(const environment&) = delete;

  std::string bootstrap() const {
    return broker_.bootstrap();
  }

  std::string rpc_target() const {
    return resolver_.address();
  }

  embedded_broker& broker() {
    return broker_;
  }

  resolver_server& resolver() {
    return resolver_;
  }

  /// The node's command line for this environment: the binary,
  /// --bootstrap-servers, --rpc-target, then `extra`.
  std::vector<std::string> node_command(std::vector<std::string> extra) const;

  /// Shorthands for the free functions on this broker.
  void produce(const std::vector<kafka_value>& values,
               const std::string& topic = input_topic) const {
    produce_values(bootstrap(), topic, values);
  }

  void produce_to(int32_t partition, const std::vector<kafka_value>& values,
                  const std::string& topic = input_topic) const {
    produce_to_partition(bootstrap(), topic, partition, values);
  }

  std::vector<kafka_record> read(const std::string& topic) const {
    return read_topic(bootstrap(), topic);
  }

  int64_t stored(const std::string& topic) const {
    return stored_records(bootstrap(), topic);
  }

  std::map<int32_t, int64_t> ends(const std::string& topic
                                  = input_topic) const {
    return end_offsets(bootstrap(), topic);
  }

  std::map<int32_t, int64_t> starts(const std::string& topic
                                    = input_topic) const {
    return start_offsets(bootstrap(), topic);
  }

  std::map<int32_t, int64_t> committed(const std::string& group = node_group,
                                       const std::string& topic
                                       = input_topic) const {
    return committed_offsets(bootstrap(), group, topic);
  }

private:
  embedded_broker broker_;
  resolver_server resolver_;
};

// -- the seed's rule ----------------------------------------------------------

/// {"word":"...","length":N} for an ASCII word (length = code points = bytes).
std::string expected_value(std::string_view word);

/// One (word, expected_value(word)) per word occurrence of every value.
record_multiset expected_outputs(const std::vector<kafka_value>& values);

/// Word occurrences in `values`.
uint64_t count_words(const std::vector<kafka_value>& values);

/// A corpus: `lines` texts of make_text(rng, max_chars) from a generator
/// seeded with `seed`, then a few hand-written lines (apostrophes, accented
/// letters, digits, whitespace, a line without words).
std::vector<kafka_value> make_corpus(uint64_t seed, std::size_t lines,
                                     std::size_t max_chars = 200);

/// How two multisets differ: elements of `expected` not in `actual`
/// (counting multiplicity) and the other way round, with a few samples.
struct multiset_diff {
  std::size_t missing = 0;
  std::size_t extra = 0;
  std::vector<std::string> samples;

  bool empty() const {
    return missing == 0 && extra == 0;
  }

  /// "N missing, M extra; e.g. -key=value, +key=value, ..." (long keys and
  /// values shortened).
  std::string describe() const;
};

multiset_diff compare(const record_multiset& expected,
                      const record_multiset& actual);

// -- node runs ----------------------------------------------------------------

/// The JSON object on the last non-empty line of `out`, if there is one.
std::optional<boost::json::object> parse_summary(const std::string& out);

/// A number of the summary by path ("words", "flushes.count"); throws
/// std::runtime_error if it is missing or not a number.
uint64_t summary_number(const boost::json::object& summary,
                        std::string_view path);

struct node_run {
  process_result process;
  /// The summary line (empty object if the node printed none).
  boost::json::object summary;
  bool has_summary = false;
};

/// Where a node printed that it listens ("... listening on HOST:PORT");
/// throws std::runtime_error if it did not within `timeout`.
std::string listening_address(child_process& process,
                              std::chrono::milliseconds timeout
                              = std::chrono::seconds{30});

/// Where a program printed that it listens ("WHAT listening on HOST:PORT",
/// e.g. WHAT "rpcbatch-node http"); throws std::runtime_error if it did not
/// within `timeout`.
std::string listening_address(child_process& process, const std::string& what,
                              std::chrono::milliseconds timeout
                              = std::chrono::seconds{30});

/// A CA and a certificate it signed for 127.0.0.1, made with the openssl
/// command in a fresh directory (removed with it), and a stranger's
/// self-signed certificate.
struct test_certificates {
  std::string dir;

  test_certificates();
  ~test_certificates();
  test_certificates(const test_certificates&) = delete;
  test_certificates& operator=(const test_certificates&) = delete;

  /// The openssl.* options with the node certificate (or the stranger's,
  /// who trusts only itself).
  std::vector<std::string> options(bool stranger = false) const;
};

/// build/bin/rpcbatch-resolver listening on `listen` with `extra` options.
std::vector<std::string>
resolver_command(const std::string& listen,
                 const std::vector<std::string>& extra = {});

/// A batcher node (--role=batcher) calling `rpc_target`, on a free loopback
/// port unless `listen` says otherwise; `extra` options are appended.
struct batcher_node {
  child_process process;
  std::string address;

  batcher_node(const std::string& rpc_target,
               const std::vector<std::string>& extra = {},
               const std::string& listen = "127.0.0.1:0");
};

/// Runs the node with `command` (see environment::node_command) until it
/// exits, killing it after `timeout`.
node_run run_node(const std::vector<std::string>& command,
                  std::chrono::milliseconds timeout
                  = std::chrono::seconds{120});

/// The summary of a node that ran as a child_process (after its exit).
node_run finished_run(child_process& child);

/// The last `n` bytes of `text`, for failure messages.
std::string tail(const std::string& text, std::size_t n = 4000);

/// A TCP connection to 127.0.0.1:`port` (a file descriptor), or -1.
int connect_loopback(int port);

} // namespace rpcbatch::test
