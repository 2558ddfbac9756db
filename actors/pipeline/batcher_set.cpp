#include "actors/pipeline/batcher_set.hpp"

namespace rpcbatch {

std::string batcher_set_refusal(const batcher_config& cfg, uint32_t buckets,
                                const rpc_caller_config& rpc_cfg,
                                const rpc_transport* transport,
                                const sink_actor& sink) {
  if (sink == nullptr)
    return "no sink";
  if (transport == nullptr)
    return "no RPC transport";
  if (buckets < 1 || buckets > max_buckets)
    return std::to_string(buckets) + " buckets (1 to "
           + std::to_string(max_buckets) + " allowed)";
  if (cfg.batch_size < 1)
    return "a batch size of 0";
  if (cfg.max_wait <= caf::timespan{0})
    return "a maximum wait that is not above 0";
  if (rpc_cfg.deadline.count() <= 0 || rpc_cfg.max_inflight < 1)
    return "an RPC deadline that is not above 0 or no call in flight";
  return {};
}

} // namespace rpcbatch
