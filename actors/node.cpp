#include "actors/node.hpp"

#include <boost/json/serialize.hpp>

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
  auto rpc = self->spawn(rpc_caller, cfg.rpc, adapters.rpc, snk);
  std::vector<batcher_actor> batchers;
  for (uint32_t k = 0; k < cfg.buckets; ++k) {
    auto bcfg = cfg.batcher;
    bcfg.bucket = k;
    batchers.push_back(self->spawn(batcher, bcfg, rpc));
  }
  auto rtr = self->spawn(router, batchers);
  auto tok = self->spawn(tokenizer, rtr);
  st.source = self->spawn(source, cfg.source, adapters.consumer, tok, rtr, me);
  self->send(snk, st.source);
  st.actors = {{"source", st.source}, {"tokenizer", tok}, {"router", rtr}};
  for (uint32_t k = 0; k < cfg.buckets; ++k)
    st.actors.emplace_back("batcher-" + std::to_string(k), batchers[k]);
  st.actors.emplace_back("rpc-caller", rpc);
  st.actors.emplace_back("sink", snk);
  for (auto& [name, handle] : st.actors)
    self->monitor(handle);
  self->set_down_handler([=](caf::down_msg& msg) {
    fail(self, "an actor of the pipeline stopped: "
                 + self->system().render(msg.reason));
  });
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
  adapters.consumer->start(std::move(events));
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
    [=](status_atom) {
      auto& st = self->state;
      return status_json({{"buckets", st.cfg.buckets},
                          {"batch_size", st.cfg.batcher.batch_size},
                          {"uptime_s", seconds_since(self)},
                          {"draining", st.finishing},
                          {"actors", st.actors.size()}});
    },
  };
}

} // namespace rpcbatch
