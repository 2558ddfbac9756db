#include "services/kafka_producer.hpp"

#include <librdkafka/rdkafkacpp.h>

#include "services/kafka.hpp"
#include "services/log.hpp"

namespace rpcbatch {

void delivery_group::fail(const std::string& error) {
  if (!failed_.exchange(true))
    first_error_ = error;
}

void delivery_group::settle(const char* error) {
  if (error != nullptr && !failed_.exchange(true))
    first_error_ = error;
  if (pending_.fetch_sub(1) == 1) {
    // The last reference may be our own: release it only after done_.
    auto self = std::move(keep_alive_);
    done_(failed_ ? first_error_ : std::string{});
  }
}

class kafka_producer::delivery_reporter : public RdKafka::DeliveryReportCb {
public:
  explicit delivery_reporter(kafka_producer& owner) : owner_(owner) {
    // nop
  }

  void dr_cb(RdKafka::Message& msg) override {
    auto* group = static_cast<delivery_group*>(msg.msg_opaque());
    if (msg.err() == RdKafka::ERR_NO_ERROR) {
      ++owner_.delivered_;
      group->settle(nullptr);
    } else {
      ++owner_.failed_;
      auto text = msg.errstr();
      group->settle(text.c_str());
    }
  }

private:
  kafka_producer& owner_;
};

kafka_producer::kafka_producer(
  const std::map<std::string, std::string>& props) {
  std::map<std::string, std::string> all{
    {"enable.idempotence", "true"},
    {"queue.buffering.max.messages", "2000000"},
    {"queue.buffering.max.kbytes", "2097151"},
    {"linger.ms", "5"},
  };
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

std::shared_ptr<delivery_group>
kafka_producer::open_group(delivery_group::callback done) {
  auto group = std::make_shared<delivery_group>(std::move(done));
  group->keep_alive_ = group;
  return group;
}

produce_status kafka_producer::produce(const std::string& topic,
                                       std::string_view key,
                                       std::string_view value,
                                       delivery_group& group,
                                       std::string& error) {
  group.pending_.fetch_add(1);
  auto rc = producer_->produce(
    topic, RdKafka::Topic::PARTITION_UA, RdKafka::Producer::RK_MSG_COPY,
    const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
    0, &group);
  if (rc == RdKafka::ERR_NO_ERROR)
    return produce_status::queued;
  group.pending_.fetch_sub(1);
  error = RdKafka::err2str(rc);
  return rc == RdKafka::ERR_MSG_SIZE_TOO_LARGE ? produce_status::too_large
                                               : produce_status::failed;
}

void kafka_producer::close(delivery_group& group) {
  group.settle(nullptr);
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
