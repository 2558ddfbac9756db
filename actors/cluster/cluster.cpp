#include "actors/cluster/cluster.hpp"

#include "actors/cluster/batcher_host.hpp"
#include "actors/cluster/batcher_link.hpp"
#include "actors/cluster/bucket_assignment.hpp"
#include "actors/observe/reporting.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

std::string cluster_state::refuse_join(const batcher_host_actor& host,
                                       const std::string& node) const {
  if (host == nullptr)
    return "no host";
  if (node.empty() || node.size() > 255)
    return "a node name of " + std::to_string(node.size())
           + " bytes (1 to 255 allowed)";
  auto known = links.count(node) > 0 || early_joins.count(node) > 0;
  if (!known && links.size() + early_joins.size() >= max_batcher_nodes)
    return "already " + std::to_string(max_batcher_nodes)
           + " batcher nodes known";
  return {};
}

std::pair<std::vector<batcher_actor>, uint32_t> cluster_state::reassign() {
  std::vector<std::string> names;
  for (auto& [node, ignored] : attached)
    names.push_back(node);
  auto next = assign_buckets(buckets, names, owners);
  uint32_t moved = 0;
  std::vector<batcher_actor> batchers;
  for (uint32_t k = 0; k < next.size(); ++k) {
    if (k >= owners.size() || owners[k] != next[k])
      ++moved;
    auto i = attached.find(next[k]);
    batchers.push_back(i == attached.end() ? batcher_actor{}
                                           : i->second.batchers.at(k));
  }
  owners = std::move(next);
  return {std::move(batchers), moved};
}

void cluster_state::record_moves(const std::vector<std::string>& before) {
  for (std::size_t k = 0; k < owners.size() && k < before.size(); ++k)
    if (!before[k].empty() && !owners[k].empty() && before[k] != owners[k])
      events.add(event_kind::bucket_moved, "batcher-" + std::to_string(k)
                                             + " moved from " + before[k]
                                             + " to " + owners[k]);
}

actor_list cluster_state::directory() const {
  actor_list out;
  for (uint32_t k = 0; k < owners.size(); ++k) {
    auto i = attached.find(owners[k]);
    if (i == attached.end())
      continue;
    out.push_back({"batcher-" + std::to_string(k) + "@" + owners[k],
                   batcher_state::name, owners[k], i->second.batchers.at(k),
                   static_cast<int32_t>(k)});
  }
  for (auto& [node, x] : attached)
    out.push_back({std::string{batcher_host_state::name} + "@" + node,
                   batcher_host_state::name, node, x.host});
  return out;
}

