// The batcher: one per bucket. Its state is the seed's BagState (the bag of
// elements with provenance) and ReadModifyWriteState (the counter). Delayed
// flush messages stand in for the processing-time timer; end of window is a
// request (bounded end, drain, partition revoke).
#pragma once

#include <cstdint>
#include <vector>

#include <caf/timespan.hpp>

#include "messages/actors.hpp"

namespace rpcbatch {

struct batcher_config {
  uint32_t bucket = 0;
  /// Trigger 1: flush when the bag holds this many elements.
  std::size_t batch_size = 10;
  /// Trigger 2: flush this long after the first element entered an empty bag.
  caf::timespan max_wait = std::chrono::seconds(4);
  /// Optional trigger: flush when the bag's words total this many bytes
  /// (0 = off).
  std::size_t max_batch_bytes = 0;
};

struct batcher_state {
  static inline const char* name = "batcher";
  batcher_config cfg;
  rpc_caller_actor rpc;
  /// The bag: every element since the last flush.
  std::vector<element> bag;
  /// The counter: elements in the bag.
  std::size_t counter = 0;
  std::size_t bag_bytes = 0;
  /// Generation of the armed timer; a flush moves it on so that the timer
  /// message already scheduled becomes stale.
  uint64_t generation = 0;
  bool timer_armed = false;
  caf::actor_clock::time_point deadline;
  uint64_t flushes[4] = {0, 0, 0, 0};
  uint64_t elements_flushed = 0;
  uint64_t stale_timers = 0;

  /// Hands the bag to the rpc-caller (deduplicated) and empties it.
  void flush(flush_trigger trigger);
};

batcher_actor::behavior_type
batcher(batcher_actor::stateful_pointer<batcher_state> self,
        batcher_config cfg, rpc_caller_actor rpc);

/// Builds the rpc job of a bag: each unique word once, in first-seen order,
/// and each element's index into that list.
rpc_job make_rpc_job(std::vector<element> bag, uint32_t bucket,
                     flush_trigger trigger);

} // namespace rpcbatch
