#include "actors/pipeline/node.hpp"

#include "actors/observe/reporting.hpp"

#include <algorithm>

#include <boost/json/serialize.hpp>

#include "actors/pipeline/batcher_set.hpp"
#include "actors/pipeline/router.hpp"
#include "actors/pipeline/tokenizer.hpp"
#include "actors/observe/histogram.hpp"
#include "services/adapters/kafka_consumer.hpp"
#include "services/adapters/kafka_producer.hpp"
#include "services/adapters/log.hpp"
#include "actors/observe/inspection.hpp"
#include "actors/observe/json.hpp"
#include "actors/observe/memory.hpp"
#include "services/adapters/rpc_client.hpp"

namespace rpcbatch {

namespace {

using self_ptr = node_actor::stateful_pointer<node_state>;

/// The run's one-line summary: the node's totals (as the console shows
/// them), its time, latency and memory.
boost::json::object summarize(const node_state& st, const status_map& status,
                              double seconds) {
  auto totals = totals_of(status);
  if (totals.active_seconds > 0)
    totals.words_per_s = static_cast<double>(totals.words)
                         / totals.active_seconds;
  auto out = to_json(totals).as_object();
  // Throughput counts from the first record (a group join takes seconds).
  out["seconds"] = seconds;
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

/// Calls `f` with every actor of the pipeline and, on an ingest node, the
/// batchers and hosts of the batcher nodes in use.
void with_directory(self_ptr self, std::function<void(actor_list)> f) {
  auto& st = self->state;
  if (st.cluster == nullptr) {
    f(st.actors);
    return;
  }
  self->request(st.cluster, std::chrono::seconds(10), actors_atom::value)
    .then(
      [=](actor_list& remote) {
        auto out = self->state.actors;
        out.insert(out.end(), remote.begin(), remote.end());
        f(std::move(out));
      },
      [=](caf::error&) { f(self->state.actors); });
}

void finish(self_ptr self, node_outcome outcome) {
  auto& st = self->state;
  if (!st.finished)
    return;
  auto finished = std::move(st.finished);
  st.finished = nullptr;
  auto done = [=, outcome = std::move(outcome)](status_map status) mutable {
    auto& st = self->state;
    outcome.summary = boost::json::serialize(
      summarize(st, status, seconds_since(self)));
    // Batcher nodes stop what they run for this node when its sink goes.
    for (auto& e : st.actors)
      self->send_exit(e.handle, caf::exit_reason::user_shutdown);
    finished(std::move(outcome));
    self->quit();
  };
  with_directory(self, [=](actor_list all) mutable {
    collect_status(self, all, std::move(done));
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
  if (st.source == nullptr) {
    // An ingest node still waiting for its batcher nodes read nothing yet.
    log::info("node", "stopped before the intake started: nothing to drain");
    node_outcome outcome;
    outcome.complete = true;
    finish(self, std::move(outcome));
    return;
  }
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
  auto print = [=](status_map status) {
    auto t = totals_of(status);
    auto& latency = *self->state.adapters.latency;
    log::info("node", "stats: records=", t.records, " words=", t.words,
              " outputs=", t.outputs, " rpc_calls=", t.rpc_calls,
              " dlq=", t.dead_letters, " in_flight=", t.words_in_flight,
              " p50_ms=", latency.quantile(0.5),
              " p99_ms=", latency.quantile(0.99));
  };
  with_directory(self,
                 [=](actor_list all) { collect_status(self, all, print); });
}

/// Spawns router, tokenizer and source in front of the batchers (index =
/// bucket; null: no owner yet), monitors the local actors and starts the
/// consumer.
void start_intake(self_ptr self, std::vector<batcher_actor> batchers) {
  auto& st = self->state;
  auto me = caf::actor_cast<node_actor>(self);
  auto rtr = self->spawn(router, std::move(batchers), st.cluster != nullptr);
  st.router = rtr;
  auto tok = self->spawn(tokenizer, rtr);
  st.source = self->spawn(source, st.cfg.source, st.adapters.consumer, tok,
                          rtr, me);
  self->send(st.sink, st.source);
  self->send(rtr, st.source);
  for (auto& e : std::initializer_list<directory_entry>{
         {source_state::name, source_state::name, "", st.source},
         {tokenizer_state::name, tokenizer_state::name, "", tok},
         {router_state::name, router_state::name, "", rtr}}) {
    st.actors.push_back(e);
    self->monitor(e.handle);
  }
  st.adapters.consumer->start(
    events_for(st.source, [me](const std::string& error) {
      caf::anon_send(me, fatal_atom::value, error);
    }));
}

/// Starts the pipeline: with the batchers here, or (ingest role) once the
/// cluster's first attempt at every configured batcher node settled, with
/// no owners yet (the cluster gives them to the router).
void start_pipeline(self_ptr self) {
  auto& st = self->state;
  if (st.cluster == nullptr) {
    auto set = spawn_batchers(self, st.cfg.batcher, st.cfg.buckets,
                              st.cfg.rpc, st.adapters.rpc, st.sink);
    if (!set) {
      fail(self, "cannot spawn the batchers: "
                   + self->system().render(set.error()));
      return;
    }
    st.actors.push_back(
      {rpc_caller_state::name, rpc_caller_state::name, "", set->rpc});
    self->monitor(set->rpc);
    for (uint32_t k = 0; k < set->batchers.size(); ++k) {
      st.actors.push_back({"batcher-" + std::to_string(k), batcher_state::name, "",
                           set->batchers[k], static_cast<int32_t>(k)});
      self->monitor(set->batchers[k]);
    }
    start_intake(self, std::move(set->batchers));
    return;
  }
  st.actors.push_back({"cluster", "cluster", "", st.cluster});
  self->monitor(st.cluster);
  self->request(st.cluster, caf::infinite, start_atom::value, st.sink)
    .then(
      [=](uint32_t) {
        auto& st = self->state;
        if (st.finishing)
          return;
        start_intake(self, std::vector<batcher_actor>(st.cfg.buckets));
        self->send(st.cluster, st.router);
      },
      [=](caf::error& err) {
        fail(self, "the cluster did not start: "
                     + self->system().render(err));
      });
}

actor_status status_of_node(self_ptr self) {
  auto& st = self->state;
  node_status out;
  out.buckets = st.cfg.buckets;
  out.batch_size = st.cfg.batcher.batch_size;
  out.uptime_s = seconds_since(self);
  out.draining = st.finishing;
  out.actors = st.actors.size();
  return status_of(self, std::move(out));
}

/// Every actor of the node's directory, answered once the cluster's part
/// came.
caf::result<actor_list> directory(self_ptr self) {
  auto rp = self->make_response_promise<actor_list>();
  with_directory(self, [rp](actor_list all) mutable {
    rp.deliver(std::move(all));
  });
  return rp;
}

} // namespace

node_actor::behavior_type
node(node_actor::stateful_pointer<node_state> self, pipeline_config cfg,
     pipeline_adapters adapters, cluster_actor cluster,
     std::function<void(node_outcome)> finished) {
  auto& st = self->state;
  st.cfg = cfg;
  st.adapters = adapters;
  st.cluster = std::move(cluster);
  st.finished = std::move(finished);
  st.started = self->clock().now();
  auto me = caf::actor_cast<node_actor>(self);
  st.sink = self->spawn(sink, cfg.sink,
                        std::shared_ptr<sink_producer>{adapters.producer},
                        adapters.latency, me);
  self->monitor(st.sink);
  st.actors = {{sink_state::name, sink_state::name, "", st.sink}};
  // Every actor the node watches is part of its pipeline.
  self->set_down_handler([=](caf::down_msg& msg) {
    fail(self, "an actor of the pipeline stopped: "
                 + self->system().render(msg.reason));
  });
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
    [=](actors_atom) { return directory(self); },
    [=](status_atom) { return status_of_node(self); },
  };
}

} // namespace rpcbatch
