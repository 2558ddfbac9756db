#include "actors/batcher_host.hpp"

#include "actors/status.hpp"
#include "services/log.hpp"

namespace rpcbatch {

batcher_host_actor::behavior_type
batcher_host(batcher_host_actor::stateful_pointer<batcher_host_state> self,
             batcher_config batcher_cfg, rpc_caller_config rpc_cfg,
             std::shared_ptr<rpc_client> client) {
  self->state.batcher = batcher_cfg;
  self->state.rpc = rpc_cfg;
  self->state.client = std::move(client);
  return {
    [=](attach_atom, sink_actor& snk, uint32_t buckets)
      -> std::vector<batcher_actor> {
      auto& st = self->state;
      auto n = ++st.attachments;
      auto prefix = "ingest-" + std::to_string(n) + "/";
      auto rpc = self->spawn(rpc_caller, st.rpc, st.client, snk);
      st.actors.emplace_back(prefix + "rpc-caller", rpc);
      std::vector<batcher_actor> out;
      for (uint32_t k = 0; k < buckets; ++k) {
        auto cfg = st.batcher;
        cfg.bucket = k;
        out.push_back(self->spawn(batcher, cfg, rpc));
        st.actors.emplace_back(prefix + "batcher-" + std::to_string(k),
                               out.back());
      }
      log::info("batcher-host", "ingest node ", n, " attached with ",
                buckets, " buckets");
      return out;
    },
    [=](actors_atom) { return self->state.actors; },
    [=](status_atom) {
      auto& st = self->state;
      return status_json(self, {{"attachments", st.attachments},
                                {"actors", st.actors.size()}});
    },
  };
}

} // namespace rpcbatch
