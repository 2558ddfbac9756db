#include "actors/observe/inspection.hpp"

#include <algorithm>
#include <cstdio>
#include <type_traits>
#include <map>
#include <sstream>

#include "messages/types.hpp"

namespace rpcbatch {

namespace {

constexpr flush_trigger all_triggers[]
  = {flush_trigger::count, flush_trigger::timer, flush_trigger::end_of_window,
     flush_trigger::bytes};

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", x);
  return buf;
}

/// The node an actor runs on as the metrics and events name it.
std::string node_label(const directory_entry& e) {
  return e.node.empty() ? "local" : e.node;
}

/// A field of one kind of status, as a summed metric reads it.
template <class T, class M>
std::function<double(const actor_status&)> field_of(M T::*member) {
  return [member](const actor_status& s) {
    auto x = s.as<T>();
    return x ? static_cast<double>(x->*member) : 0.0;
  };
}

/// Every actor's value of `value` (0 for actors of other kinds), summed.
double sum_of(const status_map& status,
              const std::function<double(const actor_status&)>& value) {
  double n = 0;
  for (auto& [name, o] : status)
    n += value(o.status);
  return n;
}

/// Flushes by trigger over every batcher.
flush_counts all_flushes(const status_map& status) {
  flush_counts out;
  for (auto& [name, o] : status)
    if (auto b = o.status.as<batcher_status>())
      out += b->flushes;
  return out;
}

/// Builds metric families: HELP and TYPE once per family, then its
/// samples.
class exposition {
public:
  using labels = std::vector<std::pair<std::string, std::string>>;

  void family(const std::string& name, const char* type, const char* help) {
    out_.push_back({name, type, help, {}});
  }

  void sample(const std::string& name, double value, labels l = {}) {
    out_.back().samples.push_back({name, std::move(l), value});
  }

  /// A family with one unlabelled sample.
  void single(const std::string& name, const char* type, const char* help,
              double value) {
    family(name, type, help);
    sample(name, value);
  }

