// The batcher nodes of an ingest node (--role=ingest). One batcher link per
// node (actors/cluster/batcher_link.hpp) attaches to it and watches it; the cluster
// assigns the buckets among the attached nodes (moving as few as possible,
// actors/cluster/bucket_assignment.hpp) and tells the router every change: a join
// hands buckets over (they drain on their old node first), a loss moves
// them at once and has the words sent to the lost node written again.
// Nodes listed in --batcher-nodes are linked at start; others join by
// themselves through the ingest interface, which the cluster serves on
// --listen.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <caf/typed_response_promise.hpp>

#include "actors/observe/event_log.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

struct cluster_state {
  static inline const char* name = "cluster";
  uint32_t buckets = 0;
  /// --batcher-nodes (HOST:PORT).
  std::vector<std::string> configured;
  sink_actor sink;
  /// Null until the pipeline's intake started.
  router_actor router;
  /// The link of every known batcher node, by address.
  std::map<std::string, batcher_link_actor> links;
  /// Joins that came before start, attached at start.
  std::map<std::string, batcher_host_actor> early_joins;
  struct attached_node {
    batcher_host_actor host;
    /// Index = bucket.
    std::vector<batcher_actor> batchers;
  };
  std::map<std::string, attached_node> attached;
  /// The owner of every bucket (empty: none).
  std::vector<std::string> owners;
  /// Configured nodes whose first attempt has not settled yet, and the
  /// start request that waits for them.
  std::set<std::string> first_attempts;
  caf::typed_response_promise<uint32_t> started;
  bool starting = false;
  uint64_t joins = 0;
  uint64_t losses = 0;
  uint64_t batchers_lost = 0;
  uint64_t joins_refused = 0;
  /// Batcher nodes joining and lost, buckets moving, as they happen.
  event_log events;

  /// At most this many batcher nodes are known: a peer cannot make the
  /// cluster spawn links without bound.
  static constexpr std::size_t max_batcher_nodes = 256;

  /// Why a join must be refused (empty: it may go on): no host, a name
  /// that is empty or longer than 255 bytes, or one node too many.
  std::string refuse_join(const batcher_host_actor& host,
                          const std::string& node) const;

  /// The owners after the attached set changed: assigns the buckets anew
  /// and answers each bucket's batcher (null: no node) and how many buckets
  /// changed owner.
  std::pair<std::vector<batcher_actor>, uint32_t> reassign();

  /// An event for every bucket whose owner changed from one node to
  /// another since `before` (the owners then).
  void record_moves(const std::vector<std::string>& before);

  /// The batchers in use and the hosts of the attached nodes.
  actor_list directory() const;
};

cluster_actor::behavior_type
cluster(cluster_actor::stateful_pointer<cluster_state> self, uint32_t buckets,
        std::vector<std::string> batcher_nodes);

} // namespace rpcbatch
