#include "actors/node.hpp"

#include <boost/json/serialize.hpp>

#include "actors/bucket_assignment.hpp"
#include "actors/router.hpp"
#include "actors/tokenizer.hpp"
#include "services/histogram.hpp"
#include "services/kafka_consumer.hpp"
#include "services/log.hpp"
#include "services/memory.hpp"

namespace rpcbatch {

namespace {

using self_ptr = node_actor::stateful_pointer<node_state>;

uint64_t number(const boost::json::object& status, const char* actor,
                const char* field) {
  auto a = status.if_contains(actor);
  if (a == nullptr || !a->is_object())
    return 0;
  auto v = a->as_object().if_contains(field);
  if (v == nullptr)
    return 0;
  if (v->is_uint64())
    return v->as_uint64();
  if (v->is_int64())
    return static_cast<uint64_t>(std::max<int64_t>(0, v->as_int64()));
  return 0;
}

/// The run's one-line summary from every actor's status.
boost::json::object summarize(const node_state& st,
                              const boost::json::object& status,
                              double seconds) {
  boost::json::object flushes;
  for (int i = 0; i < 4; ++i) {
    auto trigger = to_string(static_cast<flush_trigger>(i));
    uint64_t n = 0;
    for (auto& [name, value] : status)
      if (name.starts_with("batcher-"))
        if (auto f = value.as_object().if_contains("flushes"))
          if (auto x = f->as_object().if_contains(trigger))
            n += x->to_number<uint64_t>();
    flushes[trigger] = n;
  }
  auto words = number(status, "tokenizer", "words");
  boost::json::object out;
  out["records"] = number(status, "tokenizer", "records");
  out["words"] = words;
  out["outputs"] = number(status, "sink", "outputs");
  out["rpc_calls"] = number(status, "rpc-caller", "calls");
  out["rpc_retries"] = number(status, "rpc-caller", "retries");
  out["flushes"] = std::move(flushes);
  out["dlq"] = number(status, "sink", "dead_letters");
  // Throughput counts from the first record (a group join takes seconds).
  double active = 0;
  if (auto src = status.if_contains("source"); src && src->is_object())
    if (auto a = src->as_object().if_contains("active_seconds"))
      active = a->to_number<double>();
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
                   boost::json::object status) mutable {
                   auto& st = self->state;
                   outcome.summary = boost::json::serialize(
                     summarize(st, status, seconds_since(self)));
                   for (auto& [name, handle] : st.actors)
                     self->send_exit(handle, caf::exit_reason::user_shutdown);
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
  collect_status(self, self->state.actors, [=](boost::json::object status) {
    auto s = summarize(self->state, status, seconds_since(self));
    log::info("node", "stats: records=", s["records"].as_uint64(),
              " words=", s["words"].as_uint64(),
              " outputs=", s["outputs"].as_uint64(),
              " rpc_calls=", s["rpc_calls"].as_uint64(),
              " dlq=", s["dlq"].as_uint64(),
              " in_flight=", number(status, "source", "words_in_flight"),
              " p50_ms=", s["latency_ms_p50"].as_int64(),
              " p99_ms=", s["latency_ms_p99"].as_int64());
  });
}

/// Spawns router, tokenizer and source in front of the batchers (index =
/// bucket; `where` names the node of each, empty for this one), monitors
/// them and starts the consumer.
void start_front(self_ptr self, sink_actor snk,
                 std::vector<batcher_actor> batchers,
                 std::vector<std::string> where) {
  auto& st = self->state;
  auto me = caf::actor_cast<node_actor>(self);
  auto rtr = self->spawn(router, batchers);
  st.router = rtr;
  auto tok = self->spawn(tokenizer, rtr);
  st.source = self->spawn(source, st.cfg.source, st.adapters.consumer, tok,
                          rtr, me);
  self->send(snk, st.source);
  st.actors.emplace_back("source", st.source);
  st.actors.emplace_back("tokenizer", tok);
  st.actors.emplace_back("router", rtr);
  for (std::size_t k = 0; k < batchers.size(); ++k) {
    auto name = "batcher-" + std::to_string(k);
    if (k < where.size() && !where[k].empty())
      name += "@" + where[k];
    st.actors.emplace_back(name, batchers[k]);
  }
  for (auto& [name, handle] : st.actors)
    if (handle != snk
        && st.remote_batchers.count(handle->address()) == 0)
      self->monitor(handle);
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

/// Assigns the buckets among the batcher nodes that offered batchers,
/// moving as few as possible, and watches the batchers in use.
std::vector<batcher_actor> assign_remote_buckets(self_ptr self) {
  auto& st = self->state;
  std::vector<std::string> names;
  for (auto& [node, ignored] : st.offered)
    names.push_back(node);
  st.owners = assign_buckets(st.cfg.buckets, names, st.owners);
  std::vector<batcher_actor> batchers;
  for (uint32_t k = 0; k < st.owners.size(); ++k) {
    auto& b = st.offered[st.owners[k]].at(k);
    if (st.remote_batchers.emplace(b.address(), st.owners[k]).second)
      self->monitor(b);
    batchers.push_back(b);
  }
  return batchers;
}

/// A batcher node went away: its buckets move to the others, and what was in
/// flight is read again (its words may have been lost with the node).
void lose_batcher_node(self_ptr self, const std::string& node) {
  auto& st = self->state;
  // Every batcher of the node reports; the first report does the work.
  if (st.offered.erase(node) == 0)
    return;
  if (st.offered.empty()) {
    fail(self, "batcher node " + node + " stopped and no batcher node is "
                 "left");
    return;
  }
  log::warn("node", "batcher node ", node, " is gone: its buckets move to ",
            st.offered.size(), " other node(s)");
  auto batchers = assign_remote_buckets(self);
  for (auto& [name, handle] : st.actors)
    if (name.compare(0, 8, "batcher-") == 0) {
      auto k = std::stoul(name.substr(8));
      name = "batcher-" + std::to_string(k) + "@" + st.owners[k];
      handle = batchers[k];
    }
  self->send(st.router, std::move(batchers));
  self->send(st.source, rewind_atom::value);
}

/// Attaches to every batcher node, then assigns the buckets among them and
/// starts the front of the pipeline. Losing a batcher node stops this node
/// without committing what it had not confirmed (nothing is lost; the next
/// run reads it again).
void attach_batcher_nodes(self_ptr self, sink_actor snk) {
  auto& st = self->state;
  struct tally {
    std::size_t pending;
    std::map<std::string, std::vector<batcher_actor>> offered;
  };
  auto t = std::make_shared<tally>(tally{st.adapters.batcher_hosts.size(), {}});
  for (auto& [name, host] : st.adapters.batcher_hosts)
    self->request(host, std::chrono::seconds(30), attach_atom::value, snk,
                  st.cfg.buckets)
      .then(
        [=, name = name](std::vector<batcher_actor>& offered) {
          t->offered[name] = std::move(offered);
          if (--t->pending > 0)
            return;
          auto& st = self->state;
          st.offered = std::move(t->offered);
          auto batchers = assign_remote_buckets(self);
          log::info("node", "buckets assigned to ", st.offered.size(),
                    " batcher node(s)");
          start_front(self, snk, std::move(batchers), st.owners);
        },
        [=, name = name](caf::error& err) {
          fail(self, "cannot attach to batcher node " + name + ": "
                       + self->system().render(err));
        });
}

} // namespace

node_actor::behavior_type
node(node_actor::stateful_pointer<node_state> self, pipeline_config cfg,
     pipeline_adapters adapters, std::function<void(node_outcome)> finished) {
  auto& st = self->state;
  st.cfg = cfg;
  st.adapters = adapters;
  st.finished = std::move(finished);
  st.started = self->clock().now();
  auto me = caf::actor_cast<node_actor>(self);
  auto snk = self->spawn(sink, cfg.sink, adapters.producer, adapters.latency,
                         me);
  self->monitor(snk);
  st.actors = {{"sink", snk}};
  self->set_down_handler([=](caf::down_msg& msg) {
    auto& st = self->state;
    auto remote = st.remote_batchers.find(msg.source);
    if (remote != st.remote_batchers.end()) {
      lose_batcher_node(self, remote->second);
      return;
    }
    fail(self, "an actor of the pipeline stopped: "
                 + self->system().render(msg.reason));
  });
  if (adapters.batcher_hosts.empty()) {
    auto rpc = self->spawn(rpc_caller, cfg.rpc, adapters.rpc, snk);
    st.actors.emplace_back("rpc-caller", rpc);
    std::vector<batcher_actor> batchers;
    for (uint32_t k = 0; k < cfg.buckets; ++k) {
      auto bcfg = cfg.batcher;
      bcfg.bucket = k;
      batchers.push_back(self->spawn(batcher, bcfg, rpc));
    }
    start_front(self, snk, std::move(batchers), {});
  } else {
    attach_batcher_nodes(self, snk);
  }
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
      print_stats(self);
      self->delayed_send(self, self->state.cfg.stats_interval,
                         tick_atom::value);
    },
    [=](actors_atom) { return self->state.actors; },
    [=](status_atom) {
      auto& st = self->state;
      return status_json(self, {{"buckets", st.cfg.buckets},
                                {"batch_size", st.cfg.batcher.batch_size},
                                {"uptime_s", seconds_since(self)},
                                {"draining", st.finishing},
                                {"actors", st.actors.size()}});
    },
  };
}

} // namespace rpcbatch
