// The source: takes records from the consumer's poll thread, tracks every
// record until all its words are written and confirmed, commits the highest
// contiguous done offset + 1 per partition, pauses consuming while too many
// words are in flight, and handles revokes, bounded end and drain.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <set>

#include <caf/timespan.hpp>

#include "actors/offset_tracker.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

class kafka_consumer;

struct source_config {
  /// Pause consuming above this many words in flight; resume below half.
  int64_t max_inflight_words = 100000;
  caf::timespan commit_interval = std::chrono::seconds(1);
  /// Bounded mode: report the end of input once every assigned partition
  /// reached the end offset it had at start-up.
  bool bounded = false;
  /// How long a drain or a revoke waits for outstanding words.
  caf::timespan drain_timeout = std::chrono::seconds(60);
};

struct source_state {
  static inline const char* name = "source";

  struct wait {
    std::vector<int32_t> partitions;
    caf::actor_clock::time_point deadline;
  };

  source_config cfg;
  std::shared_ptr<kafka_consumer> consumer;
  tokenizer_actor tokenizer;
  router_actor router;
  node_actor node;
  offset_tracker tracker;
  std::set<int32_t> assigned;
  std::map<int32_t, int64_t> end_offsets;
  std::set<int32_t> finished;
  bool input_end_sent = false;
  bool paused = false;
  bool draining = false;
  /// A revoke waiting for its partitions' words.
  std::optional<wait> revoke;
  std::optional<caf::actor_clock::time_point> drain_deadline;
  caf::typed_response_promise<bool, partition_offsets> drain_promise;
  /// When the first record arrived (throughput counts from there).
  std::optional<caf::actor_clock::time_point> first_record;
  /// Record batches handed to the tokenizer, and those it answered.
  uint64_t batches_sent = 0;
  uint64_t batches_counted = 0;
  /// End-of-window requests held back until the tokenizer answered this
  /// many batches: it sends a batch's words to the router before it answers,
  /// so an end of window sent later reaches the router after those words.
  std::deque<uint64_t> eow_after;
  uint64_t records = 0;
  uint64_t words = 0;
  uint64_t words_acked = 0;
  /// Outputs confirmed that completed no word: a word written twice (sent
  /// again after a batcher node was lost), or a record no longer tracked
  /// (done, or of a revoked partition).
  uint64_t words_confirmed_again = 0;
  uint64_t dropped_while_draining = 0;
  /// Records the consumer handed over again (already tracked): skipped.
  uint64_t redelivered = 0;
  /// Records of partitions no longer assigned: skipped.
  uint64_t stale_records = 0;
  uint64_t pauses = 0;
  uint64_t revokes = 0;
  uint64_t commit_requests = 0;
};

source_actor::behavior_type
source(source_actor::stateful_pointer<source_state> self, source_config cfg,
       std::shared_ptr<kafka_consumer> consumer, tokenizer_actor tokenizer,
       router_actor router, node_actor node);

} // namespace rpcbatch