namespace {

using self_ptr = cluster_actor::stateful_pointer<cluster_state>;

/// Whether the current message comes from an actor of this node.
bool from_this_node(self_ptr self) {
  auto& sender = self->current_sender();
  return sender != nullptr && sender->node() == self->node();
}

/// Whether the current message comes from the link of `node`.
bool from_link(self_ptr self, const std::string& node) {
  auto i = self->state.links.find(node);
  return i != self->state.links.end() && self->current_sender() != nullptr
         && caf::actor_cast<caf::actor_addr>(self->current_sender())
              == i->second.address();
}

/// The link of `node`, spawned (and linked: it stops with the cluster) if
/// the node is new.
batcher_link_actor link_to(self_ptr self, const std::string& node,
                           bool configured) {
  auto& st = self->state;
  auto& link = st.links[node];
  if (link == nullptr)
    link = self->spawn<caf::linked>(
      batcher_link,
      batcher_link_config{node, configured, st.buckets, st.sink,
                          caf::actor_cast<cluster_actor>(self)});
  return link;
}

/// The first attempt at `node` settled; the start answers after the last.
void settled(self_ptr self, const std::string& node) {
  auto& st = self->state;
  if (st.first_attempts.erase(node) > 0 && st.first_attempts.empty()
      && st.started.pending())
    st.started.deliver(static_cast<uint32_t>(st.attached.size()));
}

caf::result<uint32_t> start(self_ptr self, sink_actor& sink) {
  auto& st = self->state;
  if (!from_this_node(self) || st.starting)
    return caf::make_error(caf::sec::unexpected_message);
  st.starting = true;
  st.sink = std::move(sink);
  for (auto& node : st.configured) {
    st.first_attempts.insert(node);
    self->send(link_to(self, node, true), reconnect_atom::value, uint64_t{0});
  }
  for (auto& [node, host] : st.early_joins)
    self->send(link_to(self, node, false), join_atom::value, host);
  st.early_joins.clear();
  if (st.first_attempts.empty())
    return static_cast<uint32_t>(st.attached.size());
  st.started = self->make_response_promise<uint32_t>();
  return st.started;
}

/// The intake started: the router gets the current owners.
void set_router(self_ptr self, router_actor& router) {
  auto& st = self->state;
  if (!from_this_node(self) || st.router != nullptr)
    return;
  st.router = std::move(router);
  if (st.attached.empty())
    log::warn("node", "no batcher node reachable yet: words wait in the "
                      "router (consuming stops at --max-inflight-words)");
  else
    log::info("node", "buckets assigned to ", st.attached.size(),
              " batcher node(s)");
  self->send(st.router, handover_atom::value, st.reassign().first);
}

void join(self_ptr self, batcher_host_actor& host, std::string& node) {
  auto& st = self->state;
  if (auto why = st.refuse_join(host, node); !why.empty()) {
    ++st.joins_refused;
    log::warn("node", "join refused: ", why);
    return;
  }
  log::info("node", "batcher node ", node, " asks to join");
  if (st.starting)
    self->send(link_to(self, node, false), join_atom::value, std::move(host));
  else
    st.early_joins[node] = std::move(host);
}

/// A link attached its node: it gets its share of the buckets; buckets
/// that move drain on their old node first.
void attached(self_ptr self, std::string& node, batcher_host_actor& host,
              std::vector<batcher_actor>& batchers) {
  auto& st = self->state;
  if (!from_link(self, node) || batchers.size() != st.buckets)
    return;
  st.attached[node] = {std::move(host), std::move(batchers)};
  settled(self, node);
  if (st.router == nullptr)
    return;
  ++st.joins;
  auto before = st.owners;
  auto [owners, moved] = st.reassign();
  st.events.add(event_kind::node_joined,
                "batcher node " + node + " joined: " + std::to_string(moved)
                  + " bucket(s) move to it");
  st.record_moves(before);
  log::info("node", "batcher node ", node, " joined: ", moved,
            " bucket(s) move to it (", st.attached.size(),
            " batcher node(s))");
  self->send(st.router, handover_atom::value, std::move(owners));
}

/// A link lost its node's batchers: their buckets move to the other nodes
/// (or wait for one), and the router sends the words that were on the lost
/// node and are not done yet to their buckets' new owners.
void lost(self_ptr self, const std::string& node, caf::node_id& where,
          bool node_gone) {
  auto& st = self->state;
  if (!from_link(self, node) || st.attached.erase(node) == 0)
    return;
  ++(node_gone ? st.losses : st.batchers_lost);
  if (st.router == nullptr)
    return;
  auto before = st.owners;
  auto owners = st.reassign().first;
  auto what = node_gone ? " is gone" : " lost a batcher";
  st.events.add(event_kind::node_lost, "batcher node " + node + what);
  st.record_moves(before);
  if (st.attached.empty())
    log::warn("node", "batcher node ", node, what, " and no batcher node is "
              "left: words wait in the router until one comes back");
  else
    log::warn("node", "batcher node ", node, what, ": its buckets move to ",
              st.attached.size(), " other node(s)");
  self->send(st.router, lost_atom::value, std::move(where), std::move(owners));
}

actor_status status_of_cluster(self_ptr self) {
  auto& st = self->state;
  cluster_status out;
  out.buckets = st.buckets;
  for (auto& [node, ignored] : st.attached)
    out.batcher_nodes.push_back(node);
  out.links = st.links.size();
  out.joins = st.joins;
  out.losses = st.losses;
  out.batchers_lost = st.batchers_lost;
  for (auto& owner : st.owners)
    out.unowned_buckets += owner.empty() ? 1 : 0;
  out.joins_refused = st.joins_refused;
  return status_of(self, std::move(out), st.events);
}

} // namespace

cluster_actor::behavior_type
cluster(cluster_actor::stateful_pointer<cluster_state> self, uint32_t buckets,
        std::vector<std::string> batcher_nodes) {
  self->state.buckets = buckets;
  self->state.owners.resize(buckets);
  self->state.configured = std::move(batcher_nodes);
  return {
    [=](join_atom, batcher_host_actor& host, std::string& node) {
      join(self, host, node);
    },
    [=](start_atom, sink_actor& sink) { return start(self, sink); },
    [=](router_actor& router) { set_router(self, router); },
    [=](attach_atom, std::string& node, batcher_host_actor& host,
        std::vector<batcher_actor>& batchers) {
      attached(self, node, host, batchers);
    },
    [=](lost_atom, std::string& node, caf::node_id& where, bool node_gone) {
      lost(self, node, where, node_gone);
    },
    [=](failed_atom, std::string& node) {
      if (from_link(self, node))
        settled(self, node);
    },
    [=](actors_atom) { return self->state.directory(); },
    [=](status_atom) { return status_of_cluster(self); },
  };
}

} // namespace rpcbatch
