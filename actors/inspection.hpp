// What the inspector makes of its actors' status answers (plain functions
// over JSON, so that they are tested without actors): each actor's role and
// node from its name, a one-line summary, the events between two samples,
// node totals and the Prometheus text of the /metrics endpoint.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace rpcbatch {

/// The role of an actor from its name: "batcher-3@10.0.0.2:4250" and
/// "10.0.0.2:4250/ingest-1/batcher-3" are "batcher"; "rpc-caller" stays.
std::string role_of(std::string_view name);

/// The node an actor runs on: the address after '@' or before the first
/// '/', "local" otherwise.
std::string node_of(std::string_view name);

/// A number field of a status object (0 if missing or not a number).
double number_at(const boost::json::object& status, std::string_view field);

/// The counter that measures an actor's throughput in words (e.g. the
/// tokenizer's "words", a batcher's "elements_flushed"); empty if none.
const char* throughput_field(std::string_view role);

/// One line on an actor's state, e.g. "bag 3, flush in 1200 ms, flushed
/// 12 count / 3 timer / 1 end_of_window / 0 bytes".
std::string summary_line(std::string_view role,
                         const boost::json::object& status);

/// One event: {"kind", "actor", "detail", "count"}; the inspector adds
/// the id and the time.
boost::json::object make_event(std::string kind, std::string actor,
                               std::string detail, uint64_t count = 1);

/// The events between two samples (actor name -> status): flushes by
/// trigger, RPC errors, retries and dead letters, the circuit breaker
/// opening and closing, rebalances (revokes, assignment changes, buckets
/// that moved to another node), credit stalls. Counters missing from
/// `before` count from 0.
std::vector<boost::json::object> diff_events(const boost::json::object& before,
                                             const boost::json::object& after);

/// Node totals from every actor's status: records, words, outputs, dead
/// letters, rpc calls, retries and errors, flushes by trigger, words in
/// flight.
boost::json::object node_totals(const boost::json::object& status);

/// Whether a node is ready for work, and the reasons, one line each.
struct readiness_report {
  bool ready = true;
  std::string text;
};

/// Readiness from every actor's status: not ready while a source has no
/// partition assigned or a stuck partition, or an rpc-caller's circuit
/// breaker is open (the RPC target is failing and the input waits).
readiness_report readiness(const boost::json::object& status);

/// A metric that is one field of a role's status, summed over the actors
/// of that role: the declaration that /metrics and the actors' tests (each
/// field is in its actor's status) share.
struct summed_metric {
  const char* name;
  const char* type;
  const char* role;
  const char* field;
  const char* help;
};

/// Every such metric.
const std::vector<summed_metric>& summed_metrics();

/// Every counter of the node in Prometheus text format (version 0.0.4).
/// `status` maps actor names to their status objects.
std::string prometheus_text(const boost::json::object& status,
                            double uptime_seconds);

} // namespace rpcbatch
