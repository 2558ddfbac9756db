// The Kafka producer behind the sink: idempotent librdkafka producer, a poll
// thread serving delivery reports, and delivery groups (one callback when
// every record of a group is confirmed or failed, naming the failed ones).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace RdKafka {
class Producer;
class Topic;
} // namespace RdKafka

namespace rpcbatch {

/// A record of a delivery group that was not written: its index in the
/// group and librdkafka's error code (RdKafka::ErrorCode).
struct delivery_failure {
  uint32_t index = 0;
  int32_t code = 0;
};

/// Records that complete together, at indexes 0 to size - 1. Fires `done`
/// once, after close() and after every record produced in it was confirmed
/// or failed, with the failed ones in index order (on the poll thread, or
/// in close() if nothing is left in flight). A record that could not even
/// be queued counts as failed with the code produce() answered.
class delivery_group {
public:
  using callback = std::function<void(std::vector<delivery_failure>)>;

  explicit delivery_group(uint32_t size);

  uint32_t size() const {
    return size_;
  }

private:
  friend class kafka_producer;

  /// What a record's msg_opaque points to: one per index, all in one
  /// allocation per group, so that a delivery report names its record.
  struct ref {
    delivery_group* group;
    uint32_t index;
  };

  /// A delivery report (poll thread); code 0 is success.
  void report(uint32_t index, int32_t code);

  /// Drops one of the pending counts; the last one fires `done_`.
  void release();

  callback done_;
  /// Keeps the group alive while librdkafka holds records of it.
  std::shared_ptr<delivery_group> keep_alive_;
  uint32_t size_;
  std::unique_ptr<ref[]> refs_;
  /// 1 for "still open" plus one per record in flight.
  std::atomic<int64_t> pending_{1};
  /// Records refused by produce() (actor thread, before close()).
  std::vector<delivery_failure> refused_;
  /// Records failed in delivery reports (poll thread).
  std::vector<delivery_failure> failed_;
};

/// What a failed record's error means for the record.
enum class failure_kind {
  /// It can never be written: a permanent refusal of the record itself
  /// (too large, invalid, policy, authorization).
  permanent,
  /// Writing it again may succeed (timeouts, full queue, anything else).
  transient,
  /// The producer lost its guarantees; nothing more can be written.
  fatal,
  /// Removed from the queue at shutdown: neither written nor refused.
  purged,
};

/// The kind of librdkafka error `code`, assuming the producer has no fatal
/// error (kafka_producer::fatal_error()).
failure_kind classify_delivery_failure(int32_t code);

/// librdkafka's text for `code`, e.g. "Broker: Message size too large".
std::string kafka_error_text(int32_t code);

/// librdkafka's name for `code`, e.g. "MSG_SIZE_TOO_LARGE".
std::string kafka_error_name(int32_t code);

/// What the sink writes through: Kafka (kafka_producer) or, in the sink's
/// actor-level tests, a mock that settles groups when the test says so.
class sink_producer {
public:
  virtual ~sink_producer() = default;

  /// Opens a group of `size` records.
  virtual std::shared_ptr<delivery_group> open_group(uint32_t size) = 0;

  /// Hands record `index` of `group` on (never blocks). Answers 0 if it is
  /// queued (it belongs to the group until it is settled), otherwise the
  /// error code, which the group reports as the record's failure.
  virtual int32_t produce(const std::string& topic, std::string_view key,
                          std::string_view value, delivery_group& group,
                          uint32_t index)
    = 0;

  /// Marks a group complete (no more records will be added to it); `done`
  /// fires once every record of it is settled, on any thread.
  virtual void close(delivery_group& group, delivery_group::callback done)
    = 0;

  /// Set once the producer lost its guarantees; nothing more is written.
  virtual std::string fatal_error() const = 0;

  /// Records confirmed, failed, and queued or in flight.
  virtual uint64_t delivered() const = 0;
  virtual uint64_t failed() const = 0;
  virtual int outq_len() const = 0;
};

class kafka_producer final : public sink_producer {
public:
  /// Creates the producer (`props` are librdkafka properties, on top of
  /// enable.idempotence=true, no local message timeout and a deep local
  /// queue) and starts the poll thread. Throws std::runtime_error with
  /// librdkafka's message on bad configuration.
  explicit kafka_producer(const std::map<std::string, std::string>& props);

  /// Flushes (up to 10 s), reports what could not be delivered, stops.
  ~kafka_producer();

  kafka_producer(const kafka_producer&) = delete;
  kafka_producer& operator=(const kafka_producer&) = delete;

  /// Opens a group of `size` records.
  std::shared_ptr<delivery_group> open_group(uint32_t size) override;

  /// Hands record `index` of `group` to librdkafka (never blocks). Answers
  /// 0 if it is queued (it belongs to the group until the broker answers),
  /// otherwise librdkafka's error code, which the group reports as the
  /// record's failure.
  int32_t produce(const std::string& topic, std::string_view key,
                  std::string_view value, delivery_group& group,
                  uint32_t index) override;

  /// Marks a group complete (no more records will be added to it); `done`
  /// fires once every record of it is settled.
  void close(delivery_group& group, delivery_group::callback done) override;

  /// Waits up to `timeout` for every queued record; returns what is left.
  int flush(std::chrono::milliseconds timeout);

  /// Records queued or in flight.
  int outq_len() const override;

  uint64_t delivered() const override {
    return delivered_;
  }

  uint64_t failed() const override {
    return failed_;
  }

  /// Set once librdkafka reports a fatal error (e.g. the idempotent
  /// producer lost its guarantees).
  std::string fatal_error() const override;

  /// Looks up `topics` now (up to `timeout`), so that the first records
  /// to them go out at once instead of waiting for their metadata behind
  /// a full credit window; answers what could not be looked up (empty if
  /// all went well).
  std::string warm_up(const std::vector<std::string>& topics,
                      std::chrono::milliseconds timeout);

private:
  class delivery_reporter;
  void poll_loop();

  std::unique_ptr<delivery_reporter> reporter_;
  std::unique_ptr<RdKafka::Producer> producer_;
  /// Topics looked up by warm_up, kept known to librdkafka.
  std::vector<std::unique_ptr<RdKafka::Topic>> topics_;
  std::atomic<bool> running_{true};
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> failed_{0};
  std::thread poller_;
};

} // namespace rpcbatch
