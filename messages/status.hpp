// What every actor answers to a status request, as typed values: one struct
// per kind of actor, declared once with the name of each field. CAF
// serialises them between nodes (the names are annotations its serialisers
// skip); the inspector reads the fields by member and makes JSON and
// Prometheus text only at the edge (actors/observe/reporting.hpp, actors/observe/inspection.hpp).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <caf/meta/annotation.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/variant.hpp>

#include "messages/types.hpp"

namespace rpcbatch {

/// Names the value that follows it in an inspect() list.
struct field : caf::meta::annotation {
  constexpr explicit field(const char* name) : name(name) {
    // nop
  }
  const char* name;
};

/// Flushes of a batcher (or of all batchers) by trigger.
struct flush_counts {
  uint64_t count = 0;
  uint64_t timer = 0;
  uint64_t end_of_window = 0;
  uint64_t bytes = 0;

  uint64_t& operator[](flush_trigger t);
  uint64_t operator[](flush_trigger t) const;
  flush_counts& operator+=(const flush_counts& other);
};

/// The latency of successful calls: counts per bucket (the last one counts
/// the calls above every bound), their sum and the longest.
struct latency_buckets {
  std::vector<uint64_t> bounds_us;
  std::vector<uint64_t> counts;
  uint64_t sum_us = 0;
  uint64_t max_us = 0;

  /// Empty buckets with these upper bounds.
  static latency_buckets with_bounds(std::vector<uint64_t> bounds_us);

