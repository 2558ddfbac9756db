// What serves the buckets of one ingest node, on that node (--role=all) or
// on a batcher node: an rpc-caller writing to the ingest node's sink and one
// batcher per bucket calling it.
#pragma once

#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "actors/batcher.hpp"
#include "actors/rpc_caller.hpp"

namespace rpcbatch {

struct batcher_set {
  rpc_caller_actor rpc;
  /// Index = bucket.
  std::vector<batcher_actor> batchers;
};

/// Spawns the set for `buckets` buckets (`cfg.bucket` set for each).
template <class Self>
batcher_set spawn_batchers(Self* self, const batcher_config& cfg,
                           uint32_t buckets, const rpc_caller_config& rpc_cfg,
                           std::shared_ptr<rpc_transport> transport,
                           const sink_actor& sink) {
  batcher_set out;
  out.rpc = self->spawn(rpc_caller, rpc_cfg, std::move(transport), sink);
  out.batchers.reserve(buckets);
  for (uint32_t k = 0; k < buckets; ++k) {
    auto bcfg = cfg;
    bcfg.bucket = k;
    out.batchers.push_back(self->spawn(batcher, bcfg, out.rpc, sink));
  }
  return out;
}

} // namespace rpcbatch
