// The bucket router: bucket = (first byte of the word) % buckets, as the
// seed's to_buckets(); one batcher (owner) per bucket. A bucket without an
// owner (no batcher node left) holds its words until one is given; a bucket
// handed over to a new owner holds its words until the old owner flushed
// (end of window), so a bag never mixes two owners. An ingest node's router
// keeps every word it sent to a batcher node until the source reports its
// record done; when that node is lost, those whose output the source has not
// confirmed go to the buckets' new owners (the source confirms each word
// once, however often it is written).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <string_view>
#include <vector>

#include <caf/response_promise.hpp>

#include "actors/observe/event_log.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

/// The bucket of a (non-empty) word.
inline uint32_t bucket_of(std::string_view word, uint32_t buckets) {
  return static_cast<unsigned char>(word.front()) % buckets;
}

struct router_state {
  static inline const char* name = "router";
  struct bucket {
    /// Null while the bucket has no owner.
    batcher_actor owner;
    /// Words waiting for an owner or for a handover to finish.
    std::vector<element> held;
    /// Where the bucket goes once the old owner flushed (null: no handover).
    batcher_actor next;
    /// Stamps handovers; a newer assignment makes an older one stale.
    uint64_t generation = 0;
    uint64_t routed = 0;
  };
  std::vector<bucket> buckets;
  /// Whether sent words are kept (batchers on other nodes).
  bool keep_sent = false;
  /// Tells which kept words still need writing when their node is lost.
  source_actor source;
  /// Words sent and not known done, by batcher node and partition, in the
  /// order sent.
  std::map<caf::node_id, std::map<int32_t, std::deque<element>>> sent;
  uint64_t kept = 0;
  /// Words sent again as it happens.
  event_log events;
  /// End-of-window requests waiting for handovers to finish.
  std::vector<caf::response_promise> waiting;
  /// The counters, in the struct that reports them: status() copies them
  /// and adds the gauges.
  router_status counters;
};

/// A router for `batchers` (index = bucket); `keep_sent` when they may be
/// on other nodes.
router_actor::behavior_type
router(router_actor::stateful_pointer<router_state> self,
       std::vector<batcher_actor> batchers, bool keep_sent);

} // namespace rpcbatch
