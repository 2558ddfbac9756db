// The batcher: one per bucket. Its state is the seed's BagState (the bag of
// elements with provenance) and ReadModifyWriteState (the counter). Delayed
// flush messages stand in for the processing-time timer; end of window is a
// request (bounded end, drain, partition revoke).
//
// With the result cache on (cache_entries > 0), the batcher also owns its
// bucket's cache (a word's bucket never changes, so no cache is shared):
// a word whose answer is cached goes to the sink at once; a word whose call
// is in flight waits for that call's answer (it is not asked twice); only
// the other words enter the bag, and the counter then counts the bag's
// distinct words, so that every resolveBatch carries `batch_size` words
// that need resolving.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <caf/timespan.hpp>

#include "actors/observe/event_log.hpp"
#include "actors/pipeline/word_cache.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

struct batcher_config {
  uint32_t bucket = 0;
  /// Trigger 1: flush when the bag holds this many elements (this many
  /// distinct words with the cache on).
  std::size_t batch_size = 10;
  /// Trigger 2: flush this long after the first element entered an empty bag.
  caf::timespan max_wait = std::chrono::seconds(4);
  /// Optional trigger: flush when the bag's words total this many bytes
  /// (0 = off).
  std::size_t max_batch_bytes = 0;
  /// Result cache: entries of this batcher's cache (0 = off), and how long
  /// an answer stays valid (0 = for ever).
  std::size_t cache_entries = 0;
  caf::timespan cache_ttl{0};
};

struct batcher_state {
  static inline const char* name = "batcher";
  batcher_actor::stateful_pointer<batcher_state> self = nullptr;
  batcher_config cfg;
  rpc_caller_actor rpc;
  sink_actor sink;
  /// The bag: every element since the last flush.
  std::vector<element> bag;
  /// The counter: elements in the bag (distinct words with the cache on).
  std::size_t counter = 0;
  std::size_t bag_bytes = 0;
  /// Bags so far (a new one starts with the first element after a flush).
  uint64_t generation = 0;
  /// Whether the bag has a deadline, and when it is.
  bool timer_armed = false;
  caf::actor_clock::time_point deadline;
  /// Whether a timer message is on its way (one at a time, see
  /// arm_timer()).
  bool timer_pending = false;
  /// The counters, in the struct that reports them: status() copies them
  /// and adds the gauges.
  batcher_status counters;
  /// Flushes as they happen.
  event_log events;
  // -- the result cache (cache_entries > 0) -----------------------------------
  std::optional<word_cache> cache;
  /// The distinct words of the bag.
  std::unordered_set<std::string> bag_words;
  /// Words asked in a call not answered yet -> the elements waiting for it.
  std::unordered_map<std::string, std::vector<element>> in_flight;

  /// Takes every element of a batch: into the bag (flushing when a trigger
  /// is reached), or, with the cache on, to the sink or to the call in
  /// flight for its word.
  void take(std::vector<element>& elements);

  /// Hands the bag to the rpc-caller (deduplicated) and empties it.
  void flush(flush_trigger trigger);

  /// The answers to a job this batcher sent: cached, and the elements that
  /// waited for them go to the sink (failed: into the bag again).
  void answered(word_answers& answers);

  /// Drops the bag's elements of revoked partitions' epochs; answers how
  /// many.
  uint64_t cancel(const std::vector<partition_epoch>& revoked);

  /// The timer message came: flushes the bag if its deadline passed,
  /// otherwise waits again for what is left of it.
  void timer_fired();

  actor_status status() const;

private:
  void add_to_bag(element& e);

  /// Sends the timer message in `delay`, unless one is on its way.
  void arm_timer(caf::timespan delay);
};

batcher_actor::behavior_type
batcher(batcher_actor::stateful_pointer<batcher_state> self,
        batcher_config cfg, rpc_caller_actor rpc, sink_actor sink);

/// Builds the rpc job of a bag: each unique word once, in first-seen order,
/// and each element's index into that list.
rpc_job make_rpc_job(std::vector<element> bag, uint32_t bucket,
                     flush_trigger trigger);

} // namespace rpcbatch
