// What the inspector makes of its actors' status answers (plain functions
// over typed statuses, so that they are tested without actors): a one-line
// summary, the events since the last sample, node totals, readiness and the
// metric families of /metrics (and their Prometheus text, at the edge).
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include "actors/observe/reporting.hpp"
#include "messages/console.hpp"

namespace rpcbatch {

/// The counter that measures an actor's throughput in words (a source's
/// or tokenizer's words, a batcher's elements flushed, ...); -1 if it has
/// none.
double throughput(const actor_status& status);

/// One line on an actor's state, e.g. "bag 3, flush in 1200 ms, flushed
/// 12 count / 3 timer / 1 end_of_window / 0 bytes".
std::string summary_line(const actor_status& status);

/// The events of an actor's status that are newer than `last_seen` (the
/// highest sequence number taken from that actor so far, which moves on),
/// oldest first; if the actor's ring left some out since, an
/// events_dropped event says how many. An actor whose numbers start again
/// (it was replaced) counts from 0. The inspector numbers them.
std::vector<node_event> take_events(const std::string& actor,
                                    const actor_status& status,
                                    uint64_t& last_seen);

/// The last events of `events` that `query` asks for, oldest first.
node_events last_events(const std::deque<node_event>& events,
                        const event_query& query);

/// Node totals over every actor's status (words_per_s is the caller's).
node_totals totals_of(const status_map& status);

/// Readiness from every actor's status: not ready while a source has no
/// partition assigned or a stuck partition, or an rpc-caller's circuit
/// breaker is open (the RPC target is failing and the input waits).
readiness_report readiness(const status_map& status);

/// A metric that is one field of a kind of status, summed over the actors
/// of that kind.
struct summed_metric {
  const char* name;
  const char* type;
  const char* help;
  /// The field of one actor's status (0 for other kinds of actors).
  std::function<double(const actor_status&)> value;
};

/// Every such metric.
const std::vector<summed_metric>& summed_metrics();

/// Every metric of the node, by family.
metric_families metrics_of(const status_map& status, double uptime_seconds);

/// Metric families in Prometheus text format (version 0.0.4).
std::string prometheus_text(const metric_families& families);

} // namespace rpcbatch
