// The Kafka consumer behind the source: a librdkafka KafkaConsumer in a
// consumer group, owned by one poll thread (no CAF worker ever blocks on
// Kafka). What the thread sees goes out through consumer_events; what the
// source wants done (commits, release of revoked partitions, the operator's
// pause) comes in through thread-safe calls that the poll thread carries out.
// Every assignment of a partition starts an epoch (a number that grows over
// the consumer's life): its records, end and revoke carry it, and a commit
// is made only for a partition assigned now in the epoch it names, so that
// nothing of an older assignment can move the group's offsets. A log that
// restarted (the cluster id changed, an offset out of range, an offset
// handed over again) starts a new epoch from its beginning, loudly.
// Rebalances are cooperative (incremental) unless the assignment strategy
// says otherwise: only the partitions that move are revoked.
//
// Flow control is the source's: the poll thread stays at most two batches
// ahead of it and simply stops calling consume() while the source has not
// taken them (librdkafka keeps what it fetched; its prefetch is bounded by
// queued.max.messages.kbytes). Only a wait longer than `pause_after` pauses
// the partitions, so that the poll thread can go on serving the group
// (rebalances, max.poll.interval.ms) through a long outage.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "messages/actors.hpp"
#include "messages/types.hpp"

namespace RdKafka {
class KafkaConsumer;
class Message;
} // namespace RdKafka

namespace rpcbatch {

struct consumer_options {
  std::string topic = "input-topic";
  /// librdkafka properties (bootstrap.servers, group.id, ...), applied on top
  /// of the defaults of this adapter.
  std::map<std::string, std::string> properties;
  /// Most records, and about the most value bytes, handed over per batch.
  std::size_t max_batch = 1000;
  std::size_t max_batch_bytes = 1 << 20;
  /// How long a revoke waits for the source to release the partitions (the
  /// source gives up first: it bounds its own wait a little shorter).
  std::chrono::milliseconds revoke_timeout{10000};
  /// How long the poll thread waits for the source without consuming
  /// before it pauses the partitions and goes on polling the group: a
  /// revoke waits this long at most before the poll thread hears of it.
  std::chrono::milliseconds pause_after{500};
  /// Where a partition without a committed offset (a new group) starts:
  /// "latest" (its end at the assignment) or "earliest" (its oldest record).
  std::string offset_reset = "latest";
  /// Where a partition resumes whose offset is out of the range the broker
  /// holds (a committed offset that fell out of retention): "earliest" (the
  /// oldest record still held), "latest" (the end) or "fail" (fatal).
  std::string on_offset_out_of_range = "earliest";
};

/// The librdkafka properties the consumer sets unless
/// consumer_options::properties overrides them (fetch.wait.max.ms, the
/// prefetch bound, manual commits, partition ends, cooperative-sticky
/// assignment); auto.offset.reset is always "error" on top. For tools that
/// want to consume like the node.
std::map<std::string, std::string> consumer_defaults();

/// A partition of the consumer's current assignment, as the poll thread saw
/// it last.
struct consumer_partition {
  int32_t partition = 0;
  uint32_t epoch = 0;
  /// Records between the read position and the end (-1: not known yet).
  int64_t lag = -1;
  /// How long the partition has had records to read while none of it was
  /// read and the poll thread was not waiting for the source.
  std::chrono::milliseconds unread_for{0};
};

/// Called on the poll thread.
struct consumer_events {
  std::function<void(record_batch&&)> records;
  /// Partitions assigned, each with its end offset at start-up and the
  /// epoch that starts. A partition already assigned in an older epoch
  /// (its log restarted) starts again in the new one.
  std::function<void(std::vector<partition_offset>&&)> assigned;
  /// Partitions about to be revoked, in their epochs; the poll thread then
  /// waits for release() (or the revoke timeout) before giving them up.
  std::function<void(std::vector<partition_offset>&&)> revoked;
  /// The end of a partition was reached at this offset (in its epoch).
  std::function<void(partition_offset)> end_of_partition;
  /// The consumer cannot go on.
  std::function<void(const std::string&)> fatal;
};

/// What the source asks of the consumer's poll thread (kafka_consumer
/// below; a fake in the source's tests). Every call returns at once.
class source_consumer {
public:
  virtual ~source_consumer() = default;

