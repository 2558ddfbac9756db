#include "actors/cluster/batcher_link.hpp"

#include <algorithm>
#include <chrono>

#include "actors/cluster/remote.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

using self_ptr = batcher_link_actor::stateful_pointer<batcher_link_state>;
using behavior = batcher_link_actor::behavior_type;

behavior unconnected(self_ptr self);
behavior connecting(self_ptr self);
behavior attached(self_ptr self);

long long milliseconds(caf::timespan d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

/// Whether a reply belongs to an attempt that was given up.
bool stale(self_ptr self, uint64_t attempt) {
  return self->state.attempt != attempt;
}

/// Unconnected until the next attempt: a configured node is tried again
/// after the backoff, a node that joined by itself waits for its next join.
void wait_for_next_attempt(self_ptr self, const std::string& why) {
  auto& st = self->state;
  st.host = nullptr;
  ++st.attempt;
  self->become(unconnected(self));
  if (!st.cfg.configured) {
    log::warn("node", "batcher node ", st.cfg.node, ": ", why);
    return;
  }
  reconnect_later(self, st.backoff, "node",
                  "batcher node " + st.cfg.node + ": " + why,
                  reconnect_atom::value, st.attempt);
}

void failed(self_ptr self, const std::string& why) {
  self->send(self->state.cfg.cluster, failed_atom::value, self->state.cfg.node);
  wait_for_next_attempt(self, why);
}

void enter_attached(self_ptr self, std::vector<batcher_actor> batchers) {
  auto& st = self->state;
  log::info("node", "attached to batcher node ", st.cfg.node);
  st.backoff = caf::timespan{0};
  st.batchers = std::move(batchers);
  self->monitor(st.host);
  for (auto& b : st.batchers)
    self->monitor(b);
  self->send(st.cfg.cluster, attach_atom::value, st.cfg.node, st.host,
             st.batchers);
  self->become(attached(self));
}

/// Asks the host for batchers writing to the ingest node's sink.
void attach(self_ptr self, uint64_t attempt) {
  auto& st = self->state;
  self
    ->request(st.host, std::chrono::seconds(30), attach_atom::value,
              st.cfg.sink, st.cfg.buckets)
    .then(
      [=](std::vector<batcher_actor>& batchers) {
        if (stale(self, attempt)) {
          // The host stops the whole set once one of them goes.
          for (auto& b : batchers)
            self->send_exit(b, caf::exit_reason::user_shutdown);
          return;
        }
        auto expected = self->state.cfg.buckets;
        if (batchers.size() != expected)
          failed(self, "offered " + std::to_string(batchers.size())
                         + " batchers for " + std::to_string(expected)
                         + " buckets");
        else if (std::count(batchers.begin(), batchers.end(), nullptr) > 0)
          failed(self, "offered a batcher that is no actor");
        else
          enter_attached(self, std::move(batchers));
      },
      [=](caf::error& err) {
        if (!stale(self, attempt))
          failed(self, "cannot attach: " + self->system().render(err));
      });
}

/// A new attempt: attaches to the known host, or reaches the node's
/// published host first.
void connect(self_ptr self) {
  auto& st = self->state;
  auto attempt = ++st.attempt;
  self->become(connecting(self));
  if (st.host != nullptr) {
    attach(self, attempt);
    return;
  }
  connect_remote<batcher_host_actor>(
    self, st.cfg.node,
    [=](batcher_host_actor host) {
      if (stale(self, attempt))
        return;
      self->state.host = std::move(host);
      attach(self, attempt);
    },
    [=](std::string why) {
      if (!stale(self, attempt))
        failed(self, "cannot connect: " + why);
    });
}

/// Stops watching the attached node and tells the cluster that its
/// batchers are gone.
void detach(self_ptr self, bool node_gone) {
  auto& st = self->state;
  self->demonitor(st.host.address());
  for (auto& b : st.batchers)
    self->demonitor(b.address());
  st.batchers.clear();
  self->send(st.cfg.cluster, lost_atom::value, st.cfg.node, st.host.node(),
             node_gone);
}

/// A batcher stopped on a node that stays up: attach to it again, at once
/// the first time, later while it keeps happening.
void batcher_lost(self_ptr self, const caf::error& reason) {
  auto& st = self->state;
  auto now = self->clock().now();
  st.reattach_delay = st.last_lost && now - *st.last_lost
                                         < std::chrono::minutes(1)
                        ? next_backoff(st.reattach_delay)
                        : caf::timespan{0};
  st.last_lost = now;
  log::warn("node", "a batcher on batcher node ", st.cfg.node, " stopped (",
            self->system().render(reason), "): its words go again and the ",
            "node is attached again in ", milliseconds(st.reattach_delay),
            " ms");
  detach(self, false);
  if (st.reattach_delay.count() == 0) {
    connect(self);
    return;
  }
  self->become(unconnected(self));
  self->delayed_send(self, st.reattach_delay, reconnect_atom::value,
                     ++st.attempt);
}

/// The host or a batcher of the attached node went down.
void on_down(self_ptr self, const caf::down_msg& msg) {
  auto& st = self->state;
  auto watched = msg.source == st.host.address()
                 || std::any_of(st.batchers.begin(), st.batchers.end(),
                                [&](auto& b) { return msg.source == b; });
  if (!watched || st.batchers.empty())
    return;
  if (msg.source == st.host.address()
      || msg.reason == caf::exit_reason::remote_link_unreachable) {
    detach(self, true);
    wait_for_next_attempt(self, "connection lost");
  } else {
    batcher_lost(self, msg.reason);
  }
}

/// The node offered itself: attach to this host (unless it is the one in
/// use); another host means the node restarted before its loss was seen.
void offered(self_ptr self, batcher_host_actor& host) {
  auto& st = self->state;
  if (host == nullptr || host == st.host)
    return;
  if (!st.batchers.empty())
    detach(self, true);
  st.host = std::move(host);
  connect(self);
}

behavior unconnected(self_ptr self) {
  return {
    [=](join_atom, batcher_host_actor& host) { offered(self, host); },
    [=](reconnect_atom, uint64_t attempt) {
      if (!stale(self, attempt))
        connect(self);
    },
  };
}

behavior connecting(self_ptr self) {
  return {
    [=](join_atom, batcher_host_actor& host) { offered(self, host); },
    [=](reconnect_atom, uint64_t) {},
  };
}

behavior attached(self_ptr self) {
  return {
    [=](join_atom, batcher_host_actor& host) { offered(self, host); },
    [=](reconnect_atom, uint64_t) {},
  };
}

} // namespace

behavior batcher_link(self_ptr self, batcher_link_config cfg) {
  self->state.cfg = std::move(cfg);
  self->set_down_handler([=](caf::down_msg& msg) { on_down(self, msg); });
  return unconnected(self);
}

} // namespace rpcbatch
