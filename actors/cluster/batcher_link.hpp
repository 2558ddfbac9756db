// An ingest node's link to one batcher node, as a state machine of three
// behaviours (after CAF's distributed calculator example):
//
//   unconnected --reconnect--> connecting --attached--> attached
//        ^    \____join_________^     |                     |
//        |________________failed______|________lost_________|
//
// Connecting reaches the node's published batcher host (unless the host
// came with a join) and attaches with the ingest node's sink: the host
// spawns one batcher per bucket. Attached, the link watches the host and
// the batchers; when they go it tells the cluster and goes back to
// unconnected. A configured node is tried again after a growing delay
// (1 s doubling to 30 s); a node that only joined by itself waits for its
// next join. A batcher that stops on a node that stays up makes the link
// attach again: at once the first time, then after a growing delay while
// it keeps happening within a minute, so that words that kill a batcher
// cannot make a busy loop of it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <caf/timespan.hpp>

#include "messages/actors.hpp"

namespace rpcbatch {

struct batcher_link_config {
  /// The node's address (HOST:PORT).
  std::string node;
  /// Listed in --batcher-nodes: connected to at start and tried again
  /// whenever it is lost.
  bool configured = false;
  uint32_t buckets = 0;
  sink_actor sink;
  cluster_actor cluster;
};

struct batcher_link_state {
  static inline const char* name = "batcher-link";
  batcher_link_config cfg;
  /// The host attached or being attached; kept while unconnected after a
  /// lost batcher (attached again) and dropped when the node is lost.
  batcher_host_actor host;
  std::vector<batcher_actor> batchers;
  /// Numbers every attempt and timer: replies and timers of an older one
  /// are ignored.
  uint64_t attempt = 0;
  /// The delay before the next connection attempt.
  caf::timespan backoff{0};
  /// The delay before attaching again after a lost batcher, and when one
  /// was last lost (none yet: empty).
  caf::timespan reattach_delay{0};
  std::optional<caf::actor_clock::time_point> last_lost;
};

batcher_link_actor::behavior_type
batcher_link(batcher_link_actor::stateful_pointer<batcher_link_state> self,
             batcher_link_config cfg);

} // namespace rpcbatch