  /// The source let a handed-over batch in: the poll thread may read on.
  virtual void batch_taken() = 0;

  /// Commits these offsets (asynchronously), each only if its partition is
  /// assigned in the epoch it names when the poll thread gets to it.
  virtual void commit(std::vector<partition_offset> offsets) = 0;

  /// Answers the revoke of `revoked`: commits `offsets` and lets the
  /// rebalance go on. The answer to a revoke the poll thread gave up on is
  /// ignored.
  virtual void release(std::vector<partition_epoch> revoked,
                       std::vector<partition_offset> offsets)
    = 0;

  /// Stops handing out records for good: the node drains.
  virtual void stop_for_drain() = 0;

  /// The current assignment, to check the source's against.
  virtual std::vector<consumer_partition> assignment() const = 0;

  virtual uint64_t commits() const = 0;

  virtual uint64_t commit_failures() const = 0;

  /// Logs found to have restarted (each one a new epoch).
  virtual uint64_t log_restarts() const = 0;

  /// An operator's pause (the console's pause/resume), apart from the
  /// source's flow control.
  virtual void pause_for_operator(bool paused) = 0;

  virtual bool paused_by_operator() const = 0;

  /// Records between the read position and the end of every assigned
  /// partition, as of the last fetch.
  virtual int64_t lag() const = 0;

  /// Whether fetching is paused because the source waits for credit.
  virtual bool paused_for_credit() const = 0;

  /// Partitions whose offset was out of the range the broker holds.
  virtual uint64_t offsets_out_of_range() const = 0;
};

class kafka_consumer final : public source_consumer {
public:
  /// Creates the consumer; throws std::runtime_error on bad configuration.
  explicit kafka_consumer(consumer_options opts);

  /// Stops the poll thread if close() was not called.
  ~kafka_consumer();

  kafka_consumer(const kafka_consumer&) = delete;
  kafka_consumer& operator=(const kafka_consumer&) = delete;

  /// Starts the poll thread: end offsets, subscribe, consume.
  void start(consumer_events events);

  /// Commits these offsets (asynchronously, from the poll thread).
  void commit(std::vector<partition_offset> offsets) override;

  /// The source has let a handed-over batch in: the poll thread keeps at
  /// most two batches ahead of the source, so that consuming stops while
  /// the source waits for credit.
  void batch_taken() override;

  void pause_for_operator(bool paused) override;

  bool paused_by_operator() const override {
    return operator_paused_;
  }

  /// Records between the read position and the end of every assigned
  /// partition, as of the last fetch (updated about once a second).
  int64_t lag() const override {
    return lag_;
  }

  /// How many partitions the group assigned to this consumer.
  std::size_t assigned_partitions() const;

  /// Stops handing out records for good: the node drains. the group membership stays.
  void stop_for_drain() override;

  void release(std::vector<partition_epoch> revoked,
               std::vector<partition_offset> offsets) override;

  std::vector<consumer_partition> assignment() const override;

  uint64_t log_restarts() const override {
    return log_restarts_;
  }

  /// Whether the group is steady (no rebalance running), as far as this
  /// member knows.
  bool group_steady() const {
    return group_steady_;
  }

  /// Commits `final_offsets` synchronously (those the broker has not yet
  /// confirmed), leaves the group and joins the poll thread. Returns an
  /// error text, empty on success.
  std::string close(std::vector<partition_offset> final_offsets);

  /// End offsets of every partition of the topic when the thread started.
  std::map<int32_t, int64_t> end_offsets() const;

  uint64_t commits() const override {
    return commits_;
  }

  uint64_t commit_failures() const override {
    return commit_failures_;
  }

