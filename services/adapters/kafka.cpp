#include "services/adapters/kafka.hpp"

#include <algorithm>
#include <stdexcept>

#include <librdkafka/rdkafkacpp.h>

#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

using clock_type = std::chrono::steady_clock;

/// Applies one `conf.set(...)` and turns a refusal into an exception.
template <class Value>
void checked_set(RdKafka::Conf& conf, const std::string& name,
                 const Value& value) {
  std::string err;
  if (conf.set(name, value, err) != RdKafka::Conf::CONF_OK)
    throw std::runtime_error("Kafka property '" + name + "': " + err);
}

/// Milliseconds left until `deadline`, at least 1 so that librdkafka still
/// makes one attempt.
int remaining_ms(clock_type::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
    deadline - clock_type::now());
  return static_cast<int>(std::max<long long>(1, left.count()));
}

class log_router final : public RdKafka::EventCb {
public:
  void event_cb(RdKafka::Event& event) override {
    log_kafka_event(event);
  }
};

} // namespace

void log_kafka_event(RdKafka::Event& event) {
  switch (event.type()) {
    case RdKafka::Event::EVENT_LOG:
      log_kafka_line("kafka", event.severity(), event.fac(), event.str());
      break;
    case RdKafka::Event::EVENT_ERROR:
      log::emit(event.fatal() ? log::level::error : log::level::warn, "kafka",
                event.fatal() ? "fatal: " : "", RdKafka::err2str(event.err()),
                ": ", event.str());
      break;
    default:
      break; // statistics and throttling are not asked for
  }
}

void log_kafka_line(std::string_view component, int severity,
                    std::string_view facility, std::string_view text) {
  auto lvl = severity <= 3   ? log::level::error
             : severity == 4 ? log::level::warn
             : severity <= 6 ? log::level::info
                             : log::level::debug;
  log::emit(lvl, component, facility, ": ", text);
}

void route_kafka_logs(RdKafka::Conf& conf) {
  static log_router router;
  set_kafka_conf(conf, &router);
}

void set_kafka_conf(RdKafka::Conf& conf, const std::string& name,
                    const std::string& value) {
  checked_set(conf, name, value);
}

void set_kafka_conf(RdKafka::Conf& conf, RdKafka::DeliveryReportCb* cb) {
  checked_set(conf, "dr_cb", cb);
}

void set_kafka_conf(RdKafka::Conf& conf, RdKafka::EventCb* cb) {
  checked_set(conf, "event_cb", cb);
}

void set_kafka_conf(RdKafka::Conf& conf, RdKafka::RebalanceCb* cb) {
  checked_set(conf, "rebalance_cb", cb);
}

void set_kafka_conf(RdKafka::Conf& conf, RdKafka::OffsetCommitCb* cb) {
  checked_set(conf, "offset_commit_cb", cb);
}

std::unique_ptr<RdKafka::Conf> make_kafka_conf(const kafka_props& props) {
  std::unique_ptr<RdKafka::Conf> conf{
    RdKafka::Conf::create(RdKafka::Conf::CONF_GLOBAL)};
  route_kafka_logs(*conf);
  for (auto& [name, value] : props)
    set_kafka_conf(*conf, name, value);
  return conf;
}

std::map<std::string, int> list_topics(RdKafka::Handle& handle,
                                       std::chrono::milliseconds timeout) {
  RdKafka::Metadata* raw = nullptr;
  auto err = handle.metadata(true, nullptr, &raw,
                             static_cast<int>(timeout.count()));
  std::unique_ptr<RdKafka::Metadata> metadata{raw};
  if (err != RdKafka::ERR_NO_ERROR)
    throw std::runtime_error("no Kafka metadata within "
                             + std::to_string(timeout.count())
                             + " ms: " + RdKafka::err2str(err));
  std::map<std::string, int> result;
  for (const auto* topic : *metadata->topics())
    if (topic->err() == RdKafka::ERR_NO_ERROR)
      result[topic->topic()] = static_cast<int>(topic->partitions()->size());
  return result;
}

std::vector<partition_watermarks>
watermark_offsets(RdKafka::Handle& handle, const std::string& topic,
                  std::chrono::milliseconds timeout) {
  auto deadline = clock_type::now() + timeout;
  auto topics = list_topics(handle, timeout);
  auto i = topics.find(topic);
  if (i == topics.end())
    throw std::runtime_error("Kafka topic '" + topic + "' does not exist");
  std::vector<partition_watermarks> result;
  for (std::int32_t p = 0; p < i->second; ++p) {
    partition_watermarks x;
    x.partition = p;
    auto err = handle.query_watermark_offsets(topic, p, &x.low, &x.high,
                                              remaining_ms(deadline));
    if (err != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("offsets of " + topic + "["
                               + std::to_string(p)
                               + "]: " + RdKafka::err2str(err));
    result.push_back(x);
  }
  return result;
}

std::int64_t stored_records(const std::vector<partition_watermarks>& offsets) {
  std::int64_t total = 0;
  for (auto& x : offsets)
    total += x.high - x.low;
  return total;
}

std::size_t flush_producer(RdKafka::Producer& producer,
                           std::chrono::milliseconds timeout) {
  producer.flush(static_cast<int>(timeout.count()));
  return static_cast<std::size_t>(std::max(0, producer.outq_len()));
}

} // namespace rpcbatch
