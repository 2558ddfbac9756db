// The whole message protocol on one page: atoms and the typed interface of
// every actor, one comment per handler.
//
//  Kafka ─► source ─► tokenizer ─► router ─► batcher[k] ─► rpc-caller ─► gRPC
//             ▲                                                │
//             │                                                ▼
//             └───────── delivery acks ◄──────────────────── sink ─► Kafka
//
// The record path is one way; acknowledgements are the only thing that flows
// back, and they are the source's credit: it lets words in while fewer than
// its window are unconfirmed.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <caf/atom.hpp>
#include <caf/node_id.hpp>
#include <caf/replies_to.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include "messages/console.hpp"
#include "messages/status.hpp"
#include "messages/types.hpp"

namespace rpcbatch {

// -- atoms (at most 10 characters, each text unique) --------------------------

using status_atom = caf::atom_constant<caf::atom("status")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using end_of_window_atom = caf::atom_constant<caf::atom("eow")>;
using retry_atom = caf::atom_constant<caf::atom("retry")>;
using assigned_atom = caf::atom_constant<caf::atom("assigned")>;
using revoked_atom = caf::atom_constant<caf::atom("revoked")>;
using eof_atom = caf::atom_constant<caf::atom("eof")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using input_end_atom = caf::atom_constant<caf::atom("inputend")>;
using fatal_atom = caf::atom_constant<caf::atom("fatal")>;
using attach_atom = caf::atom_constant<caf::atom("attach")>;
using handover_atom = caf::atom_constant<caf::atom("handover")>;
using join_atom = caf::atom_constant<caf::atom("join")>;
using reconnect_atom = caf::atom_constant<caf::atom("reconnect")>;
using actors_atom = caf::atom_constant<caf::atom("actors")>;
using events_atom = caf::atom_constant<caf::atom("events")>;
using nodes_atom = caf::atom_constant<caf::atom("nodes")>;
using metrics_atom = caf::atom_constant<caf::atom("metrics")>;
using control_atom = caf::atom_constant<caf::atom("control")>;
using lost_atom = caf::atom_constant<caf::atom("lost")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using failed_atom = caf::atom_constant<caf::atom("failed")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using pause_atom = caf::atom_constant<caf::atom("pause")>;

// -- interfaces ---------------------------------------------------------------

/// Every actor answers a status request.
using status_client = caf::typed_actor<
  /// Answers the actor's state (messages/status.hpp).
  caf::replies_to<status_atom>::with<actor_status>>;

/// One actor of a directory: the name the console and the metrics show, its
/// role ("batcher", "source", ...), the node it runs on (empty: the
/// directory's own) and, for a batcher of the directory's pipeline, its
/// bucket (-1 otherwise).
struct directory_entry {
  std::string name;
  std::string role;
  std::string node;
  status_client handle;
  int32_t bucket = -1;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, directory_entry& x) {
  return f(caf::meta::type_name("directory_entry"), x.name, x.role, x.node,
           x.handle, x.bucket);
}

/// Every actor of a node (or of a batcher host), for the inspector.
using actor_list = std::vector<directory_entry>;

/// What knows a set of actors: the node, the batcher host.
using actor_directory = caf::typed_actor<
  /// Answers every actor it knows, by name.
  caf::replies_to<actors_atom>::with<actor_list>>;

/// Groups a bucket's words into bags and flushes them to the rpc-caller.
using batcher_actor = status_client::extend<
  /// Adds every element to the bag; flushes when the count (or the byte
  /// bound) is reached; arms the max-wait timer on the first element.
  caf::reacts_to<word_batch>,
  /// The max-wait timer fired (its argument: the bag it was armed for):
  /// flushes the bag if its deadline passed.
  caf::reacts_to<flush_atom, uint64_t>,
  /// End of window: flushes the bag now; answers the elements flushed.
  caf::replies_to<end_of_window_atom>::with<uint64_t>,
  /// Revoked partitions: drops the bag's elements of these epochs, has the
  /// rpc-caller drop those of its jobs not yet called, and answers how
  /// many elements were dropped in all.
  caf::replies_to<cancel_atom, std::vector<partition_epoch>>::with<uint64_t>,
  /// The answers to the words of a job this batcher sent (its cache on):
  /// cached, and the elements that waited for them go to the sink; if the
  /// job failed, those elements go into the bag again.
  caf::reacts_to<word_answers>>;

/// Owns the consumer's offset tracking, commits and the credit window.
using source_actor = status_client::extend<
  /// Records from the poll thread: measured in words and tracked, then
  /// handed to the tokenizer as the credit window allows (a record larger
  /// than the window in pieces); the poll thread may read on once the whole
  /// batch went in.
  caf::reacts_to<record_batch>,
  /// Records whose words the broker confirmed (from the sink): their
  /// credit returns.
  caf::reacts_to<delivery_ack>,
  /// The poll thread got partitions, each in a new epoch (a partition
  /// assigned before in an older one starts again: its log restarted);
  /// offsets are the end offsets at start-up (bounded mode) or -1.
  caf::reacts_to<assigned_atom, partition_offsets>,
  /// The poll thread must give these partitions (in these epochs) up: the
  /// words of theirs still waiting are cancelled, those in flight are
  /// awaited (at most the revoke timeout), what is done is committed and
  /// the poll thread released.
  caf::reacts_to<revoked_atom, partition_offsets>,
  /// The revoke with this number reached its time bound.
  caf::reacts_to<revoked_atom, uint64_t>,
  /// The poll thread reached the end of a partition (in an epoch) at this
  /// offset.
  caf::reacts_to<eof_atom, partition_offset>,
  /// Periodic commit.
  caf::reacts_to<tick_atom>,
  /// Of words to be sent again (their batcher node was lost), answers
  /// those whose output is not confirmed yet.
  caf::replies_to<lost_atom, word_batch>::with<word_batch>,
  /// Stops consuming, flushes every bucket and waits for every word; answers
  /// whether all of it got done (false: gave up waiting) and the offsets to
  /// commit last.
  caf::replies_to<drain_atom>::with<bool, partition_offsets>,
  /// An operator pauses (true) or resumes (false) consumption, apart from
  /// the credit window; answers whether consumption is paused now.
  caf::replies_to<pause_atom, bool>::with<bool>>;

/// Sends every word to the batcher of its bucket.
using router_actor = status_client::extend<
  /// Splits the batch by bucket, one message per batcher.
  caf::reacts_to<word_batch>,
  /// New owners of the buckets (index = bucket; null: none, hold the
  /// words), at once: after a batcher node left, its batchers are gone.
  caf::reacts_to<std::vector<batcher_actor>>,
  /// New owners after a batcher node joined: a bucket that moves holds its
  /// words until its old owner flushed (end of window), then switches.
  caf::reacts_to<handover_atom, std::vector<batcher_actor>>,
  /// A batcher node is gone: new owners at once, as above, and every word
  /// sent to a batcher on that node whose output is not confirmed goes
  /// again to the new owner of its bucket (ingest nodes keep sent words
  /// until their records are done).
  caf::reacts_to<lost_atom, caf::node_id, std::vector<batcher_actor>>,
  /// How far records are done (from the source): the words kept for sending
  /// again that belong to them are dropped.
  caf::reacts_to<std::vector<partition_progress>>,
  /// Sets the source, which tells which words to send again are still
  /// needed.
  caf::reacts_to<source_actor>,
  /// End of window for every owned bucket (after any handover); answers
  /// once all owners flushed, with the number of elements flushed.
  caf::replies_to<end_of_window_atom>::with<uint64_t>,
  /// Revoked partitions: drops the held words of these epochs and has
  /// every owner drop its own; answers how many were dropped in all.
  caf::replies_to<cancel_atom, std::vector<partition_epoch>>::with<uint64_t>>;

/// Splits record values into words.
using tokenizer_actor = status_client::extend<
  /// Tokenizes every record (or piece of one): the words go to the router
  /// in one batch. Nothing is answered: the source measured them already
  /// (they come with each record).
  caf::reacts_to<record_batch>,
  /// End of window for every bucket, passed on to the router after every
  /// word sent so far; the router answers.
  caf::replies_to<end_of_window_atom>::with<uint64_t>,
  /// Revoked partitions, passed on to the router after every word sent so
  /// far; the router answers how many waiting words it dropped.
  caf::replies_to<cancel_atom, std::vector<partition_epoch>>::with<uint64_t>>;

/// Writes outputs and dead letters to Kafka.
using sink_actor = status_client::extend<
  /// Sets where delivery acknowledgements go (the source of the records).
  caf::reacts_to<source_actor>,
  /// Produces one output record per element; acknowledges to the source
  /// the words whose outputs the broker confirmed, once the batch settled.
  caf::reacts_to<resolved_batch>,
  /// Produces one dead-letter record per element with the reason; the
  /// words count as done once the broker confirmed them.
  caf::reacts_to<failed_batch>,
  /// Records Kafka did not take (from the delivery reports): permanent
  /// refusals of outputs become dead letters, transient failures are
  /// produced again after a backoff; a refused dead letter or a fatal
  /// producer error is fatal for the node; purged records are dropped.
  caf::reacts_to<undelivered_batch>,
  /// The backoff ran out: produces the records that failed transiently
  /// again.
  caf::reacts_to<retry_atom>>;

/// Calls RpcService.resolveBatch once per job, with a bound on calls in
/// flight, deadlines, retries and a circuit breaker.
using rpc_caller_actor = status_client::extend<
  /// Starts the call now, or queues it while the in-flight bound is reached
  /// or the circuit breaker is open.
  caf::reacts_to<rpc_job>,
  /// The same, and the answers to the job's words (or its failure) also go
  /// back to this batcher, for its cache.
  caf::reacts_to<rpc_job, batcher_actor>,
  /// The gRPC thread's answer to a call.
  caf::reacts_to<rpc_reply>,
  /// The backoff of the job with this id ran out: call again.
  caf::reacts_to<retry_atom, uint64_t>,
  /// Time for the breaker's next probe, or for giving up on jobs that have
  /// been failing too long; a tick that finds nothing due does nothing.
  caf::reacts_to<tick_atom>,
  /// Revoked partitions: drops the elements of these epochs from every job
  /// not in flight (a job left without elements is forgotten); answers
  /// how many were dropped.
  caf::replies_to<cancel_atom, std::vector<partition_epoch>>::with<uint64_t>>;

/// Published by a batcher node (--role=batcher): serves ingest nodes. The
/// actors it spawned for an ingest node stop when that node's sink does.
using batcher_host_actor = status_client::extend<
  /// An ingest node attaches with its sink and number of buckets: the host
  /// spawns an rpc-caller writing to that sink and one batcher per bucket,
  /// and answers their handles (index = bucket).
  caf::replies_to<attach_atom, sink_actor, uint32_t>::with<
    std::vector<batcher_actor>>,
  /// Offer this node, under this name (HOST:PORT), to the ingest nodes at
  /// these addresses (--join), and again whenever a link to one breaks.
  caf::reacts_to<join_atom, std::string, std::vector<std::string>>,
  /// Time to offer this node to the ingest node at this address again.
  caf::reacts_to<reconnect_atom, std::string>>
  /// Every actor spawned for attached ingest nodes, by name.
  ::extend_with<actor_directory>;

/// What a batcher node started with --join sees of an ingest node.
using ingest_actor = caf::typed_actor<
  /// A batcher node offers itself (its host and its name, HOST:PORT): the
  /// ingest node attaches to it and hands it its share of the buckets.
  caf::reacts_to<join_atom, batcher_host_actor, std::string>>;

/// An ingest node's link to one batcher node, a small state machine:
/// unconnected -> connecting -> attached, and back to unconnected when the
/// node or one of its batchers is lost (then tried again with backoff).
/// Its status says which state it is in (batcher_link_status).
using batcher_link_actor = status_client::extend<
  /// The node offered itself with this host. Unconnected or connecting:
  /// attach to it (an attempt at another host is given up). Attached: the
  /// host in use changes nothing; another one means the node restarted
  /// before its loss was seen: its batchers are lost, the new host is
  /// attached.
  caf::reacts_to<join_atom, batcher_host_actor>,
  /// The delay before this attempt ran out (unconnected): connect (or
  /// attach to the known host) again. An older attempt's timer is ignored,
  /// and so is every timer while connecting or attached.
  caf::reacts_to<reconnect_atom, uint64_t>>;

/// The batcher nodes of an ingest node (--role=ingest): one batcher link
/// per node, the buckets assigned among the attached ones, and every change
/// of owners told to the router. Published on --listen (as an ingest_actor)
/// for joining nodes; the other messages are taken only from this node.
using cluster_actor = ingest_actor::extend_with<status_client>::extend<
  /// Start attaching (batchers write to this sink); answers the number of
  /// nodes attached once the first attempt at every configured node
  /// settled.
  caf::replies_to<start_atom, sink_actor>::with<uint32_t>,
  /// The router whose owners the cluster sets from now on (it gets the
  /// current owners at once).
  caf::reacts_to<router_actor>,
  /// From a link: attached to this node's host, which spawned these
  /// batchers (index = bucket).
  caf::reacts_to<attach_atom, std::string, batcher_host_actor,
                 std::vector<batcher_actor>>,
  /// From a link: the node's batchers are gone (`node_gone`: the node
  /// itself, not just one of its batchers).
  caf::reacts_to<lost_atom, std::string, caf::node_id, bool>,
  /// From a link: an attempt at this node failed.
  caf::reacts_to<failed_atom, std::string>>
  /// The batchers in use (batcher-K@HOST:PORT) and the hosts of the
  /// attached nodes (batcher-host@HOST:PORT).
  ::extend_with<actor_directory>;

/// Supervises one node's pipeline: start, stats, drain and exit.
using node_actor = status_client::extend<
  /// Bounded mode: every assigned partition reached its end offset.
  caf::reacts_to<input_end_atom>,
  /// A stop signal: drain gracefully, then finish.
  caf::reacts_to<drain_atom>,
  /// An unrecoverable error: stop at once without committing more.
  caf::reacts_to<fatal_atom, std::string>,
  /// Periodic stats line.
  caf::reacts_to<tick_atom>>
  /// Every actor of the pipeline, by name, with the cluster's batchers and
  /// hosts (ingest role).
  ::extend_with<actor_directory>;

/// What rpcbatch-console reaches on a node's console port: the console
/// gate, which lives in an actor system of its own (a middleman that knows
/// no other actor of the node) and passes these requests on to the
/// inspector. Answers are typed (messages/console.hpp); a remote part that
/// does not answer in time is marked as not answering, not waited for.
using console_actor = caf::typed_actor<
  /// This node and the batcher nodes it reaches: role, uptime, version,
  /// options in effect, totals.
  caf::replies_to<nodes_atom>::with<node_summaries>,
  /// Every actor: name, node, words/s, a one-line summary and its status.
  caf::replies_to<actors_atom>::with<actor_summaries>,
  /// One actor; an error if no actor has that name.
  caf::replies_to<status_atom, std::string>::with<actor_summary>,
  /// The last events (flushes, RPC errors, retries, rebalances, batcher
  /// nodes joining and lost, buckets moving), oldest first.
  caf::replies_to<events_atom, event_query>::with<node_events>,
  /// Every metric of the node (Prometheus' families).
  caf::replies_to<metrics_atom>::with<metric_families>,
  /// Whether the node is ready for work (partitions assigned, no stuck
  /// partition, every circuit breaker closed), with a line per reason.
  caf::replies_to<ready_atom>::with<readiness_report>,
  /// An operator control (flush BATCHER, pause, resume, drain), its
  /// argument and the control token; refused unless the node runs with
  /// --console-control and, if it has one, the token is its
  /// --console-control-token.
  caf::replies_to<control_atom, std::string, std::string,
                  std::string>::with<control_outcome>>;

/// The inspector of a node: what the console (through the console gate)
/// and the HTTP endpoints see.
using inspector_actor = console_actor::extend<
  /// Its own status.
  caf::replies_to<status_atom>::with<actor_status>,
  /// Periodic sample of every actor's status (events, rates).
  caf::reacts_to<tick_atom>>;

} // namespace rpcbatch
