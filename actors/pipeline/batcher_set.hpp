// What serves the buckets of one ingest node, on that node (--role=all) or
// on a batcher node: an rpc-caller writing to the ingest node's sink and one
// batcher per bucket calling it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <caf/expected.hpp>
#include <caf/sec.hpp>

#include "actors/pipeline/batcher.hpp"
#include "actors/pipeline/rpc_caller.hpp"

namespace rpcbatch {

struct batcher_set {
  rpc_caller_actor rpc;
  /// Index = bucket.
  std::vector<batcher_actor> batchers;
};

/// Why no set can serve with these settings (empty: one can): no sink or
/// transport, buckets outside 1..max_buckets, a batch size of 0, a wait or
/// a deadline that is not above 0, or no call allowed in flight.
std::string batcher_set_refusal(const batcher_config& cfg, uint32_t buckets,
                                const rpc_caller_config& rpc_cfg,
                                const rpc_transport* transport,
                                const sink_actor& sink);

/// Spawns the set for `buckets` buckets (`cfg.bucket` set for each), or
/// answers invalid_argument with batcher_set_refusal() and spawns nothing.
template <class Self>
caf::expected<batcher_set>
spawn_batchers(Self* self, const batcher_config& cfg, uint32_t buckets,
               const rpc_caller_config& rpc_cfg,
               std::shared_ptr<rpc_transport> transport,
               const sink_actor& sink) {
  auto why = batcher_set_refusal(cfg, buckets, rpc_cfg, transport.get(), sink);
  if (!why.empty())
    return caf::make_error(caf::sec::invalid_argument, std::move(why));
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
