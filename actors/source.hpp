// The source: takes records from the consumer's poll thread, measures each
// in words and lets words into the pipeline while fewer than its credit
// window are unconfirmed (a record larger than the window enters in
// pieces), tracks every record until all its words are written and
// confirmed, commits the highest contiguous done offset + 1 per partition,
// and handles revokes, bounded end and drain. The poll thread reads on only
// once the source let every record of a batch in: when the credit is spent,
// consuming stops (no pause, nothing fetched is thrown away).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include <caf/timespan.hpp>

#include "actors/event_log.hpp"
#include "actors/offset_tracker.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

/// What the source asks of the consumer (actors/adapters/kafka_consumer.hpp).
class source_consumer;

struct source_config {
  /// The credit window: words let into the pipeline and not yet confirmed.
  int64_t max_inflight_words = 100000;
  caf::timespan commit_interval = std::chrono::seconds(1);
  /// Bounded mode: report the end of input once every assigned partition
  /// reached the end offset it had at start-up.
  bool bounded = false;
  /// How long a drain or a revoke waits for outstanding words.
  caf::timespan drain_timeout = std::chrono::seconds(60);
  /// A partition whose commit point has not moved for this long while it
  /// has records pending is reported as stuck (0: never).
  caf::timespan stuck_after = std::chrono::seconds(120);
  /// The input is a dead-letter topic: each record's word goes through the
  /// pipeline again (see actors/sink.hpp for their format).
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

  /// A revoke waiting for its partitions' words.
  struct wait {
    std::vector<int32_t> partitions;
    caf::actor_clock::time_point deadline;
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
  std::set<int32_t> assigned;
  std::map<int32_t, int64_t> end_offsets;
  std::set<int32_t> finished;
  bool input_end_sent = false;
  bool draining = false;
  std::optional<wait> revoke;
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
  std::map<int32_t, progress_mark> marks;
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

  /// Flushes every bucket once every word held now went in.
  void end_of_window();

  /// Stops consuming; the drain is answered once every record is done.
  caf::typed_response_promise<bool, partition_offsets> drain();

  /// The poll thread must give these partitions up (after their words).
  void revoked(const partition_offsets& parts);

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
  /// Replay: makes the record's value its dead letter's word; false (and
  /// an empty value) if it has none that can be replayed.
  bool to_replay(input_record& rec);
  void pop_front_held();
  void drop_held(const std::vector<int32_t>& partitions);
  void batch_done(uint64_t batch);
  void check_revoke();
  void check_drain();
  void check_input_end();
  void check_stuck();
};

source_actor::behavior_type
source(source_actor::stateful_pointer<source_state> self, source_config cfg,
       std::shared_ptr<source_consumer> consumer, tokenizer_actor tokenizer,
       router_actor router, node_actor node);

} // namespace rpcbatch
