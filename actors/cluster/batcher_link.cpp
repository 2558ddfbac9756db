#include "actors/cluster/batcher_link.hpp"

#include <algorithm>
#include <chrono>

#include "actors/cluster/remote.hpp"
#include "actors/observe/reporting.hpp"
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

} // namespace

const char* to_string(link_phase x) {
  switch (x) {
    case link_phase::unconnected:
      return "unconnected";
    case link_phase::connecting:
      return "connecting";
    case link_phase::attached:
      return "attached";
  }
  return "unknown";
}

// -- unconnected --------------------------------------------------------------

void batcher_link_state::timer_fired(uint64_t n) {
  if (n != attempt) {
    ignore_stale();
    return;
  }
  next_attempt.reset();
  connect();
}

// -- unconnected and connecting -----------------------------------------------

bool batcher_link_state::new_host(const batcher_host_actor& x) const {
  return x != nullptr && x != host;
}

void batcher_link_state::attach_to(batcher_host_actor x) {
  host = std::move(x);
  connect();
}

// -- connecting ---------------------------------------------------------------

bool batcher_link_state::current(uint64_t n) const {
  return phase == link_phase::connecting && n == attempt;
}

void batcher_link_state::connect() {
  auto n = ++attempt;
  ++attempts;
  next_attempt.reset();
  phase = link_phase::connecting;
  self->become(connecting(self));
  if (host != nullptr) {
    attach(n);
    return;
  }
  auto me = self;
  connect_remote<batcher_host_actor>(
    self, cfg.node,
    [me, n](batcher_host_actor x) {
      auto& st = me->state;
      if (!st.current(n)) {
        st.ignore_stale();
        return;
      }
      st.host = std::move(x);
      st.attach(n);
    },
    [me, n](std::string why) {
      me->state.failed(n, "cannot connect: " + why);
    });
}

/// Asks the host for batchers writing to the ingest node's sink.
void batcher_link_state::attach(uint64_t n) {
  auto me = self;
  self
    ->request(host, std::chrono::seconds(30), attach_atom::value, cfg.sink,
              cfg.buckets)
    .then(
      [me, n](std::vector<batcher_actor>& xs) { me->state.offered(n, xs); },
      [me, n](caf::error& err) {
        me->state.failed(n, "cannot attach: " + me->system().render(err));
      });
}

void batcher_link_state::offered(uint64_t n, std::vector<batcher_actor>& xs) {
  if (!current(n)) {
    ignore_stale();
    // The host stops the whole set once one of them goes.
    for (auto& b : xs)
      self->send_exit(b, caf::exit_reason::user_shutdown);
    return;
  }
  if (xs.size() != cfg.buckets)
    fail("offered " + std::to_string(xs.size()) + " batchers for "
         + std::to_string(cfg.buckets) + " buckets");
  else if (std::count(xs.begin(), xs.end(), nullptr) > 0)
    fail("offered a batcher that is no actor");
  else
    enter_attached(std::move(xs));
}

void batcher_link_state::failed(uint64_t n, const std::string& why) {
  if (current(n))
    fail(why);
  else
    ignore_stale();
}

void batcher_link_state::fail(const std::string& why) {
  ++counters.failures;
  self->send(cfg.cluster, failed_atom::value, cfg.node);
  wait_for_next_attempt(why);
}

void batcher_link_state::enter_attached(std::vector<batcher_actor> xs) {
  log::info("node", "attached to batcher node ", cfg.node);
  ++counters.attaches;
  attempts = 0;
  backoff = caf::timespan{0};
  batchers = std::move(xs);
  self->monitor(host);
  for (auto& b : batchers)
    self->monitor(b);
  self->send(cfg.cluster, attach_atom::value, cfg.node, host, batchers);
  phase = link_phase::attached;
  self->become(attached(self));
}

// -- attached -----------------------------------------------------------------

void batcher_link_state::restarted(batcher_host_actor x) {
  log::warn("node", "batcher node ", cfg.node, " offered another host: it ",
            "restarted, its batchers are gone");
  ++counters.losses;
  detach(true);
  attach_to(std::move(x));
}

void batcher_link_state::down(const caf::down_msg& msg) {
  if (phase != link_phase::attached)
    return;
  auto from_host = msg.source == host.address();
  auto watched = from_host
                 || std::any_of(batchers.begin(), batchers.end(),
                                [&](auto& b) { return msg.source == b; });
  if (!watched)
    return;
  if (from_host || msg.reason == caf::exit_reason::remote_link_unreachable) {
    ++counters.losses;
    detach(true);
    wait_for_next_attempt("connection lost");
  } else {
    ++counters.batchers_lost;
    batcher_lost(msg.reason);
  }
}

