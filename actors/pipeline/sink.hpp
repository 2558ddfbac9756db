// The sink: one Kafka record per resolved element (key = the word, value =
// {"word":"...","length":N}), dead letters with their reason and
// provenance (both formats: actors/pipeline/formats.hpp), and delivery
// acknowledgements back to the source for every word whose output (or dead
// letter) the broker confirmed. An output that Kafka refuses for good
// becomes a dead letter; one that failed for a passing reason is produced
// again.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "messages/actors.hpp"

namespace rpcbatch {

class sink_producer;
class latency_histogram;

struct sink_config {
  /// The topic the elements were read from, for the dead letters'
  /// provenance.
  std::string input_topic = "input-topic";
  std::string output_topic = "rpc-pardo-stateful";
  std::string dead_letter_topic = "rpc-pardo-stateful-dlq";
  /// Print every output value on stdout, as the seed's create_message does.
  bool echo = false;
  /// How long records that failed transiently wait before they are
  /// produced again.
  std::chrono::milliseconds retry_backoff{200};
};

/// Records the broker confirmed, counted by the delivery callbacks on the
/// producer's poll thread.
struct sink_confirmed {
  std::atomic<uint64_t> outputs{0};
  std::atomic<uint64_t> dead_letters{0};
};

struct sink_state {
  static inline const char* name = "sink";
  sink_config cfg;
  std::shared_ptr<sink_producer> producer;
  std::shared_ptr<latency_histogram> latency;
  std::shared_ptr<sink_confirmed> confirmed
    = std::make_shared<sink_confirmed>();
  source_actor ack_to;
  node_actor node;
  /// The counters, in the struct that reports them: status() copies them
  /// and adds the gauges.
  sink_status counters;
  /// Records waiting for the backoff to produce them again: outputs with
  /// their lengths, dead letters with their reasons.
  resolved_batch outputs_again;
  std::vector<element> letters_again;
  std::vector<std::string> reasons_again;
  /// The error of the last transient failure, for the log.
  int32_t last_transient = 0;
  bool retry_armed = false;
  /// A fatal error went to the node.
  bool failed = false;
};

sink_actor::behavior_type
sink(sink_actor::stateful_pointer<sink_state> self, sink_config cfg,
     std::shared_ptr<sink_producer> producer,
     std::shared_ptr<latency_histogram> latency, node_actor node);

} // namespace rpcbatch