  /// Counts one call of `us` microseconds.
  void record(uint64_t us);
};

struct source_status {
  uint64_t records = 0;
  double active_seconds = 0;
  uint64_t words = 0;
  uint64_t null_records = 0;
  uint64_t records_without_words = 0;
  uint64_t words_acked = 0;
  /// Outputs confirmed that completed no word: a word written twice (sent
  /// again after a batcher node was lost), or a record no longer tracked
  /// (done, or of a revoked partition).
  uint64_t words_confirmed_again = 0;
  uint64_t words_in_flight = 0;
  /// The credit window now (it follows the confirmation rate), its most,
  /// the rate it follows (words/s) and how often it shrank and grew.
  uint64_t window = 0;
  uint64_t max_window = 0;
  double confirm_rate = 0;
  uint64_t window_shrinks = 0;
  uint64_t window_grows = 0;
  bool waiting_for_credit = false;
  /// Times the window was spent while records waited.
  uint64_t credit_stalls = 0;
  /// Times the window was spent and nothing was confirmed for a tick, so
  /// that every bucket was flushed (see source_state::flush_stalled()).
  uint64_t stall_flushes = 0;
  uint64_t held_records = 0;
  uint64_t held_words = 0;
  uint64_t pieces = 0;
  uint64_t records_in_pieces = 0;
  /// Replay: dead letters that cannot be replayed (not a dead letter, or
  /// its word was cut).
  uint64_t not_replayable = 0;
  uint64_t records_pending = 0;
  std::vector<int32_t> assigned;
  /// The epoch of each assigned partition.
  std::map<int32_t, uint32_t> epochs;
  /// Next offset to read, as committed, per assigned partition.
  std::map<int32_t, int64_t> commit_points;
  std::vector<int32_t> stuck_partitions;
  uint64_t stuck_reports = 0;
  uint64_t commits = 0;
  uint64_t commit_failures = 0;
  uint64_t revokes = 0;
  /// Revokes waiting for their words in flight now; those that reached the
  /// revoke timeout; the last and the longest revoke's duration.
  uint64_t revoking = 0;
  uint64_t revokes_given_up = 0;
  uint64_t last_revoke_ms = 0;
  uint64_t longest_revoke_ms = 0;
  /// Words of revoked (or ended) epochs dropped from bags and queues.
  uint64_t words_cancelled = 0;
  /// Epochs that ended because the partition was assigned again (its
  /// revoke given up, or its log restarted), and logs that restarted.
  uint64_t epochs_superseded = 0;
  uint64_t log_restarts = 0;
  /// Partitions where the source and the consumer's assignment differ
  /// (repaired at the next tick), and the repairs made.
  std::vector<int32_t> unmatched_partitions;
  uint64_t assignment_repairs = 0;
  bool draining = false;
  uint64_t dropped_while_draining = 0;
  /// Records the consumer handed over again (already tracked): skipped.
  uint64_t records_handed_over_again = 0;
  /// Records of partitions no longer assigned: skipped.
  uint64_t records_of_revoked_partitions = 0;
  /// From the Kafka consumer, which the inspector reads (the source sees
  /// it through its seam only).
  int64_t consumer_lag = 0;
  bool operator_paused = false;
  bool paused_for_credit = false;
  uint64_t offsets_out_of_range = 0;
};

struct tokenizer_status {
  uint64_t pieces = 0;
  uint64_t words = 0;
  uint64_t bytes = 0;
  uint64_t end_of_windows = 0;
  uint64_t longest_word = 0;
};

struct router_status {
  uint64_t buckets = 0;
  uint64_t owned_buckets = 0;
  uint64_t batches = 0;
  std::vector<uint64_t> routed_by_bucket;
  std::vector<uint64_t> held_by_bucket;
  uint64_t handovers = 0;
  uint64_t kept_for_resend = 0;
  uint64_t resent = 0;
  uint64_t batcher_nodes_lost = 0;
  uint64_t end_of_windows = 0;
  /// Held words of revoked partitions dropped.
  uint64_t cancelled = 0;
};

struct batcher_status {
  uint32_t bucket = 0;
  uint64_t bag_size = 0;
  uint64_t counter = 0;
  uint64_t bag_bytes = 0;
  /// Bags so far; whether the bag has a max-wait deadline.
  uint64_t generation = 0;
  bool timer_armed = false;
  /// -1 without a flush pending.
  int64_t ms_to_flush = -1;
  flush_counts flushes;
  uint64_t elements_flushed = 0;
  /// Max-wait timer messages that found no deadline to keep (the bag was
  /// flushed by its count before): one timer message is on its way at a
  /// time.
  uint64_t stale_timers = 0;
  /// The result cache (all 0 without one).
  uint64_t cache_capacity = 0;
  uint64_t cache_entries = 0;
  uint64_t cache_hits = 0;
  uint64_t cache_misses = 0;
  uint64_t cache_evictions = 0;
  uint64_t cache_expirations = 0;
  /// Elements answered from the cache, and those that waited for a call.
  uint64_t answered_from_cache = 0;
  uint64_t coalesced = 0;
  uint64_t words_in_flight = 0;
  /// Elements of revoked partitions dropped from the bag.
  uint64_t cancelled = 0;
};

struct rpc_caller_status {
  uint64_t calls = 0;
  uint64_t ok_calls = 0;
  uint64_t failed_calls = 0;
  uint64_t retries = 0;
  uint64_t dead_letter_jobs = 0;
  uint64_t permanent_failures = 0;
  uint64_t given_up_jobs = 0;
  uint64_t inflight = 0;
  uint64_t max_inflight = 0;
  /// The calls in flight allowed now (adapts between min_inflight and
  /// max_inflight, see actors/pipeline/concurrency_limit.hpp), the times it went up
  /// and down, whether a measurement of the no-load latency holds it at
  /// the floor, and that latency and the mean of the last window of calls
  /// (microseconds).
  uint64_t inflight_limit = 0;
  uint64_t min_inflight = 0;
  uint64_t limit_increases = 0;
  uint64_t limit_decreases = 0;
  bool limit_measuring = false;
  uint64_t baseline_latency_us = 0;
  uint64_t window_latency_us = 0;
  uint64_t waiting = 0;
  uint64_t backing_off = 0;
  uint64_t jobs_waiting = 0;
  uint64_t words_waiting = 0;
  /// closed, open or half_open.
  std::string breaker;
  uint64_t breaker_opens = 0;
  int64_t breaker_open_ms = 0;
  uint64_t probes = 0;
  /// Jobs dead-lettered by failing_alone_limit.
  uint64_t failed_alone_jobs = 0;
  int64_t give_up_ms = 0;
  uint64_t words_requested = 0;
  uint64_t elements_resolved = 0;
  /// Elements of revoked partitions dropped from jobs not in flight, and
  /// jobs forgotten because none of their elements was left.
  uint64_t cancelled = 0;
  uint64_t cancelled_jobs = 0;
  uint64_t mean_latency_us = 0;
  /// Latency of successful calls, with the upper bounds (microseconds) of
  /// its buckets.
  latency_buckets latency;
  std::map<std::string, uint64_t> errors_by_code;