  /// Whether the poll thread paused the partitions after waiting for the
  /// source longer than pause_after.
  bool paused_for_credit() const override {
    return block_paused_;
  }

  /// How often a partition's offset was out of the range the broker holds
  /// (each one logged as a warning and handled by on_offset_out_of_range).
  uint64_t offsets_out_of_range() const override {
    return offsets_out_of_range_;
  }

private:
  class rebalancer;
  class committer;
  class group_watcher;
  void run();
  void apply_requests();
  /// Waits up to 100 ms for the source to take a batch; answers whether
  /// the poll thread may read on. Pauses the partitions after pause_after.
  bool wait_for_source();
  /// Serves the group while paused for the source: whatever consume()
  /// still answers is kept for later.
  void poll_while_paused();
  /// Adds a consumed message to the batch being filled, or reports the end
  /// of a partition once the records before it were handed over.
  void take_message(RdKafka::Message& msg);
  void update_pause_locked();
  /// Queues again the commits asked for and not confirmed for a second.
  void commit_again_locked(std::chrono::steady_clock::time_point now);
  /// The partitions assigned now.
  std::vector<int32_t> assigned_now() const;
  /// Hands the batch being filled to the source (if it holds records).
  void hand_over_filling();
  void commit_now(const std::vector<partition_offset>& offsets, bool sync);
  /// Commits at close those of `offsets` the broker has not confirmed,
  /// through a rebalance that runs meanwhile (at most
  /// final_commit_patience). Returns an error text, empty on success.
  std::string commit_final(std::vector<partition_offset> offsets);
  /// Of `offsets`, those of partitions assigned now whose committed offset
  /// is below.
  std::vector<partition_offset>
  still_ahead(std::vector<partition_offset> offsets);
  /// Commits wait until the group's next assignment (poll thread only).
  void hold_commits();
  /// Of `offsets`, those of partitions assigned now in the epoch they name.
  std::vector<partition_offset>
  of_current_epochs(std::vector<partition_offset> offsets);
  void on_assign(std::vector<partition_offset> parts, bool incremental);
  void on_revoke(std::vector<partition_offset> parts, bool incremental,
                 bool lost);
  /// Waits for the source's release of `revoked` (at most revoke_timeout);
  /// answers the offsets to commit.
  std::vector<partition_offset>
  wait_for_release(const std::vector<partition_epoch>& revoked);
  /// A new epoch for every partition of `parts` (with its end offset at
  /// start-up), told to the source.
  void start_epochs(std::vector<partition_offset>& parts);
  /// The partition's log restarted (topic recreated, log truncated): a new
  /// epoch from its start. `why` is logged.
  void restart_log(const std::vector<int32_t>& partitions,
                   const std::string& why);
  /// Checks the cluster id: a changed one is a cluster whose logs all
  /// restarted.
  void check_cluster();
  /// Assigns `parts` (at their offsets), incrementally or not.
  void assign(const std::vector<partition_offset>& parts);
  /// Pauses or resumes `partitions`.
  void set_paused(const std::vector<int32_t>& partitions, bool paused);
  void update_lag();
  void confirmed(const std::vector<partition_offset>& offsets);
  std::vector<partition_offset>
  not_yet_confirmed(std::vector<partition_offset> offsets) const;
  /// Where each partition of a new assignment starts: its committed offset,
  /// or --offset-reset's choice where none is committed.
  std::vector<partition_offset>
  start_offsets(std::vector<partition_offset> parts);
  /// librdkafka found no usable offset for an assigned partition (offset
  /// out of range, or no commit when start_offsets could not look it up):
  /// resumes it where the options say, or stops the consumer.
  void on_offset_reset(int32_t partition, int64_t offset,
                       const std::string& reason);
  /// What is said of an offset out of range, with the offsets the broker
  /// holds (`low`, `high`; -1 if it cannot tell).
  std::string out_of_range_text(int32_t partition, int64_t offset,
                                const std::string& reason, int64_t& low,
                                int64_t& high);
  /// Assigns `partitions` again at `start` (their start after a reset), the
  /// others at their positions, paused or not.
  void assign_again(const std::vector<int32_t>& partitions, int64_t start);

