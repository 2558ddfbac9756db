// What the console wire carries (console_actor in messages/actors.hpp):
// typed answers, rendered as text or JSON only by whoever shows them.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <caf/meta/type_name.hpp>

#include "messages/status.hpp"

namespace rpcbatch {

/// An event as the inspector keeps it: numbered in the order it was taken,
/// with the actor it happened in.
struct node_event {
  uint64_t id = 0;
  /// Milliseconds since the epoch.
  int64_t unix_ms = 0;
  /// The node's uptime then.
  double uptime_s = 0;
  event_kind kind = event_kind::flush;
  std::string actor;
  std::string detail;
  uint64_t count = 1;
};

using node_events = std::vector<node_event>;

/// Which events a console asks for: the last `count`, of one kind or all.
struct event_query {
  uint32_t count = 20;
  bool any_kind = true;
  event_kind kind = event_kind::flush;
};

/// The totals of a node over its actors.
struct node_totals {
  uint64_t records = 0;
  uint64_t words = 0;
  uint64_t outputs = 0;
  uint64_t dead_letters = 0;
  uint64_t rpc_calls = 0;
  uint64_t rpc_errors = 0;
  uint64_t rpc_retries = 0;
  uint64_t rpc_inflight_limit = 0;
  uint64_t rpc_limit_decreases = 0;
  uint64_t cache_hits = 0;
  flush_counts flushes;
  int64_t words_in_flight = 0;
  int64_t consumer_lag = 0;
  /// Seconds since the first record (a source's).
  double active_seconds = 0;
  /// The tokenizer's words per second over the last sample.
  double words_per_s = 0;
};

/// One node as a console sees it: the node asked ("local") or a batcher
/// node it reaches.
struct node_summary {
  /// "local", or the batcher node's HOST:PORT.
  std::string node;
  /// all, ingest or batcher.
  std::string role;
  /// Whether it answered in time (a remote node may not).
  bool answering = true;
  std::string version;
  double uptime_s = 0;
  bool control = false;
  uint64_t actors = 0;
  double words_per_s = 0;
  /// Requests to its actors that got no answer in time, so far.
  uint64_t unanswered = 0;
  /// The local node's totals and options in effect.
  node_totals totals;
  std::map<std::string, std::string> options;
};

using node_summaries = std::vector<node_summary>;

/// One actor as a console sees it.
struct actor_summary {
  std::string name;
  /// "local" or the HOST:PORT of the batcher node it runs on.
  std::string node;
  std::string role;
  /// Whether it answered this time; if not, `status` is the last it gave.
  bool answering = false;
  double words_per_s = 0;
  /// One line on its state.
  std::string summary;
  actor_status status;
};

using actor_summaries = std::vector<actor_summary>;

/// Whether a node is ready for work, with a line per reason.
struct readiness_report {
  bool ready = true;
  std::vector<std::string> reasons;
};

/// What an operator's control did.
struct control_outcome {
  bool ok = false;
  std::string detail;
};

/// One sample of a metric family (name is the family's or has a suffix).
struct metric_sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

/// A metric family as Prometheus exposes it.
struct metric_family {
  std::string name;
  /// counter, gauge or histogram.
  std::string type;
  std::string help;
  std::vector<metric_sample> samples;
};

using metric_families = std::vector<metric_family>;

// -- inspection ---------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_event& x) {
  return f(caf::meta::type_name("node_event"), field("id"), x.id,
           field("unix_ms"), x.unix_ms, field("uptime_s"), x.uptime_s,
           field("kind"), x.kind, field("actor"), x.actor, field("detail"),
           x.detail, field("count"), x.count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event_query& x) {
  return f(caf::meta::type_name("event_query"), field("count"), x.count,
           field("any_kind"), x.any_kind, field("kind"), x.kind);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_totals& x) {
  return f(caf::meta::type_name("node_totals"), field("records"), x.records,
           field("words"), x.words, field("outputs"), x.outputs,
           field("dlq"), x.dead_letters, field("rpc_calls"), x.rpc_calls,
           field("rpc_errors"), x.rpc_errors, field("rpc_retries"),
           x.rpc_retries, field("rpc_inflight_limit"), x.rpc_inflight_limit,
           field("rpc_limit_decreases"), x.rpc_limit_decreases,
           field("cache_hits"), x.cache_hits, field("flushes"), x.flushes,
           field("words_in_flight"), x.words_in_flight,
           field("consumer_lag"), x.consumer_lag, field("active_seconds"),
           x.active_seconds, field("words_per_s"), x.words_per_s);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_summary& x) {
  return f(caf::meta::type_name("node_summary"), field("node"), x.node,
           field("role"), x.role, field("up"), x.answering, field("version"),
           x.version, field("uptime_s"), x.uptime_s, field("control"),
           x.control, field("actors"), x.actors, field("words_per_s"),
           x.words_per_s, field("unanswered"), x.unanswered, field("totals"),
           x.totals, field("options"), x.options);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_summary& x) {
  return f(caf::meta::type_name("actor_summary"), field("name"), x.name,
           field("node"), x.node, field("role"), x.role, field("answering"),
           x.answering, field("words_per_s"), x.words_per_s,
           field("summary"), x.summary, field("status"), x.status);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, readiness_report& x) {
  return f(caf::meta::type_name("readiness_report"), field("ready"), x.ready,
           field("reasons"), x.reasons);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, control_outcome& x) {
  return f(caf::meta::type_name("control_outcome"), field("ok"), x.ok,
           field("detail"), x.detail);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_sample& x) {
  return f(caf::meta::type_name("metric_sample"), field("name"), x.name,
           field("labels"), x.labels, field("value"), x.value);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, metric_family& x) {
  return f(caf::meta::type_name("metric_family"), field("name"), x.name,
           field("type"), x.type, field("help"), x.help, field("samples"),
           x.samples);
}

} // namespace rpcbatch
