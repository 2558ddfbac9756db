// The source: takes records from the consumer's poll thread, measures each
// in words and lets words into the pipeline while fewer than its credit
// window are unconfirmed (a record larger than the window enters in
// pieces), tracks every record until all its words are written and
// confirmed, commits the highest contiguous done offset + 1 per partition,
// and handles revokes, bounded end and drain. The poll thread reads on only
// once the source let every record of a batch in: when the credit is spent,
// consuming stops (no pause, nothing fetched is thrown away).
//
// The window is bounded in time as well as in words (actors/credit_window):
// what is in flight should be confirmed within --max-inflight-secs at the
// rate words are being confirmed. Every record gets a sequence number, so
// that the RPC stage serves the oldest words first and records finish in
// order.
//
// Partitions come and go in epochs (the consumer's): records, positions,
// acknowledgements and commits of an epoch that is over are ignored, and a
// revoke cancels the revoked epochs' words still waiting in bags and
// queues, waits at most --revoke-timeout-secs for those in flight, commits
// what is done and lets go. Every tick the source checks its partitions
// against the consumer's assignment and repairs what differs.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <caf/timespan.hpp>

#include "actors/pipeline/credit_window.hpp"
#include "actors/observe/event_log.hpp"
#include "actors/pipeline/offset_tracker.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

/// What the source asks of the consumer, and what the consumer's poll
/// thread tells (services/adapters/kafka_consumer.hpp).
class source_consumer;
struct consumer_events;

struct source_config {
  /// The credit window: words let into the pipeline and not yet confirmed,
  /// at most, at least (when it shrinks), and the time in which what is in
  /// flight should be confirmed (0: the window stays at the most).
  int64_t max_inflight_words = 100000;
  int64_t min_inflight_words = 1000;
  caf::timespan max_inflight_time = std::chrono::seconds(2);
  caf::timespan commit_interval = std::chrono::milliseconds(250);
  /// Bounded mode: report the end of input once every assigned partition
  /// reached the end offset it had at start-up.
  bool bounded = false;
  /// How long a drain waits for outstanding words.
  caf::timespan drain_timeout = std::chrono::seconds(60);
  /// How long a revoke waits for the revoked partitions' words in flight.
  caf::timespan revoke_timeout = std::chrono::seconds(3);
  /// A partition whose commit point has not moved for this long while it
  /// has records pending is reported as stuck (0: never).
  caf::timespan stuck_after = std::chrono::seconds(120);
  /// The input is a dead-letter topic: each record's word goes through the
  /// pipeline again (see actors/pipeline/formats.hpp for their format).
  bool replay_dead_letters = false;
};

struct source_state {
  static inline const char* name = "source";

  /// A record taken from the consumer whose words have not all gone in.
  struct held_record {
    input_record rec;
    uint32_t words = 0;
    uint32_t sent = 0;
    /// Where the words not sent yet start in rec.value.
    std::size_t at = 0;
    /// The consumer's batch it came in.
    uint64_t batch = 0;
  };

  /// A revoke waiting for its partitions' words in flight.
  struct revoke_wait {
    uint64_t id = 0;
    /// The revoke as the consumer asked it (its release names it so), and
    /// the partitions of it that the source tracks in those epochs.
    std::vector<partition_epoch> asked;
    std::vector<partition_epoch> partitions;
    caf::actor_clock::time_point started;
    caf::actor_clock::time_point deadline;
    /// Whether the cancel of their waiting words was answered, and how many
    /// of their words in flight it dropped.
    bool cancel_answered = false;
    int64_t dropped = 0;
  };

  /// When a partition last made progress (its commit point moved, a word
  /// of it was confirmed, or it had nothing pending).
  struct progress_mark {
    int64_t point = -1;
    uint64_t confirmed = 0;
    caf::actor_clock::time_point since;
    bool reported = false;
  };