  /// Whether the circuit breaker is open or half open.
  bool breaker_is_open() const {
    return !breaker.empty() && breaker != "closed";
  }
};

struct sink_status {
  std::string input_topic;
  std::string output_topic;
  std::string dead_letter_topic;
  uint64_t batches = 0;
  uint64_t outputs = 0;
  uint64_t dead_letters = 0;
  /// Outputs refused for good (by the broker or by produce()), each written
  /// as a dead letter instead; by librdkafka error name.
  uint64_t permanent_refusals = 0;
  std::map<std::string, uint64_t> refusals_by_error;
  /// Records produced again after a transient failure.
  uint64_t reproduced = 0;
  uint64_t waiting_to_reproduce = 0;
  /// Records purged from the producer's queue (at shutdown).
  uint64_t purged = 0;
  /// Outputs that produce() refused at once as too large.
  uint64_t too_large = 0;
  /// Records that produce() did not queue (any reason).
  uint64_t produce_errors = 0;
  uint64_t delivered = 0;
  uint64_t delivery_failures = 0;
  uint64_t queued = 0;
  int64_t latency_ms_p50 = 0;
  int64_t latency_ms_p99 = 0;
};

struct node_status {
  uint64_t buckets = 0;
  uint64_t batch_size = 0;
  double uptime_s = 0;
  bool draining = false;
  uint64_t actors = 0;
};

struct cluster_status {
  uint64_t buckets = 0;
  /// Attached batcher nodes (HOST:PORT).
  std::vector<std::string> batcher_nodes;
  /// Known batcher nodes: configured, or joined at least once.
  uint64_t links = 0;
  uint64_t joins = 0;
  uint64_t losses = 0;
  /// Batchers lost on batcher nodes that stayed up.
  uint64_t batchers_lost = 0;
  /// Buckets without an owner (no batcher node attached).
  uint64_t unowned_buckets = 0;
  /// Joins refused as invalid or beyond the bound on batcher nodes.
  uint64_t joins_refused = 0;
};

struct batcher_host_status {
  std::string name;
  uint64_t attachments = 0;
  uint64_t detachments = 0;
  uint64_t actors_lost = 0;
  uint64_t attaches_refused = 0;
  uint64_t attached = 0;
  uint64_t joined = 0;
  uint64_t actors = 0;
};

/// An ingest node's link to one batcher node (actors/cluster/batcher_link.hpp).
struct batcher_link_status {
  /// The batcher node (HOST:PORT), and whether it is listed in
  /// --batcher-nodes (tried again whenever it is lost).
  std::string node;
  bool configured = false;
  /// unconnected, connecting or attached.
  std::string state;
  /// Connection attempts since the node was last attached: the one that
  /// runs while connecting, those that failed while unconnected.
  uint64_t attempts = 0;
  /// Numbers every attempt and timer: replies and timers of an older one
  /// are ignored.
  uint64_t generation = 0;
  /// The delay before the next attempt at a configured node, and before
  /// attaching again after a lost batcher.
  int64_t backoff_ms = 0;
  int64_t reattach_delay_ms = 0;
  /// Until the timer of the next attempt fires (-1: none pending; a node
  /// that only joined waits for its next join).
  int64_t ms_to_next_attempt = -1;
  /// The batchers attached (one per bucket while attached, 0 otherwise).
  uint64_t batchers = 0;
  uint64_t attaches = 0;
  /// Attempts that failed (not reached, attach refused or not valid).
  uint64_t failures = 0;
  /// The node lost (its host gone, unreachable, or replaced by a restart),
  /// and batchers lost on a node that stayed up (attached again).
  uint64_t losses = 0;
  uint64_t batchers_lost = 0;
  /// Replies and timers of older attempts, ignored.
  uint64_t stale = 0;
};

struct inspector_status {
  std::string role;
  uint64_t events = 0;
  bool control = false;
  uint64_t controls_refused = 0;
  uint64_t batcher_nodes = 0;
  /// Requests to batcher nodes' hosts and actors not answered in time.
  uint64_t unanswered = 0;
};

/// What happened. A value from another node may be out of range: it
/// reads as "unknown".
enum class event_kind : uint8_t {
  flush,
  rpc_error,
  retry,
  dead_letter,
  breaker_open,
  breaker_closed,
  limit,
  rebalance,
  credit,
  resend,
  cancel,
  /// A batcher node attached, or was lost (the cluster's events).
  node_joined,
  node_lost,
  /// A bucket's batcher moved to another node (the cluster's events).
  bucket_moved,
  /// An operator's control through the console.
  control,
  /// Events an actor had more than its ring keeps between two samples.
  events_dropped,
};

/// Its name ("flush", "node_lost", ...; "unknown" if out of range).
const char* to_string(event_kind x);

/// The kind of that name; false if there is none.
bool from_string(std::string_view name, event_kind& x);

/// Every kind, in order.
const std::vector<event_kind>& all_event_kinds();

/// Something that happened in an actor, when it happened: numbered from 1
/// in the order of the actor's events.
struct actor_event {
  uint64_t seq = 0;
  /// Milliseconds since the epoch.
  int64_t unix_ms = 0;
  event_kind kind = event_kind::flush;
  std::string detail;
  /// Occurrences (more than 1 for the calls of one batch failing alike).
  uint64_t count = 1;
};

/// One actor's status: what it is, its mailbox's length and its recent
/// events (actors/observe/event_log.hpp).
struct actor_status {
  uint64_t mailbox = 0;
  caf::variant<source_status, tokenizer_status, router_status,
               batcher_status, rpc_caller_status, sink_status, node_status,
               cluster_status, batcher_host_status, inspector_status,
               batcher_link_status>
    of;
  std::vector<actor_event> events;