void batcher_link_state::detach(bool node_gone) {
  self->demonitor(host.address());
  for (auto& b : batchers)
    self->demonitor(b.address());
  batchers.clear();
  self->send(cfg.cluster, lost_atom::value, cfg.node, host.node(), node_gone);
}

void batcher_link_state::batcher_lost(const caf::error& reason) {
  auto now = self->clock().now();
  reattach_delay = last_lost && now - *last_lost < std::chrono::minutes(1)
                     ? next_backoff(reattach_delay)
                     : caf::timespan{0};
  last_lost = now;
  log::warn("node", "a batcher on batcher node ", cfg.node, " stopped (",
            self->system().render(reason), "): its words go again and the ",
            "node is attached again in ", milliseconds(reattach_delay),
            " ms");
  detach(false);
  if (reattach_delay.count() == 0)
    connect();
  else
    schedule_attempt(reattach_delay);
}

// -- transitions to unconnected -----------------------------------------------

void batcher_link_state::wait_for_next_attempt(const std::string& why) {
  host = nullptr;
  if (!cfg.configured) {
    ++attempt;
    next_attempt.reset();
    phase = link_phase::unconnected;
    self->become(unconnected(self));
    log::warn("node", "batcher node ", cfg.node, ": ", why);
    return;
  }
  backoff = next_backoff(backoff);
  log::warn("node", "batcher node ", cfg.node, ": ", why, "; trying again in ",
            milliseconds(backoff), " ms");
  schedule_attempt(backoff);
}

void batcher_link_state::schedule_attempt(caf::timespan delay) {
  auto n = ++attempt;
  next_attempt = self->clock().now() + delay;
  phase = link_phase::unconnected;
  self->become(unconnected(self));
  self->delayed_send(self, delay, reconnect_atom::value, n);
}

// -- every state --------------------------------------------------------------

void batcher_link_state::ignore_stale() {
  ++counters.stale;
}

actor_status batcher_link_state::status() const {
  auto out = counters;
  out.node = cfg.node;
  out.configured = cfg.configured;
  out.state = to_string(phase);
  out.attempts = attempts;
  out.generation = attempt;
  out.backoff_ms = milliseconds(backoff);
  out.reattach_delay_ms = milliseconds(reattach_delay);
  if (next_attempt)
    out.ms_to_next_attempt = std::max<int64_t>(
      0, milliseconds(*next_attempt - self->clock().now()));
  out.batchers = batchers.size();
  return status_of(self, std::move(out));
}

// -- behaviours ---------------------------------------------------------------

namespace {

/// Waiting: for the timer of the next attempt (a configured node, or a
/// node whose batcher was lost) or for a join.
behavior unconnected(self_ptr self) {
  return {
    [=](join_atom, batcher_host_actor& host) {
      if (self->state.new_host(host))
        self->state.attach_to(std::move(host));
    },
    [=](reconnect_atom, uint64_t n) { self->state.timer_fired(n); },
    [=](status_atom) { return self->state.status(); },
  };
}

/// An attempt runs (its replies come to the state, see connect()): no
/// timer is current; a join with another host replaces the attempt.
behavior connecting(self_ptr self) {
  return {
    [=](join_atom, batcher_host_actor& host) {
      if (self->state.new_host(host))
        self->state.attach_to(std::move(host));
    },
    [=](reconnect_atom, uint64_t) { self->state.ignore_stale(); },
    [=](status_atom) { return self->state.status(); },
  };
}

/// The node's batchers are in use and watched (see down()): no timer is
/// current; a join with another host means the node restarted.
behavior attached(self_ptr self) {
  return {
    [=](join_atom, batcher_host_actor& host) {
      if (self->state.new_host(host))
        self->state.restarted(std::move(host));
    },
    [=](reconnect_atom, uint64_t) { self->state.ignore_stale(); },
    [=](status_atom) { return self->state.status(); },
  };
}

} // namespace

behavior batcher_link(self_ptr self, batcher_link_config cfg) {
  self->state.self = self;
  self->state.cfg = std::move(cfg);
  self->set_down_handler(
    [=](caf::down_msg& msg) { self->state.down(msg); });
  return unconnected(self);
}

} // namespace rpcbatch
