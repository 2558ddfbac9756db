// The node: spawns and wires one pipeline (source, tokenizer, router, and
// either the batchers and the rpc-caller or, on an ingest node, the cluster
// of batcher nodes; sink), prints stats, and ends the run on bounded end,
// drain or a fatal error, handing the outcome to whoever started it.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/timespan.hpp>

#include "actors/pipeline/batcher.hpp"
#include "actors/observe/countdown.hpp"
#include "actors/pipeline/rpc_caller.hpp"
#include "actors/pipeline/sink.hpp"
#include "actors/pipeline/source.hpp"
#include "actors/observe/reporting.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

class kafka_consumer;
class kafka_producer;
class latency_histogram;
class rpc_client;

struct pipeline_config {
  uint32_t buckets = 10;
  /// Every batcher's settings (the bucket is set per batcher).
  batcher_config batcher;
  rpc_caller_config rpc;
  sink_config sink;
  source_config source;
  /// How often a stats line is logged (0 = never).
  caf::timespan stats_interval = std::chrono::seconds(5);
};

/// The adapters to the outside world that the actors use.
struct pipeline_adapters {
  std::shared_ptr<kafka_consumer> consumer;
  std::shared_ptr<kafka_producer> producer;
  std::shared_ptr<rpc_client> rpc;
  std::shared_ptr<latency_histogram> latency;
};

/// How a run ended.
struct node_outcome {
  /// False after a fatal error: nothing more may be committed.
  bool ok = true;
  /// True if the drain confirmed every word before committing.
  bool complete = false;
  std::string error;
  /// Offsets to commit last (only when ok).
  std::vector<partition_offset> final_offsets;
  /// One-line JSON summary of the run.
  std::string summary;
};

struct node_state {
  static inline const char* name = "node";
  pipeline_config cfg;
  pipeline_adapters adapters;
  std::function<void(node_outcome)> finished;
  source_actor source;
  /// Every actor of the pipeline by name, for status and shutdown.
  actor_list actors;
  caf::actor_clock::time_point started;
  bool finishing = false;
  router_actor router;
  sink_actor sink;
  /// The batcher nodes (--role=ingest); null: the batchers run here.
  cluster_actor cluster;
};

node_actor::behavior_type
node(node_actor::stateful_pointer<node_state> self, pipeline_config cfg,
     pipeline_adapters adapters, cluster_actor cluster,
     std::function<void(node_outcome)> finished);

} // namespace rpcbatch
