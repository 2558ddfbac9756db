// The sink: one Kafka record per resolved element (key = the word, value =
// {"word":"...","length":N}), dead letters with their reason, and delivery
// acknowledgements back to the source once the broker confirmed a batch.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "messages/actors.hpp"

namespace rpcbatch {

class kafka_producer;
class latency_histogram;

struct sink_config {
  std::string output_topic = "rpc-pardo-stateful";
  std::string dead_letter_topic = "rpc-pardo-stateful-dlq";
  /// Print every output value on stdout, as the seed's create_message does.
  bool echo = false;
};

struct sink_state {
  static inline const char* name = "sink";
  sink_config cfg;
  std::shared_ptr<kafka_producer> producer;
  std::shared_ptr<latency_histogram> latency;
  source_actor ack_to;
  node_actor node;
  uint64_t batches = 0;
  uint64_t outputs = 0;
  uint64_t dead_letters = 0;
  uint64_t too_large = 0;
  uint64_t produce_errors = 0;
};

sink_actor::behavior_type
sink(sink_actor::stateful_pointer<sink_state> self, sink_config cfg,
     std::shared_ptr<kafka_producer> producer,
     std::shared_ptr<latency_histogram> latency, node_actor node);

/// The output value: {"word":"...","length":N}.
std::string output_json(std::string_view word, int32_t length);

/// A dead letter's value: the word (truncated to `max_word` bytes), its full
/// size, its provenance and the reason.
std::string dead_letter_json(const element& e, std::string_view reason,
                             std::size_t max_word = 1024);

} // namespace rpcbatch
