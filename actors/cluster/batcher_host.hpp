// The batcher host: what a batcher node (--role=batcher) publishes on CAF's
// middleman. Every ingest node that attaches gets its own rpc-caller and one
// batcher per bucket, so per-bucket batching stays per ingest node; results
// go back to the ingest node's sink, whose acknowledgements stay local to
// its offset tracking. When that sink goes away (the ingest node stopped or
// its link broke), the host stops what it spawned for it; when one of those
// actors stops on its own, the host stops the others too, so that the
// ingest node sees its batchers go and moves their words elsewhere until it
// attaches again. With --join, the host offers itself to ingest nodes, and
// again whenever the link breaks.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <caf/timespan.hpp>

#include "actors/pipeline/batcher.hpp"
#include "actors/pipeline/rpc_caller.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

class rpc_client;

struct batcher_host_state {
  static inline const char* name = "batcher-host";
  batcher_config batcher;
  rpc_caller_config rpc;
  /// This node's name for the ingest nodes it joins (HOST:PORT).
  std::string node_name;
  std::shared_ptr<rpc_client> client;
  /// What was spawned for each attached ingest node, by its sink.
  struct attachment {
    uint64_t ingest_number;
    actor_list actors;
  };
  std::map<caf::actor_addr, attachment> attached;
  /// Every actor spawned for an ingest node -> that node's sink.
  std::map<caf::actor_addr, caf::actor_addr> spawned;
  /// Ingest nodes this node joined (monitored) -> address.
  std::map<caf::actor_addr, std::string> joined;
  std::map<std::string, caf::timespan> backoff;
  uint64_t attachments = 0;
  uint64_t detachments = 0;
  /// Attachments ended because one of their actors stopped.
  uint64_t actors_lost = 0;
  /// Attaches refused as invalid (see refuse_attach).
  uint64_t attaches_refused = 0;

  /// At most this many ingest nodes attach at once: a peer cannot make the
  /// host spawn without bound.
  static constexpr std::size_t max_ingest_nodes = 64;

  /// Why an attach must be refused before its batchers are spawned (empty:
  /// it may go on): too many ingest nodes. spawn_batchers() checks the
  /// sink and the number of buckets.
  std::string refuse_attach(const sink_actor& snk) const;
};

batcher_host_actor::behavior_type
batcher_host(batcher_host_actor::stateful_pointer<batcher_host_state> self,
             batcher_config batcher, rpc_caller_config rpc,
             std::shared_ptr<rpc_client> client);

} // namespace rpcbatch
