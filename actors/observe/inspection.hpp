// What the inspector makes of its actors' status answers (plain functions
// over typed statuses, so that they are tested without actors): a one-line
// summary, the events between two samples, node totals, readiness and the
// Prometheus text of the /metrics endpoint.
#pragma once

#include <deque>
#include <functional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "actors/observe/status.hpp"

namespace rpcbatch {

/// The counter that measures an actor's throughput in words (a source's
/// or tokenizer's words, a batcher's elements flushed, ...); -1 if it has
/// none.
double throughput(const actor_status& status);

/// One line on an actor's state, e.g. "bag 3, flush in 1200 ms, flushed
/// 12 count / 3 timer / 1 end_of_window / 0 bytes".
std::string summary_line(const actor_status& status);

/// One event: {"kind", "actor", "detail", "count", "unix_ms"}; the
/// inspector adds the id and the time as text.
boost::json::object make_event(std::string kind, std::string actor,
                               std::string detail, uint64_t count,
                               int64_t unix_ms);

/// The events of an actor's status that are newer than `last_seen` (the
/// highest sequence number taken from that actor so far, which moves on),
/// oldest first; if the actor's ring left some out since, an
/// "events_dropped" event says how many. An actor whose numbers start again
/// (it was replaced) counts from 0.
std::vector<boost::json::object> take_events(const std::string& actor,
                                             const actor_status& status,
                                             uint64_t& last_seen);

/// The last `n` of `events` (only those of kind `kind`, unless it is
/// empty), oldest first, as a JSON array.
std::string last_events(const std::deque<boost::json::object>& events,
                        uint32_t n, const std::string& kind);

/// Buckets whose batcher runs on another node than in the sample before.
std::vector<boost::json::object> moved_buckets(const status_map& before,
                                               const status_map& after,
                                               int64_t unix_ms);

/// Node totals from every actor's status: records, words, outputs, dead
/// letters, rpc calls, retries and errors, flushes by trigger, words in
/// flight.
boost::json::object node_totals(const status_map& status);

/// Whether a node is ready for work, and the reasons, one line each.
struct readiness_report {
  bool ready = true;
  std::string text;
};

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

/// Every counter of the node in Prometheus text format (version 0.0.4).
std::string prometheus_text(const status_map& status, double uptime_seconds);

} // namespace rpcbatch
