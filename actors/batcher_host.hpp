// The batcher host: what a batcher node (--role=batcher) publishes on CAF's
// middleman. Every ingest node that attaches gets its own rpc-caller and one
// batcher per bucket, so per-bucket batching stays per ingest node; results
// go back to the ingest node's sink, whose acknowledgements stay local to
// its offset tracking.
#pragma once

#include <memory>
#include <vector>

#include "actors/batcher.hpp"
#include "actors/rpc_caller.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

class rpc_client;

struct batcher_host_state {
  static inline const char* name = "batcher-host";
  batcher_config batcher;
  rpc_caller_config rpc;
  std::shared_ptr<rpc_client> client;
  /// Everything spawned for attached ingest nodes.
  std::vector<std::pair<std::string, status_client>> actors;
  uint64_t attachments = 0;
};

batcher_host_actor::behavior_type
batcher_host(batcher_host_actor::stateful_pointer<batcher_host_state> self,
             batcher_config batcher, rpc_caller_config rpc,
             std::shared_ptr<rpc_client> client);

} // namespace rpcbatch