  /// The status if the actor is a T, null otherwise.
  template <class T>
  const T* as() const {
    return caf::get_if<T>(&of);
  }
};

// -- inspection ---------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, flush_counts& x) {
  return f(caf::meta::type_name("flush_counts"), field("count"), x.count,
           field("timer"), x.timer, field("end_of_window"), x.end_of_window,
           field("bytes"), x.bytes);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, latency_buckets& x) {
  return f(caf::meta::type_name("latency_buckets"), field("bounds_us"),
           x.bounds_us, field("counts"), x.counts, field("sum_us"), x.sum_us,
           field("max_us"), x.max_us);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, source_status& x) {
  return f(caf::meta::type_name("source_status"), field("records"),
           x.records, field("active_seconds"), x.active_seconds,
           field("words"), x.words, field("null_records"), x.null_records,
           field("records_without_words"), x.records_without_words,
           field("words_acked"), x.words_acked, field("words_confirmed_again"),
           x.words_confirmed_again, field("words_in_flight"),
           x.words_in_flight, field("window"), x.window,
           field("max_window"), x.max_window, field("confirm_rate"),
           x.confirm_rate, field("window_shrinks"), x.window_shrinks,
           field("window_grows"), x.window_grows,
           field("waiting_for_credit"), x.waiting_for_credit,
           field("credit_stalls"), x.credit_stalls, field("stall_flushes"),
           x.stall_flushes, field("held_records"),
           x.held_records, field("held_words"), x.held_words,
           field("pieces"), x.pieces, field("records_in_pieces"),
           x.records_in_pieces, field("not_replayable"), x.not_replayable,
           field("records_pending"), x.records_pending, field("assigned"),
           x.assigned, field("epochs"), x.epochs, field("commit_points"),
           x.commit_points,
           field("stuck_partitions"), x.stuck_partitions,
           field("stuck_reports"), x.stuck_reports, field("commits"),
           x.commits, field("commit_failures"), x.commit_failures,
           field("revokes"), x.revokes, field("revoking"), x.revoking,
           field("revokes_given_up"), x.revokes_given_up,
           field("last_revoke_ms"), x.last_revoke_ms,
           field("longest_revoke_ms"), x.longest_revoke_ms,
           field("words_cancelled"), x.words_cancelled,
           field("epochs_superseded"), x.epochs_superseded,
           field("log_restarts"), x.log_restarts,
           field("unmatched_partitions"), x.unmatched_partitions,
           field("assignment_repairs"), x.assignment_repairs,
           field("draining"), x.draining,
           field("dropped_while_draining"), x.dropped_while_draining,
           field("records_handed_over_again"), x.records_handed_over_again,
           field("records_of_revoked_partitions"),
           x.records_of_revoked_partitions, field("consumer_lag"),
           x.consumer_lag, field("operator_paused"), x.operator_paused,
           field("paused_for_credit"), x.paused_for_credit,
           field("offsets_out_of_range"), x.offsets_out_of_range);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, tokenizer_status& x) {
  return f(caf::meta::type_name("tokenizer_status"), field("pieces"),
           x.pieces, field("words"), x.words, field("bytes"), x.bytes,
           field("end_of_windows"), x.end_of_windows, field("longest_word"),
           x.longest_word);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, router_status& x) {
  return f(caf::meta::type_name("router_status"), field("buckets"),
           x.buckets, field("owned_buckets"), x.owned_buckets,
           field("batches"), x.batches, field("routed_by_bucket"),
           x.routed_by_bucket, field("held_by_bucket"), x.held_by_bucket,
           field("handovers"), x.handovers, field("kept_for_resend"),
           x.kept_for_resend, field("resent"), x.resent,
           field("batcher_nodes_lost"), x.batcher_nodes_lost,
           field("end_of_windows"), x.end_of_windows, field("cancelled"),
           x.cancelled);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, batcher_status& x) {
  return f(caf::meta::type_name("batcher_status"), field("bucket"), x.bucket,
           field("bag_size"), x.bag_size, field("counter"), x.counter,
           field("bag_bytes"), x.bag_bytes, field("generation"), x.generation,
           field("timer_armed"), x.timer_armed, field("ms_to_flush"),
           x.ms_to_flush, field("flushes"), x.flushes,
           field("elements_flushed"), x.elements_flushed,
           field("stale_timers"), x.stale_timers, field("cache_capacity"),
           x.cache_capacity, field("cache_entries"), x.cache_entries,
           field("cache_hits"), x.cache_hits, field("cache_misses"),
           x.cache_misses, field("cache_evictions"), x.cache_evictions,
           field("cache_expirations"), x.cache_expirations,
           field("answered_from_cache"), x.answered_from_cache,
           field("coalesced"), x.coalesced, field("words_in_flight"),
           x.words_in_flight, field("cancelled"), x.cancelled);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rpc_caller_status& x) {
  return f(caf::meta::type_name("rpc_caller_status"), field("calls"),
           x.calls, field("ok_calls"), x.ok_calls, field("failed_calls"),
           x.failed_calls, field("retries"), x.retries,
           field("dead_letter_jobs"), x.dead_letter_jobs,
           field("permanent_failures"), x.permanent_failures,
           field("given_up_jobs"), x.given_up_jobs, field("inflight"),
           x.inflight, field("max_inflight"), x.max_inflight,
           field("inflight_limit"), x.inflight_limit, field("min_inflight"),
           x.min_inflight, field("limit_increases"), x.limit_increases,
           field("limit_decreases"), x.limit_decreases,
           field("limit_measuring"), x.limit_measuring,
           field("baseline_latency_us"), x.baseline_latency_us,
           field("window_latency_us"), x.window_latency_us,
           field("waiting"), x.waiting, field("backing_off"), x.backing_off,
           field("jobs_waiting"), x.jobs_waiting, field("words_waiting"),
           x.words_waiting, field("breaker"), x.breaker,
           field("breaker_opens"), x.breaker_opens, field("breaker_open_ms"),
           x.breaker_open_ms, field("probes"), x.probes,
           field("failed_alone_jobs"), x.failed_alone_jobs,
           field("give_up_ms"), x.give_up_ms, field("words_requested"),
           x.words_requested, field("elements_resolved"),
           x.elements_resolved, field("cancelled"), x.cancelled,
           field("cancelled_jobs"), x.cancelled_jobs, field("mean_latency_us"),
           x.mean_latency_us,
           field("latency"), x.latency, field("errors_by_code"),
           x.errors_by_code);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, sink_status& x) {
  return f(caf::meta::type_name("sink_status"), field("input_topic"),
           x.input_topic, field("output_topic"), x.output_topic,
           field("dead_letter_topic"), x.dead_letter_topic, field("batches"),
           x.batches, field("outputs"), x.outputs, field("dead_letters"),
           x.dead_letters, field("permanent_refusals"), x.permanent_refusals,
           field("refusals_by_error"), x.refusals_by_error,
           field("reproduced"), x.reproduced, field("waiting_to_reproduce"),
           x.waiting_to_reproduce, field("purged"), x.purged,
           field("too_large"), x.too_large, field("produce_errors"),
           x.produce_errors, field("delivered"), x.delivered,
           field("delivery_failures"), x.delivery_failures, field("queued"),
           x.queued, field("latency_ms_p50"), x.latency_ms_p50,
           field("latency_ms_p99"), x.latency_ms_p99);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_status& x) {
  return f(caf::meta::type_name("node_status"), field("buckets"), x.buckets,
           field("batch_size"), x.batch_size, field("uptime_s"), x.uptime_s,
           field("draining"), x.draining, field("actors"), x.actors);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_status& x) {
  return f(caf::meta::type_name("cluster_status"), field("buckets"),
           x.buckets, field("batcher_nodes"), x.batcher_nodes,
           field("links"), x.links, field("joins"), x.joins,
           field("losses"), x.losses, field("batchers_lost"),
           x.batchers_lost, field("unowned_buckets"), x.unowned_buckets,
           field("joins_refused"), x.joins_refused);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        batcher_host_status& x) {
  return f(caf::meta::type_name("batcher_host_status"), field("name"),
           x.name, field("attachments"), x.attachments, field("detachments"),
           x.detachments, field("actors_lost"), x.actors_lost,
           field("attaches_refused"), x.attaches_refused, field("attached"),
           x.attached, field("joined"), x.joined, field("actors"), x.actors);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f,
                                        batcher_link_status& x) {
  return f(caf::meta::type_name("batcher_link_status"), field("node"), x.node,
           field("configured"), x.configured, field("state"), x.state,
           field("attempts"), x.attempts, field("generation"), x.generation,
           field("backoff_ms"), x.backoff_ms, field("reattach_delay_ms"),
           x.reattach_delay_ms, field("ms_to_next_attempt"),
           x.ms_to_next_attempt, field("batchers"), x.batchers,
           field("attaches"), x.attaches, field("failures"), x.failures,
           field("losses"), x.losses, field("batchers_lost"),
           x.batchers_lost, field("stale"), x.stale);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, inspector_status& x) {
  return f(caf::meta::type_name("inspector_status"), field("role"), x.role,
           field("events"), x.events, field("control"), x.control,
           field("controls_refused"), x.controls_refused,
           field("batcher_nodes"), x.batcher_nodes, field("unanswered"),
           x.unanswered);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_event& x) {
  return f(caf::meta::type_name("actor_event"), field("seq"), x.seq,
           field("unix_ms"), x.unix_ms, field("kind"), x.kind,
           field("detail"), x.detail, field("count"), x.count);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, actor_status& x) {
  return f(caf::meta::type_name("actor_status"), field("mailbox"), x.mailbox,
           x.of, field("events"), x.events);
}

} // namespace rpcbatch
