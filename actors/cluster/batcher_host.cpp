#include "actors/cluster/batcher_host.hpp"

#include "actors/pipeline/batcher_set.hpp"
#include "actors/cluster/remote.hpp"
#include "actors/observe/reporting.hpp"
#include "services/adapters/log.hpp"
#include "services/adapters/rpc_client.hpp"

namespace rpcbatch {

namespace {

using self_ptr = batcher_host_actor::stateful_pointer<batcher_host_state>;

/// Offers this node to the ingest node at `address`; tries again later if it
/// cannot be reached.
void join(self_ptr self, const std::string& address) {
  auto retry = [=](const std::string& why) {
    reconnect_later(self, self->state.backoff[address], "batcher-host",
                    "cannot join ingest node " + address + " (" + why + ")",
                    reconnect_atom::value, address);
  };
  connect_remote<ingest_actor>(
    self, address,
    [=](ingest_actor ingest) {
      auto& st = self->state;
      st.backoff.erase(address);
      st.joined[ingest.address()] = address;
      self->monitor(ingest);
      self->send(ingest, join_atom::value,
                 caf::actor_cast<batcher_host_actor>(self), st.node_name);
      log::info("batcher-host", "offered this node to ingest node ", address);
    },
    retry);
}

/// Stops what was spawned for the ingest node with sink `sink`.
void detach(self_ptr self, const caf::actor_addr& sink, const std::string& why) {
  auto& st = self->state;
  auto i = st.attached.find(sink);
  if (i == st.attached.end())
    return;
  for (auto& e : i->second.actors) {
    st.spawned.erase(e.handle.address());
    self->send_exit(e.handle, caf::exit_reason::user_shutdown);
  }
  log::info("batcher-host", "ingest node ", i->second.ingest_number, " ", why,
            ": its ", i->second.actors.size(), " actors stop");
  st.attached.erase(i);
  ++st.detachments;
}

/// An actor the host monitors went down: one it spawned for an ingest
/// node (its set stops), an ingest node's sink (the same), or an ingest
/// node it joined (offered again).
void on_down(self_ptr self, const caf::down_msg& msg) {
  auto& st = self->state;
  if (auto i = st.spawned.find(msg.source); i != st.spawned.end()) {
    ++st.actors_lost;
    log::warn("batcher-host", "an actor spawned for an ingest node stopped: ",
              self->system().render(msg.reason));
    detach(self, caf::actor_addr{i->second}, "lost an actor");
    return;
  }
  if (st.attached.count(msg.source) > 0)
    detach(self, msg.source, "went away");
  if (auto i = st.joined.find(msg.source); i != st.joined.end()) {
    auto address = i->second;
    st.joined.erase(i);
    join(self, address);
  }
}

/// An ingest node attaches with its sink: a fresh set of an rpc-caller and
/// one batcher per bucket, after the checks of refuse_attach and
/// spawn_batchers.
caf::result<std::vector<batcher_actor>>
attach(self_ptr self, sink_actor& snk, uint32_t buckets) {
  auto& st = self->state;
  auto refused = [&](caf::error err) {
    ++st.attaches_refused;
    log::warn("batcher-host", "attach refused: ", self->system().render(err));
    return err;
  };
  if (auto why = st.refuse_attach(snk); !why.empty())
    return refused(caf::make_error(caf::sec::invalid_argument, why));
  auto set = spawn_batchers(self, st.batcher, buckets, st.rpc, st.client,
                            snk);
  if (!set)
    return refused(std::move(set.error()));
  // Attached again (it lost one of the actors spawned for it): a fresh
  // set replaces the old one.
  detach(self, snk.address(), "attaches again");
  auto n = ++st.attachments;
  auto prefix = "ingest-" + std::to_string(n) + "/";
  auto& entry = st.attached[snk.address()];
  entry.ingest_number = n;
  self->monitor(snk);
  entry.actors.push_back(
    {prefix + rpc_caller_state::name, rpc_caller_state::name, "", set->rpc});
  for (uint32_t k = 0; k < buckets; ++k)
    entry.actors.push_back({prefix + "batcher-" + std::to_string(k),
                            batcher_state::name, "", set->batchers[k]});
  for (auto& e : entry.actors) {
    st.spawned.emplace(e.handle.address(), snk.address());
    self->monitor(e.handle);
  }
  log::info("batcher-host", "ingest node ", n, " attached with ",
            buckets, " buckets");
  return set->batchers;
}

} // namespace

std::string batcher_host_state::refuse_attach(const sink_actor& snk) const {
  if (attached.count(snk.address()) == 0
      && attached.size() >= max_ingest_nodes)
    return "already " + std::to_string(attached.size())
           + " ingest nodes attached";
  return {};
}

batcher_host_actor::behavior_type
batcher_host(batcher_host_actor::stateful_pointer<batcher_host_state> self,
             batcher_config batcher_cfg, rpc_caller_config rpc_cfg,
             std::shared_ptr<rpc_client> client) {
  self->state.batcher = batcher_cfg;
  self->state.rpc = rpc_cfg;
  self->state.client = std::move(client);
  self->set_down_handler([=](caf::down_msg& msg) { on_down(self, msg); });
  return {
    [=](attach_atom, sink_actor& snk, uint32_t buckets) {
      return attach(self, snk, buckets);
    },
    [=](join_atom, std::string& name, std::vector<std::string>& addresses) {
      self->state.node_name = std::move(name);
      for (auto& address : addresses)
        join(self, address);
    },
    [=](reconnect_atom, const std::string& address) { join(self, address); },
    [=](actors_atom) {
      actor_list out;
      for (auto& [sink, entry] : self->state.attached)
        out.insert(out.end(), entry.actors.begin(), entry.actors.end());
      return out;
    },
    [=](status_atom) {
      auto& st = self->state;
      std::size_t actors = 0;
      for (auto& [sink, entry] : st.attached)
        actors += entry.actors.size();
      return status_of(self, batcher_host_status{st.node_name,
                                                 st.attachments,
                                                 st.detachments,
                                                 st.actors_lost,
                                                 st.attaches_refused,
                                                 st.attached.size(),
                                                 st.joined.size(), actors});
    },
  };
}

} // namespace rpcbatch
