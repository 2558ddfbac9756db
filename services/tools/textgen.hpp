// Random English-like text into a Kafka topic: the seed's faker_gen. Used by
// rpcbatch-textgen and, on a thread, by the node's embedded default.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

#include "services/adapters/kafka.hpp"

namespace rpcbatch {

/// One sentence of 4 to 14 words from a built-in list of common English
/// words (some with apostrophes, such as "don't"): capitalised, sometimes
/// with commas, ending in '.', '?' or '!'. Deterministic for a given
/// generator state on every platform.
std::string make_sentence(std::mt19937_64& rng);

/// Sentences joined by spaces up to `max_chars` (at least one sentence),
/// like Faker's text(): one message of the generator.
std::string make_text(std::mt19937_64& rng, std::size_t max_chars = 200);

struct textgen_options {
  /// bootstrap.servers, e.g. "127.0.0.1:9092".
  std::string bootstrap;
  std::string topic = "input-topic";
  /// Pause between messages; fractions allowed; 0 = as fast as possible.
  double delay_seconds = 1.0;
  /// Messages to write; 0 = until `stop`.
  std::uint64_t count = 0;
  /// Seeds the text: equal seeds give equal message sequences.
  std::uint64_t seed = 0;
  /// Logs "sent N messages... current - TEXT" every 10 messages.
  bool verbose = false;
  /// How long the first metadata request may take before the cluster
  /// counts as unreachable.
  std::chrono::milliseconds connect_timeout{5000};
  /// Extra librdkafka properties; they override the defaults
  /// (enable.idempotence=true, message.timeout.ms=30000).
  kafka_props properties;
};

/// Writes messages until `count` are written or `stop` becomes true (seen
/// within about 50 ms), then flushes. Returns the number of messages the
/// broker acknowledged. Throws std::runtime_error if the cluster cannot be
/// reached within `connect_timeout`, a delivery fails, or messages are still
/// unacknowledged after the final flush.
std::uint64_t produce_text(const textgen_options& options,
                           std::atomic<bool>& stop);

} // namespace rpcbatch