  metric_families take() {
    return std::move(out_);
  }

private:
  metric_families out_;
};

std::string escape_label(const std::string& x) {
  std::string out;
  for (auto c : x) {
    if (c == '\\' || c == '"')
      out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

/// The scalar fields of an inspect() list as "name value, ..." text.
class scalar_lister {
public:
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;

  template <class... Ts>
  void operator()(Ts&&... xs) {
    (put(xs), ...);
  }

  std::string text;

private:
  void put(const caf::meta::type_name_t&) {
    // nop
  }

  void put(const field& f) {
    key_ = f.name;
  }

  template <class T>
  void put(const T& x) {
    if constexpr (std::is_same_v<T, bool>)
      add(x ? "yes" : "no");
    else if constexpr (std::is_arithmetic_v<T>)
      add(fmt(static_cast<double>(x)));
    else if constexpr (std::is_same_v<T, std::string>)
      add(x);
  }

  void add(const std::string& value) {
    text += (text.empty() ? "" : ", ") + std::string{key_} + " " + value;
  }

  const char* key_ = "";
};

void rpc_latency_histogram(exposition& x, const status_map& status) {
  const std::string name = "rpcbatch_rpc_latency_seconds";
  std::vector<uint64_t> bounds;
  std::vector<uint64_t> counts;
  uint64_t sum_us = 0;
  for (auto o : of_role(status, "rpc-caller")) {
    auto st = o->status.as<rpc_caller_status>();
    if (st == nullptr)
      continue;
    auto& h = st->latency;
    if (bounds.empty())
      bounds = h.bounds_us;
    counts.resize(std::max(counts.size(), h.counts.size()), 0);
    for (std::size_t i = 0; i < h.counts.size(); ++i)
      counts[i] += h.counts[i];
    sum_us += h.sum_us;
  }
  x.family(name, "histogram", "Latency of successful resolveBatch calls.");
  double cumulative = 0;
  for (std::size_t i = 0; i < bounds.size() && i < counts.size(); ++i) {
    cumulative += static_cast<double>(counts[i]);
    x.sample(name + "_bucket", cumulative,
             {{"le", fmt(static_cast<double>(bounds[i]) / 1e6)}});
  }
  if (counts.size() > bounds.size())
    cumulative += static_cast<double>(counts.back());
  x.sample(name + "_bucket", cumulative, {{"le", "+Inf"}});
  x.sample(name + "_sum", static_cast<double>(sum_us) / 1e6);
  x.sample(name + "_count", cumulative);
}

struct summarizer {
  std::string operator()(const batcher_status& st) const {
    auto out = "bag " + fmt(st.bag_size) + " (" + fmt(st.bag_bytes) + " B), ";
    if (st.cache_capacity > 0)
      out += "cache " + fmt(st.cache_entries) + " (" + fmt(st.cache_hits)
        + " hits, " + fmt(st.cache_misses) + " misses), ";
    out += st.ms_to_flush >= 0 ? "flush in " + fmt(st.ms_to_flush) + " ms"
                               : "no flush pending";
    out += ", flushed";
    for (auto t : all_triggers)
      out += std::string{t == flush_trigger::count ? " " : " / "}
        + fmt(st.flushes[t]) + " " + to_string(t);
    return out;
  }

  std::string operator()(const rpc_caller_status& st) const {
    auto out = "in flight " + fmt(st.inflight) + "/" + fmt(st.inflight_limit)
      + " of " + fmt(st.max_inflight)
      + (st.limit_measuring ? " (measuring latency)" : "") + ", waiting "
      + fmt(st.waiting) + ", calls " + fmt(st.calls) + " ("
      + fmt(st.failed_calls) + " failed, " + fmt(st.retries)
      + " retries), mean " + fmt(st.mean_latency_us) + " us, breaker "
      + st.breaker;
    if (st.breaker_is_open())
      out += " " + fmt(st.breaker_open_ms) + " ms, " + fmt(st.words_waiting)
        + " words waiting";
    return out;
  }

  std::string operator()(const source_status& st) const {
    return "assigned " + list_text(st.assigned) + ", records " + fmt(st.records)
      + ", words in flight " + fmt(st.words_in_flight) + ", lag "
      + fmt(st.consumer_lag)
      + (st.waiting_for_credit ? ", waiting for credit" : "")
      + (st.operator_paused ? ", held by operator" : "")
      + (st.draining ? ", draining" : "");
  }

  std::string operator()(const tokenizer_status& st) const {
    return "pieces " + fmt(st.pieces) + ", words " + fmt(st.words)
      + ", end of windows " + fmt(st.end_of_windows);
  }

  std::string operator()(const router_status& st) const {
    return "batches " + fmt(st.batches) + ", end of windows "
      + fmt(st.end_of_windows) + ", handovers " + fmt(st.handovers)
      + ", kept for resend " + fmt(st.kept_for_resend) + ", sent again "
      + fmt(st.resent);
  }

  std::string operator()(const sink_status& st) const {
    return "outputs " + fmt(st.outputs) + ", dead letters "
      + fmt(st.dead_letters) + ", queued " + fmt(st.queued)
      + ", delivery failures " + fmt(st.delivery_failures);
  }

  std::string operator()(const batcher_link_status& st) const {
    auto out = st.state;
    if (st.state == "attached")
      return out + ", " + fmt(st.batchers) + " batchers";
    if (st.state == "connecting")
      return out + ", attempt " + fmt(st.attempts);
    if (st.attempts > 0)
      out += ", " + fmt(st.attempts) + " attempt(s) failed";
    if (st.ms_to_next_attempt >= 0)
      out += ", next in " + fmt(st.ms_to_next_attempt) + " ms";
    else if (!st.configured)
      out += ", waits for a join";
    return out;
  }

  /// A status without a summary of its own: its scalar fields.
  template <class T>
  std::string operator()(const T& x) const {
    scalar_lister out;
    inspect(out, const_cast<T&>(x));
    return out.text;
  }
};

/// Every metric that is one status field summed (a table, read by
/// summed_metrics()).
const std::vector<summed_metric> summed_metric_table = {
  {"rpcbatch_records_total", "counter", "Records consumed.",
   field_of(&source_status::records)},
  {"rpcbatch_words_total", "counter", "Words of the records consumed.",
   field_of(&source_status::words)},
  {"rpcbatch_outputs_total", "counter", "Output records written.",
   field_of(&sink_status::outputs)},
  {"rpcbatch_dead_letters_total", "counter", "Dead-letter records written.",
   field_of(&sink_status::dead_letters)},
  {"rpcbatch_output_refusals_total", "counter",
   "Output records Kafka refused for good, written as dead letters.",
   field_of(&sink_status::permanent_refusals)},
  {"rpcbatch_outputs_produced_again_total", "counter",
   "Records produced again after a transient Kafka failure.",
   field_of(&sink_status::reproduced)},
  {"rpcbatch_rpc_calls_total", "counter",
   "resolveBatch calls started (retries included).",
   field_of(&rpc_caller_status::calls)},
  {"rpcbatch_rpc_errors_total", "counter", "resolveBatch calls that failed.",
   field_of(&rpc_caller_status::failed_calls)},
  {"rpcbatch_rpc_retries_total", "counter",
   "resolveBatch calls retried after a transient error.",
   field_of(&rpc_caller_status::retries)},
  {"rpcbatch_kafka_deliveries_total", "counter",
   "Records the broker confirmed.", field_of(&sink_status::delivered)},
  {"rpcbatch_kafka_delivery_errors_total", "counter",
   "Records the broker failed to store.",
   field_of(&sink_status::delivery_failures)},
  {"rpcbatch_kafka_produce_errors_total", "counter",
   "Records that could not be queued for the broker.",
   field_of(&sink_status::produce_errors)},
  {"rpcbatch_kafka_commits_total", "counter", "Offset commits done.",
   field_of(&source_status::commits)},
  {"rpcbatch_rpc_inflight", "gauge", "resolveBatch calls in flight.",
   field_of(&rpc_caller_status::inflight)},
  {"rpcbatch_rpc_inflight_limit", "gauge",
   "resolveBatch calls allowed in flight now (adapts up to "
   "--rpc-max-inflight).",
   field_of(&rpc_caller_status::inflight_limit)},
  {"rpcbatch_rpc_inflight_limit_decreases_total", "counter",
   "Times the limit on calls in flight went down (latency rose, or "
   "RESOURCE_EXHAUSTED or DEADLINE_EXCEEDED).",
   field_of(&rpc_caller_status::limit_decreases)},
  {"rpcbatch_rpc_waiting", "gauge", "Batches waiting for a free call slot.",
   field_of(&rpc_caller_status::waiting)},
  {"rpcbatch_rpc_words_waiting", "gauge",
   "Words of batches not answered yet (waiting, backing off, in flight).",
   field_of(&rpc_caller_status::words_waiting)},
  {"rpcbatch_rpc_breaker_opens_total", "counter",
   "Times a circuit breaker opened.",
   field_of(&rpc_caller_status::breaker_opens)},
  {"rpcbatch_words_in_flight", "gauge",
   "Words let into the pipeline and not yet confirmed by the broker.",
   field_of(&source_status::words_in_flight)},
  {"rpcbatch_credit_window", "gauge",
   "Words the source lets into the pipeline at most.",
   field_of(&source_status::window)},
  {"rpcbatch_words_waiting_for_credit", "gauge",
   "Words read and waiting for the credit window.",
   field_of(&source_status::held_words)},
  {"rpcbatch_credit_stalls_total", "counter",
   "Times the credit window was spent while records waited.",
   field_of(&source_status::credit_stalls)},
  {"rpcbatch_stall_flushes_total", "counter",
   "Times every bucket was flushed because the credit window was spent "
   "and nothing was confirmed for a tick.",
   field_of(&source_status::stall_flushes)},
  {"rpcbatch_confirm_rate", "gauge",
   "Words confirmed per second, the rate the credit window follows.",
   field_of(&source_status::confirm_rate)},
  {"rpcbatch_revokes_total", "counter", "Partition revokes.",
   field_of(&source_status::revokes)},
  {"rpcbatch_revokes_given_up_total", "counter",
   "Revokes that reached --revoke-timeout-secs with words in flight.",
   field_of(&source_status::revokes_given_up)},
  {"rpcbatch_revoke_longest_seconds", "gauge",
   "The longest revoke so far.",
   [](const actor_status& s) {
     auto x = s.as<source_status>();
     return x ? static_cast<double>(x->longest_revoke_ms) / 1000 : 0.0;
   }},
  {"rpcbatch_words_cancelled_total", "counter",
   "Words of revoked or ended partition epochs dropped from bags and "
   "queues (their partition's owner reads them again).",
   field_of(&source_status::words_cancelled)},
  {"rpcbatch_log_restarts_total", "counter",
   "Partitions whose log restarted (topic recreated, log truncated, cluster "
   "replaced): read again from their start in a new epoch.",
   field_of(&source_status::log_restarts)},
  {"rpcbatch_assignment_repairs_total", "counter",
   "Partitions where the source and the consumer's assignment differed and "
   "were made to agree.",
   field_of(&source_status::assignment_repairs)},
  {"rpcbatch_offsets_out_of_range_total", "counter",
   "Partitions whose offset was out of the range the broker holds.",
   field_of(&source_status::offsets_out_of_range)},
  {"rpcbatch_cache_hits_total", "counter",
   "Words answered from the result cache.",
   field_of(&batcher_status::cache_hits)},
  {"rpcbatch_cache_misses_total", "counter",
   "Words not in the result cache (asked, or waiting for a call).",
   field_of(&batcher_status::cache_misses)},
  {"rpcbatch_cache_evictions_total", "counter",
   "Result cache entries evicted to make room.",
   field_of(&batcher_status::cache_evictions)},
  {"rpcbatch_cache_entries", "gauge", "Answers in the result cache.",
   field_of(&batcher_status::cache_entries)},
  {"rpcbatch_words_coalesced_total", "counter",
   "Words that waited for a call already asking them instead of being "
   "asked again.",
   field_of(&batcher_status::coalesced)},
  {"rpcbatch_stuck_partitions", "gauge",
   "Partitions whose commit point has not moved for --stuck-secs while "
   "records are pending.",
   [](const actor_status& s) {
     auto x = s.as<source_status>();
     return x ? static_cast<double>(x->stuck_partitions.size()) : 0.0;
   }},
  {"rpcbatch_consumer_lag", "gauge",
   "Records between the read position and the end of the input.",
   field_of(&source_status::consumer_lag)},
  {"rpcbatch_kafka_queued", "gauge",
   "Records waiting in the producer's queue.",
   field_of(&sink_status::queued)},
  {"rpcbatch_words_sent_again_total", "counter",
   "Unconfirmed words of lost batcher nodes sent to new owners.",
   field_of(&router_status::resent)},
  {"rpcbatch_words_kept_for_resend", "gauge",
   "Words sent to batcher nodes and kept until their records are done.",
   field_of(&router_status::kept_for_resend)},
};

} // namespace

double throughput(const actor_status& status) {
  if (auto x = status.as<source_status>())
    return static_cast<double>(x->words);
  if (auto x = status.as<tokenizer_status>())
    return static_cast<double>(x->words);
  if (auto x = status.as<batcher_status>())
    return static_cast<double>(x->elements_flushed);
  if (auto x = status.as<rpc_caller_status>())
    return static_cast<double>(x->elements_resolved);
  if (auto x = status.as<sink_status>())
    return static_cast<double>(x->outputs);
  return -1;
}

std::string summary_line(const actor_status& status) {
  return caf::visit(summarizer{}, status.of);
}

std::vector<node_event> take_events(const std::string& actor,
                                    const actor_status& status,
                                    uint64_t& last_seen) {
  std::vector<node_event> out;
  auto& events = status.events;
  if (events.empty())
    return out;
  if (events.back().seq < last_seen)
    last_seen = 0;
  // A status may come from another node: no more than an actor's ring
  // holds, and no detail longer than 1 KiB.
  auto first = events.size() > event_log::capacity
                 ? events.end() - event_log::capacity
                 : events.begin();
  for (auto i = first; i != events.end(); ++i) {
    auto& e = *i;
    if (e.seq <= last_seen)
      continue;
    if (e.seq > last_seen + 1) {
      node_event dropped;
      dropped.unix_ms = e.unix_ms;
      dropped.kind = event_kind::events_dropped;
      dropped.actor = actor;
      dropped.detail = std::to_string(e.seq - last_seen - 1)
                       + " event(s) more than the actor keeps between two "
                         "samples";
      dropped.count = e.seq - last_seen - 1;
      out.push_back(std::move(dropped));
    }
    node_event taken;
    taken.unix_ms = e.unix_ms;
    taken.kind = e.kind;
    taken.actor = actor;
    taken.detail = e.detail.substr(0, 1024);
    taken.count = e.count;
    out.push_back(std::move(taken));
    last_seen = e.seq;
  }
  return out;
}

node_events last_events(const std::deque<node_event>& events,
                        const event_query& query) {
  node_events out;
  for (auto i = events.rbegin();
       i != events.rend() && out.size() < query.count; ++i)
    if (query.any_kind || i->kind == query.kind)
      out.push_back(*i);
  std::reverse(out.begin(), out.end());
  return out;
}

node_totals totals_of(const status_map& status) {
  auto sum = [&](auto member) {
    return static_cast<uint64_t>(sum_of(status, field_of(member)));
  };
  node_totals out;
  out.records = sum(&source_status::records);
  out.words = sum(&source_status::words);
  out.outputs = sum(&sink_status::outputs);
  out.dead_letters = sum(&sink_status::dead_letters);
  out.rpc_calls = sum(&rpc_caller_status::calls);
  out.rpc_errors = sum(&rpc_caller_status::failed_calls);
  out.rpc_retries = sum(&rpc_caller_status::retries);
  out.rpc_inflight_limit = sum(&rpc_caller_status::inflight_limit);
  out.rpc_limit_decreases = sum(&rpc_caller_status::limit_decreases);
  out.cache_hits = sum(&batcher_status::cache_hits);
  out.flushes = all_flushes(status);
  out.words_in_flight = static_cast<int64_t>(
    sum_of(status, field_of(&source_status::words_in_flight)));
  out.consumer_lag = static_cast<int64_t>(
    sum_of(status, field_of(&source_status::consumer_lag)));
  for (auto& [name, o] : status)
    if (auto src = o.status.as<source_status>())
      out.active_seconds = std::max(out.active_seconds, src->active_seconds);
  return out;
}

readiness_report readiness(const status_map& status) {
  readiness_report out;
  auto line = [&](bool fine, std::string text) {
    out.ready = out.ready && fine;
    out.reasons.push_back(std::move(text));
  };
  for (auto& [name, o] : status) {
    if (auto src = o.status.as<source_status>()) {
      line(!src->assigned.empty(),
           name + ": " + fmt(src->assigned.size()) + " partition(s) assigned, "
             + fmt(src->words_in_flight) + " word(s) in flight");
      if (!src->stuck_partitions.empty())
        line(false,
             name + ": stuck partition(s) " + list_text(src->stuck_partitions)
               + " (commit point not moving while records wait, or not "
                 "read while records are there)");
      if (!src->unmatched_partitions.empty())
        line(false, name + ": partition(s) "
                      + list_text(src->unmatched_partitions)
                      + " differ from the consumer's assignment (repaired "
                        "at the next tick if they still do)");
    } else if (auto rpc = o.status.as<rpc_caller_status>();
               rpc && rpc->breaker_is_open()) {
      line(false,
           name + ": circuit breaker " + rpc->breaker + " for "
             + fmt(static_cast<double>(rpc->breaker_open_ms) / 1000) + " s, "
             + fmt(rpc->words_waiting)
             + " word(s) waiting: the RPC target is failing");
    }
  }
  return out;
}

const std::vector<summed_metric>& summed_metrics() {
  return summed_metric_table;
}

metric_families metrics_of(const status_map& status, double uptime_seconds) {
  exposition x;
  x.single("rpcbatch_up", "gauge", "The node answers.", 1);
  x.single("rpcbatch_uptime_seconds", "gauge", "Seconds since start.",
           uptime_seconds);
  for (auto& m : summed_metrics())
    x.single(m.name, m.type, m.help, sum_of(status, m.value));
  x.family("rpcbatch_flushes_total", "counter", "Batcher flushes by trigger.");
  auto flushes = all_flushes(status);
  for (auto t : all_triggers)
    x.sample("rpcbatch_flushes_total", static_cast<double>(flushes[t]),
             {{"trigger", to_string(t)}});
  rpc_latency_histogram(x, status);
  x.family("rpcbatch_committed_offset", "gauge",
           "Next offset to read, as committed, per input partition.");
  for (auto& [name, o] : status)
    if (auto src = o.status.as<source_status>())
      for (auto& [partition, offset] : src->commit_points)
        x.sample("rpcbatch_committed_offset", static_cast<double>(offset),
                 {{"partition", std::to_string(partition)}});
  x.family("rpcbatch_batcher_bag_size", "gauge",
           "Elements in a batcher's bag.");
  for (auto& [name, o] : status)
    if (auto b = o.status.as<batcher_status>())
      x.sample("rpcbatch_batcher_bag_size", static_cast<double>(b->bag_size),
               {{"actor", name}, {"node", node_label(o.entry)}});
  x.family("rpcbatch_rpc_breaker_open", "gauge",
           "1 while an rpc-caller's circuit breaker is open, 0 otherwise.");
  for (auto& [name, o] : status)
    if (auto rpc = o.status.as<rpc_caller_status>())
      x.sample("rpcbatch_rpc_breaker_open", rpc->breaker_is_open() ? 1 : 0,
               {{"actor", name}, {"node", node_label(o.entry)}});
  x.family("rpcbatch_actor_mailbox", "gauge",
           "Messages waiting in an actor's mailbox.");
  for (auto& [name, o] : status)
    x.sample("rpcbatch_actor_mailbox", static_cast<double>(o.status.mailbox),
             {{"actor", name}});
  return x.take();
}

std::string prometheus_text(const metric_families& families) {
  std::ostringstream out;
  for (auto& f : families) {
    out << "# HELP " << f.name << " " << f.help << "\n# TYPE " << f.name
        << " " << f.type << "\n";
    for (auto& s : f.samples) {
      out << s.name;
      if (!s.labels.empty()) {
        out << "{";
        bool first = true;
        for (auto& [k, v] : s.labels) {
          out << (first ? "" : ",") << k << "=\"" << escape_label(v) << "\"";
          first = false;
        }
        out << "}";
      }
      out << " " << fmt(s.value) << "\n";
    }
  }
  return out.str();
}

} // namespace rpcbatch
