#include "actors/node.hpp"

#include "actors/status.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>

#include "actors/batcher_set.hpp"
#include "actors/bucket_assignment.hpp"
#include "actors/remote.hpp"
#include "actors/router.hpp"
#include "actors/tokenizer.hpp"
#include "services/histogram.hpp"
#include "services/kafka_consumer.hpp"
#include "services/kafka_producer.hpp"
#include "services/log.hpp"
#include "services/memory.hpp"
#include "services/rpc_client.hpp"

namespace rpcbatch {

namespace {

using self_ptr = node_actor::stateful_pointer<node_state>;

/// The sum of a field over the actors of a status type.
template <class Status, class F>
uint64_t sum(const status_map& status, F field) {
  uint64_t n = 0;
  for (auto& [name, o] : status)
    if (auto st = o.status.template as<Status>())
      n += field(*st);
  return n;
}

/// The run's one-line summary from every actor's status.
boost::json::object summarize(const node_state& st, const status_map& status,
                              double seconds) {
  flush_counts flushes;
  double active = 0;
  for (auto& [name, o] : status) {
    if (auto b = o.status.as<batcher_status>())
      flushes += b->flushes;
    if (auto src = o.status.as<source_status>())
      active = src->active_seconds;
  }
  auto words = sum<source_status>(status, [](auto& x) { return x.words; });
  boost::json::object out;
  out["records"]
    = sum<source_status>(status, [](auto& x) { return x.records; });
  out["words"] = words;
  out["outputs"] = sum<sink_status>(status, [](auto& x) { return x.outputs; });
  out["rpc_calls"]
    = sum<rpc_caller_status>(status, [](auto& x) { return x.calls; });
  out["rpc_retries"]
    = sum<rpc_caller_status>(status, [](auto& x) { return x.retries; });
  out["flushes"] = to_json(flushes);
  out["dlq"]
    = sum<sink_status>(status, [](auto& x) { return x.dead_letters; });
  out["cache_hits"]
    = sum<batcher_status>(status, [](auto& x) { return x.cache_hits; });
  // Throughput counts from the first record (a group join takes seconds).
  out["seconds"] = seconds;
  out["active_seconds"] = active;
  out["words_per_s"] = active > 0 ? static_cast<double>(words) / active : 0;
  out["latency_ms_p50"] = st.adapters.latency->quantile(0.5);
  out["latency_ms_p99"] = st.adapters.latency->quantile(0.99);
  out["peak_rss_mb"] = static_cast<double>(peak_rss_bytes() >> 10) / 1024;
  return out;
}

double seconds_since(self_ptr self) {
  return std::chrono::duration<double>(self->clock().now()
                                       - self->state.started)
    .count();
}

void finish(self_ptr self, node_outcome outcome) {
  auto& st = self->state;
  if (!st.finished)
    return;
  auto finished = std::move(st.finished);
  st.finished = nullptr;
  collect_status(self, st.actors,
                 [=, outcome = std::move(outcome)](
                   status_map status) mutable {
                   auto& st = self->state;
                   outcome.summary = boost::json::serialize(
                     summarize(st, status, seconds_since(self)));
                   // Batcher nodes stop what they run for this node when
                   // its sink goes.
                   for (auto& e : st.actors)
                     if (e.handle->node() == self->node())
                       self->send_exit(e.handle,
                                       caf::exit_reason::user_shutdown);
                   finished(std::move(outcome));
                   self->quit();
                 });
}

void fail(self_ptr self, std::string error) {
  if (!self->state.finished)
    return;
  log::error("node", error);
  node_outcome outcome;
  outcome.ok = false;
  outcome.error = std::move(error);
  finish(self, std::move(outcome));
}

void drain(self_ptr self) {
  auto& st = self->state;
  if (st.finishing)
    return;
  st.finishing = true;
  log::info("node", "draining: flushing every bucket and waiting for ",
            "every word");
  self->request(st.source, caf::infinite, drain_atom::value)
    .then(
      [=](bool complete, partition_offsets& offsets) {
        node_outcome outcome;
        outcome.complete = complete;
        outcome.final_offsets = std::move(offsets.entries);
        finish(self, std::move(outcome));
      },
      [=](caf::error& err) {
        fail(self, "drain failed: " + self->system().render(err));
      });
}

void print_stats(self_ptr self) {
  collect_status(self, self->state.actors, [=](status_map status) {
    auto s = summarize(self->state, status, seconds_since(self));
    log::info("node", "stats: records=", s["records"].as_uint64(),
              " words=", s["words"].as_uint64(),
              " outputs=", s["outputs"].as_uint64(),
              " rpc_calls=", s["rpc_calls"].as_uint64(),
              " dlq=", s["dlq"].as_uint64(),
              " in_flight=",
              sum<source_status>(status,
                                 [](auto& x) { return x.words_in_flight; }),
              " p50_ms=", s["latency_ms_p50"].as_int64(),
              " p99_ms=", s["latency_ms_p99"].as_int64());
  });
}

/// Lists the batchers in use under "batcher-K" (with "@NODE" when remote);
/// buckets without an owner are left out.
void list_batchers(self_ptr self, const std::vector<batcher_actor>& batchers) {
  auto& actors = self->state.actors;
  actors.erase(std::remove_if(actors.begin(), actors.end(),
                              [](auto& e) { return e.bucket >= 0; }),
               actors.end());
  auto& owners = self->state.owners;
  for (std::size_t k = 0; k < batchers.size(); ++k) {
    if (batchers[k] == nullptr)
      continue;
    auto node = k < owners.size() ? owners[k] : std::string{};
    auto name = "batcher-" + std::to_string(k);
    actors.push_back({node.empty() ? name : name + "@" + node, "batcher",
                      node, batchers[k], static_cast<int32_t>(k)});
  }
}

/// Spawns router, tokenizer and source in front of the batchers (index =
/// bucket; null: no owner yet), monitors the local actors and starts the
/// consumer.
void start_intake(self_ptr self, std::vector<batcher_actor> batchers) {
  auto& st = self->state;
  st.intake_started = true;
  auto me = caf::actor_cast<node_actor>(self);
  auto rtr = self->spawn(router, batchers, st.placement.remote);
  st.router = rtr;
  auto tok = self->spawn(tokenizer, rtr);
  st.source = self->spawn(source, st.cfg.source, st.adapters.consumer, tok,
                          rtr, me);
  self->send(st.sink, st.source);
  self->send(rtr, st.source);
  st.actors.push_back({"source", "source", "", st.source});
  st.actors.push_back({"tokenizer", "tokenizer", "", tok});
  st.actors.push_back({"router", "router", "", rtr});
  for (auto& e : st.actors)
    if (e.handle != st.sink && e.handle->node() == self->node())
      self->monitor(e.handle);
  list_batchers(self, batchers);
  // The poll thread talks to the source only by message.
  auto src = st.source;
  consumer_events events;
  events.records = [src](record_batch&& b) {
    caf::anon_send(src, std::move(b));
  };
  events.assigned = [src](std::vector<partition_offset>&& parts) {
    caf::anon_send(src, assigned_atom::value,
                   partition_offsets{std::move(parts)});
  };
  events.revoked = [src](std::vector<partition_offset>&& parts) {
    caf::anon_send(src, revoked_atom::value,
                   partition_offsets{std::move(parts)});
  };
  events.end_of_partition = [src](int32_t partition, int64_t offset) {
    caf::anon_send(src, eof_atom::value, partition, offset);
  };
  events.fatal = [me](const std::string& error) {
    caf::anon_send(me, fatal_atom::value, error);
  };
  st.adapters.consumer->start(std::move(events));
}

// -- ingest role: batchers on batcher nodes ----------------------------------

/// Assigns the buckets among the attached batcher nodes, moving as few as
/// possible; answers the new owners (null: no node left) and how many
/// buckets changed owner.
std::pair<std::vector<batcher_actor>, uint32_t> assign(self_ptr self) {
  auto& st = self->state;
  std::vector<std::string> names;
  for (auto& [name, ignored] : st.batcher_nodes)
    names.push_back(name);
  auto owners = assign_buckets(st.cfg.buckets, names, st.owners);
  uint32_t moved = 0;
  std::vector<batcher_actor> batchers;
  for (uint32_t k = 0; k < owners.size(); ++k) {
    if (k >= st.owners.size() || st.owners[k] != owners[k])
      ++moved;
    auto i = st.batcher_nodes.find(owners[k]);
    batchers.push_back(i == st.batcher_nodes.end() ? batcher_actor{}
                                                   : i->second.batchers.at(k));
  }
  st.owners = std::move(owners);
  return {std::move(batchers), moved};
}

void start_ingest_intake(self_ptr self) {
  auto& st = self->state;
  auto batchers = assign(self).first;
  if (st.batcher_nodes.empty())
    log::warn("node", "no batcher node reachable yet: words wait in the "
                      "router (consuming stops at --max-inflight-words)");
  else
    log::info("node", "buckets assigned to ", st.batcher_nodes.size(),
              " batcher node(s)");
  start_intake(self, std::move(batchers));
}

/// One first attempt settled; the pipeline starts after the last.
void first_attempt_settled(self_ptr self) {
  auto& st = self->state;
  if (st.first_attempts > 0 && --st.first_attempts == 0 && !st.intake_started)
    start_ingest_intake(self);
}

bool configured(self_ptr self, const std::string& name) {
  auto& nodes = self->state.placement.nodes;
  return std::find(nodes.begin(), nodes.end(), name) != nodes.end();
}

/// A configured batcher node is not attached: try it again later, waiting
/// longer after every failure.
void retry_later(self_ptr self, const std::string& name,
                 const std::string& why) {
  auto& st = self->state;
  if (!configured(self, name)) {
    log::warn("node", "batcher node ", name, ": ", why);
    return;
  }
  reconnect_later(self, st.backoff, name, "node",
                  "batcher node " + name + ": " + why);
}

void lose_batcher_node(self_ptr self, const std::string& name,
                       bool node_gone = true);

/// A batcher node offered its batchers: it gets its share of the buckets;
/// buckets that move drain on their old node first.
void add_batcher_node(self_ptr self, const std::string& name,
                      batcher_host_actor host,
                      std::vector<batcher_actor> batchers) {
  auto& st = self->state;
  if (batchers.size() != st.cfg.buckets) {
    log::error("node", "batcher node ", name, " offered ", batchers.size(),
               " batchers for ", st.cfg.buckets, " buckets");
    return;
  }
  if (auto i = st.batcher_nodes.find(name); i != st.batcher_nodes.end()) {
    if (i->second.host == host)
      return;
    lose_batcher_node(self, name); // restarted before its loss was seen
  }
  for (auto& b : batchers) {
    st.remote_batchers[b.address()] = name;
    self->monitor(b);
  }
  st.batcher_nodes[name] = {host, std::move(batchers)};
  st.hosts[host.address()] = name;
  st.backoff.erase(name);
  self->monitor(host);
  if (!st.intake_started)
    return;
  ++st.joins;
  auto [owners, moved] = assign(self);
  log::info("node", "batcher node ", name, " joined: ", moved,
            " bucket(s) move to it (", st.batcher_nodes.size(),
            " batcher node(s))");
  list_batchers(self, owners);
  self->send(st.router, handover_atom::value, std::move(owners));
}

/// Attaches to a batcher node's host: it spawns batchers for this node.
void attach(self_ptr self, const std::string& name, batcher_host_actor host,
            bool first) {
  auto& st = self->state;
  self->request(host, std::chrono::seconds(30), attach_atom::value, st.sink,
                st.cfg.buckets)
    .then(
      [=](std::vector<batcher_actor>& batchers) {
        log::info("node", "attached to batcher node ", name);
        add_batcher_node(self, name, host, std::move(batchers));
        if (first)
          first_attempt_settled(self);
      },
      [=](caf::error& err) {
        retry_later(self, name,
                    "cannot attach: " + self->system().render(err));
        if (first)
          first_attempt_settled(self);
      });
}

/// Connects to a configured batcher node and attaches to it.
void connect_batcher_node(self_ptr self, const std::string& name,
                          bool first) {
  connect_remote<batcher_host_actor>(
    self, name,
    [=](batcher_host_actor host) { attach(self, name, host, first); },
    [=](std::string why) {
      retry_later(self, name, "cannot connect: " + why);
      if (first)
        first_attempt_settled(self);
    });
}

/// A batcher node went away: its buckets move to the others (or wait for
/// one to come back), and the router sends the words that were on it and
/// are not done yet to their buckets' new owners. `node_gone`: the node
/// itself is gone (counted, and tried again later).
void lose_batcher_node(self_ptr self, const std::string& name,
                       bool node_gone) {
  auto& st = self->state;
  auto i = st.batcher_nodes.find(name);
  if (i == st.batcher_nodes.end())
    return;
  auto lost = i->second.host.node();
  // Its down messages, if they are still to come, are no news any more.
  self->demonitor(i->second.host.address());
  st.hosts.erase(i->second.host.address());
  for (auto& b : i->second.batchers) {
    self->demonitor(b.address());
    st.remote_batchers.erase(b.address());
  }
  st.batcher_nodes.erase(i);
  if (node_gone)
    ++st.losses;
  if (st.intake_started) {
    auto owners = assign(self).first;
    if (st.batcher_nodes.empty())
      log::warn("node", "batcher node ", name, " is gone and no batcher node "
                "is left: words wait in the router until one comes back");
    else
      log::warn("node", "batcher node ", name, " is gone: its buckets move "
                "to ", st.batcher_nodes.size(), " other node(s)");
    list_batchers(self, owners);
    self->send(st.router, lost_atom::value, lost, std::move(owners));
  }
  if (node_gone)
    retry_later(self, name, "connection lost");
}

/// A batcher (or the rpc-caller behind it) stopped on a batcher node that
/// is still there: the node's words go elsewhere as if it was lost, and the
/// node is attached again (its host replaces the actors it spawned for this
/// node): at once the first time, then after a growing delay while it keeps
/// losing them (within a minute of the last time), so that words that kill
/// a batcher cannot make a busy loop of it.
void lose_remote_batcher(self_ptr self, const std::string& name,
                         const caf::error& reason) {
  auto& st = self->state;
  auto i = st.batcher_nodes.find(name);
  if (i == st.batcher_nodes.end())
    return;
  auto host = i->second.host;
  ++st.batchers_lost;
  auto now = self->clock().now();
  auto& again = st.reattach[name];
  again.delay = now - again.last < std::chrono::minutes(1)
                  ? next_backoff(again.delay)
                  : caf::timespan{0};
  again.last = now;
  log::warn("node", "a batcher on batcher node ", name, " stopped (",
            self->system().render(reason), "): its words go again and the ",
            "node is attached again in ",
            std::chrono::duration_cast<std::chrono::milliseconds>(again.delay)
              .count(),
            " ms");
  lose_batcher_node(self, name, false);
  // As if the node offered itself again.
  self->delayed_send(self, again.delay, join_atom::value, host, name);
}

/// An actor the node monitors went down: a batcher node, one of its
/// batchers, or (fatal) an actor of the pipeline.
void on_down(self_ptr self, const caf::down_msg& msg) {
  auto& st = self->state;
  if (auto i = st.hosts.find(msg.source); i != st.hosts.end()) {
    // A copy: lose_batcher_node erases the entry that holds the name.
    lose_batcher_node(self, std::string{i->second});
    return;
  }
  if (auto i = st.remote_batchers.find(msg.source);
      i != st.remote_batchers.end()) {
    auto name = i->second;
    if (msg.reason == caf::exit_reason::remote_link_unreachable)
      lose_batcher_node(self, name);
    else
      lose_remote_batcher(self, name, msg.reason);
    return;
  }
  if (msg.source.node() != self->node())
    return; // a batcher node's host that was replaced already
  fail(self, "an actor of the pipeline stopped: "
               + self->system().render(msg.reason));
}

/// Starts the pipeline where the placement says: batchers here, or on
/// batcher nodes that are listed or join by themselves.
void start_pipeline(self_ptr self) {
  auto& st = self->state;
  if (!st.placement.remote) {
    auto set = spawn_batchers(self, st.cfg.batcher, st.cfg.buckets,
                              st.cfg.rpc, st.adapters.rpc, st.sink);
    st.actors.push_back({"rpc-caller", "rpc-caller", "", set.rpc});
    start_intake(self, std::move(set.batchers));
  } else if (st.placement.nodes.empty()) {
    start_ingest_intake(self); // batcher nodes join by themselves
  } else {
    st.first_attempts = st.placement.nodes.size();
    for (auto& name : st.placement.nodes)
      connect_batcher_node(self, name, true);
  }
}

/// Every actor of the pipeline and the hosts of the batcher nodes in use.
actor_list directory_of(self_ptr self) {
  auto& st = self->state;
  auto out = st.actors;
  for (auto& [name, node] : st.batcher_nodes)
    out.push_back({"batcher-host@" + name, "batcher-host", name, node.host});
  return out;
}

actor_status status_of_node(self_ptr self) {
  auto& st = self->state;
  node_status out;
  out.buckets = st.cfg.buckets;
  out.batch_size = st.cfg.batcher.batch_size;
  out.uptime_s = seconds_since(self);
  out.draining = st.finishing;
  out.actors = st.actors.size();
  for (auto& [name, ignored] : st.batcher_nodes)
    out.batcher_nodes.push_back(name);
  out.joins = st.joins;
  out.losses = st.losses;
  out.batchers_lost = st.batchers_lost;
  return status_of(self, std::move(out));
}

} // namespace

node_actor::behavior_type
node(node_actor::stateful_pointer<node_state> self, pipeline_config cfg,
     pipeline_adapters adapters, batcher_placement placement,
     std::function<void(node_outcome)> finished) {
  auto& st = self->state;
  st.cfg = cfg;
  st.adapters = adapters;
  st.placement = std::move(placement);
  st.finished = std::move(finished);
  st.started = self->clock().now();
  auto me = caf::actor_cast<node_actor>(self);
  st.sink = self->spawn(sink, cfg.sink,
                        std::shared_ptr<sink_producer>{adapters.producer},
                        adapters.latency, me);
  self->monitor(st.sink);
  st.actors = {{"sink", "sink", "", st.sink}};
  self->set_down_handler([=](caf::down_msg& msg) { on_down(self, msg); });
  start_pipeline(self);
  if (cfg.stats_interval.count() > 0)
    self->delayed_send(self, cfg.stats_interval, tick_atom::value);
  return {
    [=](input_end_atom) {
      log::info("node", "bounded input consumed");
      drain(self);
    },
    [=](drain_atom) { drain(self); },
    [=](fatal_atom, std::string& error) { fail(self, std::move(error)); },
    [=](tick_atom) {
      if (!from_itself(self))
        return;
      print_stats(self);
      self->delayed_send(self, self->state.cfg.stats_interval,
                         tick_atom::value);
    },
    [=](reconnect_atom, const std::string& name) {
      auto& st = self->state;
      if (st.batcher_nodes.count(name) == 0)
        connect_batcher_node(self, name, false);
    },
    [=](join_atom, batcher_host_actor& host, std::string& name) {
      auto& st = self->state;
      if (!st.placement.remote || host == nullptr)
        return;
      log::info("node", "batcher node ", name, " asks to join");
      attach(self, name, std::move(host), false);
    },
    [=](actors_atom) { return directory_of(self); },
    [=](status_atom) { return status_of_node(self); },
  };
}

} // namespace rpcbatch
