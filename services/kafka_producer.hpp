// The Kafka producer behind the sink: idempotent librdkafka producer, a poll
// thread serving delivery reports, and delivery groups (one callback when
// every record of a group is confirmed or failed).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>

namespace RdKafka {
class Producer;
class Topic;
} // namespace RdKafka

namespace rpcbatch {

/// Records that complete together. Fires `done` once, on the poll thread,
/// after close() and after the broker answered every record produced in it;
/// `error` is empty if every record was confirmed.
class delivery_group {
public:
  using callback = std::function<void(const std::string& error)>;

  explicit delivery_group(callback done) : done_(std::move(done)) {
    // nop
  }

  /// Marks the group failed (e.g. a record could not even be queued); its
  /// callback then reports `error` instead of success.
  void fail(const std::string& error);

private:
  friend class kafka_producer;
  void settle(const char* error);
  callback done_;
  /// Keeps the group alive while librdkafka holds records of it.
  std::shared_ptr<delivery_group> keep_alive_;
  /// 1 for "still open" plus one per record in flight.
  std::atomic<int64_t> pending_{1};
  std::atomic<bool> failed_{false};
  std::string first_error_;
};

/// Outcome of handing one record to librdkafka.
enum class produce_status { queued, too_large, failed };

class kafka_producer {
public:
  /// Creates the producer (`props` are librdkafka properties, on top of
  /// enable.idempotence=true and a deep local queue) and starts the poll
  /// thread. Throws std::runtime_error with librdkafka's message on bad
  /// configuration.
  explicit kafka_producer(const std::map<std::string, std::string>& props);

  /// Flushes (up to 10 s), reports what could not be delivered, stops.
  ~kafka_producer();

  kafka_producer(const kafka_producer&) = delete;
  kafka_producer& operator=(const kafka_producer&) = delete;

  /// Opens a group whose `done` fires once it is closed and settled.
  std::shared_ptr<delivery_group> open_group(delivery_group::callback done);

  /// Hands one record to librdkafka (never blocks). On `queued` the record
  /// belongs to `group` until the broker answers; otherwise `error` says why.
  produce_status produce(const std::string& topic, std::string_view key,
                         std::string_view value,
                         delivery_group& group, std::string& error);

  /// Marks a group complete: no more records will be added to it.
  void close(delivery_group& group);

  /// Waits up to `timeout` for every queued record; returns what is left.
  int flush(std::chrono::milliseconds timeout);

  /// Records queued or in flight.
  int outq_len() const;

  uint64_t delivered() const {
    return delivered_;
  }

  uint64_t failed() const {
    return failed_;
  }

  /// Set once librdkafka reports a fatal error (e.g. the idempotent
  /// producer lost its guarantees).
  std::string fatal_error() const;

private:
  class delivery_reporter;
  void poll_loop();

  std::unique_ptr<delivery_reporter> reporter_;
  std::unique_ptr<RdKafka::Producer> producer_;
  std::atomic<bool> running_{true};
  std::atomic<uint64_t> delivered_{0};
  std::atomic<uint64_t> failed_{0};
  std::thread poller_;
};

} // namespace rpcbatch