  consumer_options opts_;
  consumer_events events_;
  std::unique_ptr<rebalancer> rebalancer_;
  std::unique_ptr<committer> committer_;
  std::unique_ptr<group_watcher> watcher_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<bool> fetching_{true};
  std::atomic<bool> block_paused_{false};
  std::atomic<bool> closing_{false};
  std::atomic<uint64_t> commits_{0};
  std::atomic<uint64_t> commit_failures_{0};
  std::atomic<bool> operator_paused_{false};
  /// Whether the group's join state is "steady" (no rebalance running).
  std::atomic<bool> group_steady_{false};
  /// How often the group's join state became "steady".
  std::atomic<uint64_t> steady_count_{0};
  std::atomic<int64_t> lag_{0};
  std::chrono::steady_clock::time_point lag_updated_;

  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<partition_offset> to_commit_;
  /// Batches handed over and not yet taken.
  int untaken_ = 0;
  /// Whether the partitions should be paused (operator, drain, a long wait
  /// for the source) and whether they are.
  bool want_paused_ = false;
  bool is_paused_ = false;
  /// The revoke the poll thread waits for, and the source's answer.
  std::optional<std::vector<partition_epoch>> revoking_;
  std::optional<std::vector<partition_offset>> released_;
  std::map<int32_t, int64_t> end_offsets_;

  /// A partition of the current assignment.
  struct assigned_partition {
    uint32_t epoch = 0;
    int64_t lag = -1;
    /// Since when it has records to read and none was read (poll thread
    /// time; none: it has nothing to read or was just read).
    std::optional<std::chrono::steady_clock::time_point> unread_since;
  };
  std::map<int32_t, assigned_partition> assignment_;
  /// What the poll thread read of each assigned partition (poll thread
  /// only).
  struct read_state {
    uint32_t epoch = 0;
    /// The last offset handed over in this epoch (-1: none yet).
    int64_t last_handed = -1;
    /// Whether a record was read since the last lag update.
    bool read = false;
  };
  std::map<int32_t, read_state> reads_;
  /// The highest commit the source asked for per partition, and when it
  /// was last sent (committed again while not confirmed).
  struct requested_commit {
    partition_offset offset;
    std::chrono::steady_clock::time_point at;
  };
  std::map<int32_t, requested_commit> requested_;
  /// Until when asynchronous commits wait (a rebalance runs; poll thread
  /// only).
  std::chrono::steady_clock::time_point commits_held_until_;
  /// Whether the group rebalances incrementally (cooperative protocol).
  bool incremental_ = false;
  /// The last epoch given (poll thread only).
  uint32_t epoch_ = 0;
  /// The cluster id the consumer talks to (poll thread only), and whether
  /// it changed once: partitions without a committed offset then start at
  /// their earliest, whatever --offset-reset says (the logs restarted).
  std::string cluster_id_;
  bool cluster_replaced_ = false;
  std::atomic<uint64_t> log_restarts_{0};
  /// The batch the poll thread is filling (poll thread only).
  record_batch filling_;
  std::size_t filling_bytes_ = 0;
  /// Ends of partitions reached after records still being filled (poll
  /// thread only): reported once those are handed over.
  std::vector<partition_offset> pending_eofs_;
  /// Since when the poll thread waits for the source (poll thread only).
  std::optional<std::chrono::steady_clock::time_point> blocked_since_;
  /// The highest offset per partition the broker confirmed as committed.
  std::map<int32_t, int64_t> confirmed_;

  /// Where an assigned partition started (poll thread only): the offset
  /// given to assign() and whether it was the group's committed offset.
  struct start_point {
    int64_t offset = 0;
    bool committed = false;
  };
  std::map<int32_t, start_point> starts_;
  std::atomic<uint64_t> offsets_out_of_range_{0};
};

} // namespace rpcbatch
