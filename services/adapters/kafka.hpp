// Small librdkafka helpers shared by the tools (textgen, broker) and the
// node's Kafka source and sink: configuration that fails loudly, cluster
// metadata and partition offsets with a deadline, and producer shutdown.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace RdKafka {
class Conf;
class DeliveryReportCb;
class EventCb;
class Event;
class Handle;
class OffsetCommitCb;
class Producer;
class RebalanceCb;
} // namespace RdKafka

namespace rpcbatch {

/// librdkafka properties by name, e.g. {"bootstrap.servers", "host:9092"}.
using kafka_props = std::map<std::string, std::string>;

/// Sets one property; throws std::runtime_error naming the property and
/// librdkafka's message when librdkafka refuses it.
void set_kafka_conf(RdKafka::Conf& conf, const std::string& name,
                    const std::string& value);

/// Installs a callback ("dr_cb", "event_cb", ...); throws like above. The
/// callback object must outlive every handle created from `conf`.
void set_kafka_conf(RdKafka::Conf& conf, RdKafka::DeliveryReportCb* cb);
void set_kafka_conf(RdKafka::Conf& conf, RdKafka::EventCb* cb);
void set_kafka_conf(RdKafka::Conf& conf, RdKafka::RebalanceCb* cb);
void set_kafka_conf(RdKafka::Conf& conf, RdKafka::OffsetCommitCb* cb);

/// Writes one librdkafka log line (syslog `severity`, 0 emergency to 7
/// debug) through rpcbatch::log as "<facility>: <text>".
void log_kafka_line(std::string_view component, int severity,
                    std::string_view facility, std::string_view text);

/// Writes a librdkafka log line or error event through rpcbatch::log, as
/// route_kafka_logs does (for an event callback of a client's own).
void log_kafka_event(RdKafka::Event& event);

/// Installs a process-wide event callback that writes librdkafka's log
/// lines and error events through rpcbatch::log (component "kafka"), so
/// that they look like every other line. Log lines arrive from librdkafka's
/// threads, error events from poll()/consume().
void route_kafka_logs(RdKafka::Conf& conf);

/// A global configuration with every property in `props` set and logs
/// routed (route_kafka_logs; installing another event_cb replaces it);
/// throws std::runtime_error naming the first property librdkafka refuses.
std::unique_ptr<RdKafka::Conf> make_kafka_conf(const kafka_props& props);

/// Partition counts of every topic the cluster knows. Asks for all topics
/// rather than for one by name, so that the question never auto-creates a
/// topic. Throws std::runtime_error if no broker answers within `timeout`.
std::map<std::string, int> list_topics(RdKafka::Handle& handle,
                                       std::chrono::milliseconds timeout);

/// The offsets of one partition: `low` is the oldest offset still stored,
/// `high` the offset the next record will get.
struct partition_watermarks {
  std::int32_t partition = 0;
  std::int64_t low = 0;
  std::int64_t high = 0;
};

/// Low and high watermarks of every partition of `topic`, in partition
/// order, all within `timeout`. Throws std::runtime_error if the topic does
/// not exist, a broker does not answer in time, or a query fails.
std::vector<partition_watermarks>
watermark_offsets(RdKafka::Handle& handle, const std::string& topic,
                  std::chrono::milliseconds timeout);

/// Sum of (high - low) over `offsets`: the records currently stored.
std::int64_t stored_records(const std::vector<partition_watermarks>& offsets);

/// Flushes `producer` for at most `timeout` and returns how many messages
/// are still queued or in flight afterwards (0 when everything is settled).
std::size_t flush_producer(RdKafka::Producer& producer,
                           std::chrono::milliseconds timeout);

} // namespace rpcbatch