  source_actor::stateful_pointer<source_state> self = nullptr;
  source_config cfg;
  std::shared_ptr<source_consumer> consumer;
  tokenizer_actor tokenizer;
  router_actor router;
  node_actor node;
  offset_tracker tracker;
  /// The assigned partitions and their epochs.
  std::map<int32_t, uint32_t> assigned;
  std::map<int32_t, int64_t> end_offsets;
  std::set<int32_t> finished;
  bool input_end_sent = false;
  bool draining = false;
  std::vector<revoke_wait> revokes;
  uint64_t revoke_ids = 0;
  credit_window window;
  /// The last record's sequence number.
  uint64_t seq = 0;
  /// Partitions where the consumer's assignment and the source's differed
  /// at the last tick (repaired if they still do at the next).
  std::map<int32_t, uint32_t> only_in_consumer;
  std::set<int32_t> only_here;
  std::optional<caf::actor_clock::time_point> drain_deadline;
  caf::typed_response_promise<bool, partition_offsets> drain_promise;
  /// When the first record arrived (throughput counts from there).
  std::optional<caf::actor_clock::time_point> first_record;
  /// Records waiting for credit, in the order read; their words not sent
  /// yet; how many of them each consumer batch still has.
  std::deque<held_record> held;
  int64_t held_words = 0;
  std::map<uint64_t, std::size_t> held_per_batch;
  uint64_t batches = 0;
  /// An end of window waits for the held records to go in first.
  bool end_of_window_wanted = false;
  /// The window is spent and records wait.
  bool waiting_for_credit = false;
  /// Words confirmed as of the last tick, and whether the buckets were
  /// flushed since the last confirmation (see flush_stalled()).
  uint64_t acked_at_tick = 0;
  bool stall_flushed = false;
  std::map<int32_t, progress_mark> marks;
  /// Assigned partitions not read for stuck_after while they had records
  /// to read, and those of them already reported.
  std::vector<int32_t> unread;
  std::set<int32_t> unread_reported;
  /// The counters, in the struct that reports them: status() copies them
  /// and adds the gauges.
  source_status counters;
  /// Revokes, assignments and credit stalls as they happen.
  event_log events;
  uint64_t commit_requests = 0;

  /// Measures and registers the records of a batch from the poll thread,
  /// then lets in what the window allows.
  void take(record_batch& batch);

  /// Lets held words in while the window has room: whole records, or a
  /// piece of the first one (at least a quarter of the window, or all of
  /// it that fits when nothing is in flight); sends a wanted end of window
  /// once nothing is held.
  void feed();

  /// The consumer reached `next` in `partition` (bounded mode's end).
  void mark_position(int32_t partition, int64_t next);

  /// The broker confirmed outputs: their credit returns.
  void confirm(const delivery_ack& ack);

  /// At a tick: if the window is spent and nothing was confirmed since the
  /// last tick, the words in flight wait in bags for batches that cannot
  /// fill (no word comes in until some are confirmed; with the cache on,
  /// bags fill only with the words it cannot answer), and would wait for
  /// their batch timers: every bucket flushes now instead, once until
  /// words are confirmed again.
  void flush_stalled();

  /// The poll thread got partitions, each in a new epoch.
  void assign(const partition_offsets& parts);

  /// Flushes every bucket once every word held now went in.
  void end_of_window();

  /// Stops consuming; the drain is answered once every record is done.
  caf::typed_response_promise<bool, partition_offsets> drain();

  /// The poll thread must give these partitions up (after their words).
  void revoked(const partition_offsets& parts);

  /// Whether `epoch` is the partition's current one (it is assigned in it).
  bool is_current(int32_t partition, uint32_t epoch) const;

  /// Everything that may change when words complete or time passes: a
  /// revoke or a drain that can finish, the end of a bounded input.
  void end_finished_waits();

  /// Commits what moved, tells the router which records are done, and
  /// reports partitions that stopped moving.
  void tick();

  /// Of `words`, those whose output is not confirmed yet.
  word_batch unconfirmed(word_batch words) const;

  actor_status status() const;

private:
  input_record next_piece(held_record& h, uint32_t n);
  /// Starts `epoch` of `partition`; an older epoch of it still tracked
  /// goes into `ended`.
  void start_epoch(int32_t partition, uint32_t epoch,
                   std::vector<partition_epoch>& ended);
  /// Forgets partitions whose epoch is over: nothing of theirs is
  /// committed; their words still waiting are cancelled.
  void end_epochs(const std::vector<partition_epoch>& ended);
  /// Ends a revoke: commits what is done, releases the poll thread.
  void finish_revoke(const revoke_wait& w, bool complete);
  /// Checks the source's partitions against the consumer's assignment.
  void check_assignment();
  /// Resizes the credit window when its interval is over.
  void update_window();
  /// Replay: makes the record's value its dead letter's word; false (and
  /// an empty value) if it has none that can be replayed.
  bool to_replay(input_record& rec);
  void pop_front_held();
  void drop_held(const std::vector<int32_t>& partitions);
  void batch_done(uint64_t batch);
  void check_revokes();
  void check_drain();
  void check_input_end();
  void check_stuck();
};

/// The poll thread's events as messages to `src` (the poll thread talks to
/// the source only by message); `fatal` gets the consumer's end.
consumer_events events_for(source_actor src,
                           std::function<void(const std::string&)> fatal);

source_actor::behavior_type
source(source_actor::stateful_pointer<source_state> self, source_config cfg,
       std::shared_ptr<source_consumer> consumer, tokenizer_actor tokenizer,
       router_actor router, node_actor node);

} // namespace rpcbatch
