#include "services/adapters/kafka_producer.hpp"

#include <algorithm>
#include <cassert>

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include "services/adapters/kafka.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

delivery_group::delivery_group(uint32_t size)
  : size_(size), refs_(std::make_unique<ref[]>(size)) {
  for (uint32_t i = 0; i < size; ++i)
    refs_[i] = ref{this, i};
}

void delivery_group::report(uint32_t index, int32_t code) {
  if (code != 0)
    failed_.push_back(delivery_failure{index, code});
  release();
}

void delivery_group::release() {
  if (pending_.fetch_sub(1) != 1)
    return;
  // Settled: the last decrement orders every write to refused_ (before
  // close) and failed_ (poll thread) before this point.
  auto all = std::move(refused_);
  all.insert(all.end(), failed_.begin(), failed_.end());
  std::sort(all.begin(), all.end(),
            [](auto& x, auto& y) { return x.index < y.index; });
  // The last reference may be our own: release it only after done.
  auto self = std::move(keep_alive_);
  auto done = std::move(done_);
  done(std::move(all));
}

failure_kind classify_delivery_failure(int32_t code) {
  switch (code) {
    case RdKafka::ERR_MSG_SIZE_TOO_LARGE:
    case RdKafka::ERR_RECORD_LIST_TOO_LARGE:
    case RdKafka::ERR_INVALID_RECORD:
    case RdKafka::ERR_POLICY_VIOLATION:
    case RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED:
    case RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED:
      return failure_kind::permanent;
    case RdKafka::ERR__FATAL:
      return failure_kind::fatal;
    case RdKafka::ERR__PURGE_QUEUE:
    case RdKafka::ERR__PURGE_INFLIGHT:
      return failure_kind::purged;
    default:
      return failure_kind::transient;
  }
}

std::string kafka_error_text(int32_t code) {
  return RdKafka::err2str(static_cast<RdKafka::ErrorCode>(code));
}

std::string kafka_error_name(int32_t code) {
  return rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(code));
}

class kafka_producer::delivery_reporter : public RdKafka::DeliveryReportCb {
public:
  explicit delivery_reporter(kafka_producer& owner) : owner_(owner) {
    // nop
  }

  void dr_cb(RdKafka::Message& msg) override {
    auto* r = static_cast<delivery_group::ref*>(msg.msg_opaque());
    if (msg.err() == RdKafka::ERR_NO_ERROR)
      ++owner_.delivered_;
    else
      ++owner_.failed_;
    r->group->report(r->index, msg.err());
  }

private:
  kafka_producer& owner_;
};

kafka_producer::kafka_producer(
  const std::map<std::string, std::string>& props) {
  std::map<std::string, std::string> all{
    {"enable.idempotence", "true"},
    // No local timeout: while the broker is away records wait (and the
    // source's credit window stops the input) instead of failing.
    {"message.timeout.ms", "0"},
    {"queue.buffering.max.messages", "2000000"},
    {"queue.buffering.max.kbytes", "2097151"},
    {"linger.ms", "5"},
  };
  // The alias would be overridden by the default above.
  if (props.count("delivery.timeout.ms") > 0)
    all.erase("message.timeout.ms");
  for (auto& [k, v] : props)
    all[k] = v;
  auto conf = make_kafka_conf(all);
  reporter_ = std::make_unique<delivery_reporter>(*this);
  set_kafka_conf(*conf, reporter_.get());
  std::string err;
  producer_.reset(RdKafka::Producer::create(conf.get(), err));
  if (!producer_)
    throw std::runtime_error("kafka producer: " + err);
  poller_ = std::thread([this] { poll_loop(); });
}

std::string kafka_producer::warm_up(const std::vector<std::string>& topics,
                                    std::chrono::milliseconds timeout) {
  std::string problems;
  for (auto& name : topics) {
    std::string err;
    std::unique_ptr<RdKafka::Topic> topic{
      RdKafka::Topic::create(producer_.get(), name, nullptr, err)};
    if (!topic) {
      problems += name + ": " + err + "; ";
      continue;
    }
    RdKafka::Metadata* md = nullptr;
    auto rc = producer_->metadata(false, topic.get(), &md,
                                  static_cast<int>(timeout.count()));
    delete md;
    if (rc != RdKafka::ERR_NO_ERROR)
      problems += name + ": " + RdKafka::err2str(rc) + "; ";
    topics_.push_back(std::move(topic));
  }
  return problems;
}

kafka_producer::~kafka_producer() {
  auto left = flush(std::chrono::seconds(10));
  if (left > 0)
    log::error("kafka-producer", left,
               " record(s) were still undelivered at shutdown");
  running_ = false;
  poller_.join();
  // Serve the reports of purged records so that every group settles.
  producer_->purge(RdKafka::Producer::PURGE_QUEUE
                   | RdKafka::Producer::PURGE_INFLIGHT);
  producer_->poll(0);
}

void kafka_producer::poll_loop() {
  while (running_)
    producer_->poll(50);
}

std::shared_ptr<delivery_group> kafka_producer::open_group(uint32_t size) {
  auto group = std::make_shared<delivery_group>(size);
  group->keep_alive_ = group;
  return group;
}

int32_t kafka_producer::produce(const std::string& topic, std::string_view key,
                                std::string_view value, delivery_group& group,
                                uint32_t index) {
  assert(index < group.size_);
  group.pending_.fetch_add(1);
  auto rc = producer_->produce(
    topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
    const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
    0, &group.refs_[index]);
  if (rc == RdKafka::ERR_NO_ERROR)
    return 0;
  group.pending_.fetch_sub(1);
  group.refused_.push_back(delivery_failure{index, rc});
  return rc;
}

void kafka_producer::close(delivery_group& group,
                           delivery_group::callback done) {
  group.done_ = std::move(done);
  group.release();
}

int kafka_producer::flush(std::chrono::milliseconds timeout) {
  producer_->flush(static_cast<int>(timeout.count()));
  return producer_->outq_len();
}

int kafka_producer::outq_len() const {
  return producer_->outq_len();
}

std::string kafka_producer::fatal_error() const {
  std::string text;
  auto code = producer_->fatal_error(text);
  return code == RdKafka::ERR_NO_ERROR ? std::string{} : text;
}

} // namespace rpcbatch
