// The embedded broker, the text generator and the Kafka helpers, together
// in-process: what textgen writes, a consumer reads back; the broker on
// given ports, restarted there (in-process and as rpcbatch-broker) under a
// connected client.
#include "services/tools/embedded_broker.hpp"

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <csignal>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <doctest/doctest.h>
#include <librdkafka/rdkafkacpp.h>

#include "services/config/addresses.hpp"
#include "services/adapters/kafka.hpp"
#include "services/tools/textgen.hpp"
#include "tests/support/process.hpp"

using namespace std::chrono_literals;
using rpcbatch::topic_spec;

namespace {

using clock_type = std::chrono::steady_clock;

/// A consumer that reads `topic` from the beginning of every partition,
/// without a group join (assign, not subscribe).
class reader {
public:
  reader(const std::string& bootstrap, const std::string& topic) {
    auto conf = rpcbatch::make_kafka_conf({{"bootstrap.servers", bootstrap},
                                           {"group.id", "broker-test"},
                                           {"enable.auto.commit", "false"}});
    std::string err;
    consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    REQUIRE_MESSAGE(consumer_, err);
    auto offsets = rpcbatch::watermark_offsets(*consumer_, topic, 10s);
    std::vector<RdKafka::TopicPartition*> parts;
    for (auto& x : offsets)
      parts.push_back(RdKafka::TopicPartition::create(
        topic, x.partition, RdKafka::Topic::OFFSET_BEGINNING));
    auto rc = consumer_->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    REQUIRE(rc == RdKafka::ERR_NO_ERROR);
  }

  ~reader() {
    consumer_->close();
  }

  /// Values read until `n` arrived or `timeout` passed.
  std::vector<std::string> read(std::size_t n,
                                std::chrono::milliseconds timeout) {
    std::vector<std::string> values;
    auto deadline = clock_type::now() + timeout;
    while (values.size() < n && clock_type::now() < deadline) {
      std::unique_ptr<RdKafka::Message> m{consumer_->consume(100)};
      switch (m->err()) {
        case RdKafka::ERR_NO_ERROR:
          values.emplace_back(static_cast<const char*>(m->payload()),
                              m->len());
          break;
        case RdKafka::ERR__TIMED_OUT:
        case RdKafka::ERR__PARTITION_EOF:
          break;
        default:
          FAIL("consume: ", m->errstr());
      }
    }
    return values;
  }

private:
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
};

rpcbatch::textgen_options text_to(const rpcbatch::embedded_broker& broker,
                                  const std::string& topic,
                                  std::uint64_t seed) {
  rpcbatch::textgen_options opts;
  opts.bootstrap = broker.bootstrap();
  opts.topic = topic;
  opts.delay_seconds = 0;
  opts.count = 50;
  opts.seed = seed;
  return opts;
}

std::vector<std::string> sorted(std::vector<std::string> xs) {
  std::sort(xs.begin(), xs.end());
  return xs;
}

/// A producer that stays connected across broker restarts, for one topic.
class writer {
public:
  explicit writer(const std::string& bootstrap) {
    auto conf = rpcbatch::make_kafka_conf(
      {{"bootstrap.servers", bootstrap},
       {"reconnect.backoff.max.ms", "1000"},
       {"message.timeout.ms", "30000"}});
    std::string err;
    producer_.reset(RdKafka::Producer::create(conf.get(), err));
    REQUIRE_MESSAGE(producer_, err);
  }

  /// Writes `value` to partition 0 of `topic`; whether the broker
  /// acknowledged it.
  bool write(const std::string& topic, const std::string& value) {
    auto rc = producer_->produce(topic, 0, RdKafka::Producer::RK_MSG_COPY,
                                 const_cast<char*>(value.data()),
                                 value.size(), nullptr, 0, 0, nullptr);
    if (rc != RdKafka::ERR_NO_ERROR)
      return false;
    return rpcbatch::flush_producer(*producer_, 30s) == 0;
  }

  /// The cluster id as of a fresh metadata request (librdkafka keeps the
  /// last one it was told until the next Metadata response).
  std::string cluster_id() {
    RdKafka::Metadata* md = nullptr;
    auto rc = producer_->metadata(true, nullptr, &md, 10000);
    delete md;
    REQUIRE(rc == RdKafka::ERR_NO_ERROR);
    return producer_->clusterid(10000);
  }

private:
  std::unique_ptr<RdKafka::Producer> producer_;
};

/// The port of each HOST:PORT of a bootstrap string, comma separated.
std::string ports_of(const std::string& bootstrap) {
  std::string out;
  for (auto& address : rpcbatch::split_address_list(bootstrap))
    out += (out.empty() ? "" : ",")
           + std::to_string(rpcbatch::split_host_port(address).second);
  return out;
}

/// rpcbatch-broker with `args`, up once it printed its bootstrap string.
struct broker_process {
  rpcbatch::test::child_process process;
  std::string bootstrap;

  explicit broker_process(const std::vector<std::string>& args)
    : process(command(args)) {
    REQUIRE_MESSAGE(process.wait_for_stdout("\n", 30s), process.err());
    auto out = process.out();
    REQUIRE(out.rfind("bootstrap=", 0) == 0);
    bootstrap = out.substr(10, out.find('\n') - 10);
  }

  static std::vector<std::string> command(std::vector<std::string> args) {
    args.insert(args.begin(), RPCBATCH_BIN_DIR "/rpcbatch-broker");
    return args;
  }
};

} // namespace

TEST_CASE("parse_topics accepts NAME:N lists") {
  CHECK(rpcbatch::parse_topics("input-topic:3,rpc-pardo-stateful:3")
        == std::vector<topic_spec>{{"input-topic", 3},
                                   {"rpc-pardo-stateful", 3}});
  CHECK(rpcbatch::parse_topics("a.b_C-9:1")
        == std::vector<topic_spec>{{"a.b_C-9", 1}});
  CHECK(rpcbatch::parse_topics("").empty());
}

TEST_CASE("parse_topics rejects malformed lists") {
  for (auto bad : {"input-topic", "input-topic:", ":3", "t:0", "t:x", "t:3x",
                   "t:-1", "t:99999", "a:1,", ",a:1", "a:1,,b:1", "a b:1",
                   "a:1,a:2", "..:1"})
    CHECK_THROWS_AS_MESSAGE(rpcbatch::parse_topics(bad), rpcbatch::cli_error,
                            bad);
}

TEST_CASE("parse_ports accepts port lists and rejects the rest") {
  CHECK(rpcbatch::parse_ports("9092,9093,1")
        == std::vector<int>{9092, 9093, 1});
  CHECK(rpcbatch::parse_ports("").empty());
  for (auto bad : {"0", "65536", "x", "9092,", ",9092", "9092,,9093", "-1",
                   "9092x", "9092,9092"})
    CHECK_THROWS_AS_MESSAGE(rpcbatch::parse_ports(bad), rpcbatch::cli_error,
                            bad);
}

TEST_CASE("make_kafka_conf names the property librdkafka refuses") {
  CHECK_THROWS_WITH_AS(
    rpcbatch::make_kafka_conf({{"no.such.property", "1"}}),
    doctest::Contains("'no.such.property': No such configuration property"),
    std::runtime_error);
  CHECK_THROWS_WITH_AS(rpcbatch::make_kafka_conf({{"acks", "banana"}}),
                       doctest::Contains("'acks'"), std::runtime_error);
  CHECK_NOTHROW(rpcbatch::make_kafka_conf({{"acks", "all"}}));
}

TEST_CASE("make_sentence writes capitalised, punctuated English-like text") {
  std::mt19937_64 rng{42};
  bool apostrophe = false;
  for (int i = 0; i < 200; ++i) {
    auto s = rpcbatch::make_sentence(rng);
    REQUIRE(s.size() > 5);
    CHECK(std::isupper(static_cast<unsigned char>(s.front())));
    CHECK(std::string{".?!"}.find(s.back()) != std::string::npos);
    apostrophe = apostrophe || s.find('\'') != std::string::npos;
  }
  CHECK(apostrophe);
  std::mt19937_64 a{7};
  std::mt19937_64 b{7};
  std::mt19937_64 c{8};
  auto text = rpcbatch::make_text(a);
  CHECK(text.size() <= 200);
  CHECK(text == rpcbatch::make_text(b));
  CHECK(text != rpcbatch::make_text(c));
}

TEST_CASE("embedded_broker creates its topics with their partition counts") {
  rpcbatch::embedded_broker broker(3, {{"input-topic", 3}, {"other", 5}});
  auto boot = broker.bootstrap();
  CHECK(std::count(boot.begin(), boot.end(), ',') == 2);
  CHECK(boot.rfind("127.0.0.1:", 0) == 0);
  auto conf = rpcbatch::make_kafka_conf({{"bootstrap.servers", boot}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> producer{
    RdKafka::Producer::create(conf.get(), err)};
  REQUIRE(producer);
  auto topics = rpcbatch::list_topics(*producer, 10s);
  CHECK(topics["input-topic"] == 3);
  CHECK(topics["other"] == 5);
  CHECK_THROWS_AS(rpcbatch::embedded_broker(0, {}), std::invalid_argument);
  CHECK_THROWS_WITH_AS(rpcbatch::watermark_offsets(*producer, "nope", 5s),
                       doctest::Contains("does not exist"),
                       std::runtime_error);
}

TEST_CASE("embedded_broker listens on given ports and refuses taken ones") {
  rpcbatch::embedded_broker first(2, {{"t", 1}});
  auto ports = first.ports();
  REQUIRE(ports.size() == 2);
  CHECK(first.bootstrap()
        == "127.0.0.1:" + std::to_string(ports[0]) + ",127.0.0.1:"
             + std::to_string(ports[1]));
  // Ports of a broker that stopped are free again and taken as given.
  std::vector<int> wanted;
  {
    rpcbatch::embedded_broker stopped(2, {});
    wanted = stopped.ports();
  }
  rpcbatch::embedded_broker second(2, {{"t", 1}}, wanted);
  CHECK(second.ports() == wanted);
  // Taken ports: an error, not librdkafka's crash on a failed bind.
  auto taken = "cannot listen on 127.0.0.1:" + std::to_string(ports[1]);
  CHECK_THROWS_WITH_AS(rpcbatch::embedded_broker(2, {}, {ports[1], ports[0]}),
                       doctest::Contains(taken.c_str()), std::runtime_error);
  CHECK_THROWS_AS(rpcbatch::embedded_broker(2, {}, {wanted[0]}),
                  std::invalid_argument);
  CHECK_THROWS_AS(rpcbatch::embedded_broker(1, {}, {70000}),
                  std::invalid_argument);
}

TEST_CASE("a restarted embedded_broker is at the same address with its "
          "topics empty and another cluster id") {
  rpcbatch::embedded_broker broker(1, {{"input-topic", 3}, {"other", 2}});
  auto bootstrap = broker.bootstrap();
  writer client{bootstrap};
  REQUIRE(client.write("input-topic", "before"));
  auto before = client.cluster_id();
  CHECK(before.rfind("mockCluster", 0) == 0);
  std::vector<std::string> ids{before};
  for (int i = 1; i <= 2; ++i) {
    broker.restart();
    CHECK(broker.bootstrap() == bootstrap);
    // The same client, still connected to the old brokers' address.
    REQUIRE(client.write("input-topic", "after " + std::to_string(i)));
    auto id = client.cluster_id();
    CHECK(std::find(ids.begin(), ids.end(), id) == ids.end());
    ids.push_back(id);
    reader in(bootstrap, "input-topic");
    CHECK(in.read(2, 2s) == std::vector<std::string>{"after "
                                                     + std::to_string(i)});
  }
  MESSAGE("cluster ids: ", ids[0], ", ", ids[1], ", ", ids[2]);
  auto conf = rpcbatch::make_kafka_conf({{"bootstrap.servers", bootstrap}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> probe{
    RdKafka::Producer::create(conf.get(), err)};
  REQUIRE(probe);
  auto topics = rpcbatch::list_topics(*probe, 10s);
  CHECK(topics["input-topic"] == 3);
  CHECK(topics["other"] == 2);
  CHECK(probe->clusterid(10000) == ids.back());
}

TEST_CASE("rpcbatch-broker started again with --ports of a stopped one: the "
          "client reconnects and finds the topics empty") {
  auto first = std::make_unique<broker_process>(
    std::vector<std::string>{"--brokers=2", "--topics=input-topic:3"});
  auto bootstrap = first->bootstrap;
  writer client{bootstrap};
  REQUIRE(client.write("input-topic", "before"));
  auto before = client.cluster_id();
  REQUIRE(first->process.signal(SIGTERM));
  REQUIRE(first->process.wait(30s) == 0);
  first.reset();
  broker_process second{{"--brokers=2", "--topics=input-topic:3",
                         "--ports=" + ports_of(bootstrap)}};
  CHECK(second.bootstrap == bootstrap);
  REQUIRE(client.write("input-topic", "after"));
  auto after = client.cluster_id();
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RPCBATCH_UNDER_ASAN
#endif
#elif defined(__SANITIZE_ADDRESS__)
#define RPCBATCH_UNDER_ASAN
#endif
#ifdef RPCBATCH_UNDER_ASAN
  // librdkafka makes the id of the cluster's address, and AddressSanitizer's
  // allocator hands a new process the same one (no heap randomisation).
  WARN(after != before);
#else
  CHECK(after != before);
#endif
  MESSAGE("cluster id ", before, " before the restart, ", after, " after");
  reader in(bootstrap, "input-topic");
  CHECK(in.read(2, 2s) == std::vector<std::string>{"after"});
  // Bad --ports: usage errors.
  for (auto bad : {"--ports=1", "--ports=x,1", "--ports=1,1"}) {
    auto r = rpcbatch::test::run_process(
      broker_process::command({"--brokers=2", bad}), "", 30s);
    INFO(bad, " -> ", r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("--ports") != std::string::npos);
  }
}

TEST_CASE("textgen writes 50 messages that a consumer reads back") {
  rpcbatch::embedded_broker broker(3, {{"input-topic", 3}, {"again", 3}});
  std::atomic<bool> stop{false};
  CHECK(rpcbatch::produce_text(text_to(broker, "input-topic", 1), stop)
        == 50);
  reader in(broker.bootstrap(), "input-topic");
  auto first = in.read(50, 30s);
  REQUIRE(first.size() == 50);
  auto conf = rpcbatch::make_kafka_conf({{"bootstrap.servers",
                                          broker.bootstrap()}});
  std::string err;
  std::unique_ptr<RdKafka::Producer> probe{
    RdKafka::Producer::create(conf.get(), err)};
  REQUIRE(probe);
  auto offsets = rpcbatch::watermark_offsets(*probe, "input-topic", 10s);
  CHECK(offsets.size() == 3);
  CHECK(rpcbatch::stored_records(offsets) == 50);
  SUBCASE("the same seed gives the same text") {
    CHECK(rpcbatch::produce_text(text_to(broker, "again", 1), stop) == 50);
    reader again(broker.bootstrap(), "again");
    auto second = again.read(50, 30s);
    REQUIRE(second.size() == 50);
    // Partitions interleave differently, so compare as multisets.
    CHECK(sorted(first) == sorted(second));
  }
}

TEST_CASE("textgen stops promptly when asked") {
  rpcbatch::embedded_broker broker(1, {{"input-topic", 1}});
  auto opts = text_to(broker, "input-topic", 3);
  opts.count = 0;
  opts.delay_seconds = 3600;
  std::atomic<bool> stop{false};
  auto run = std::async(std::launch::async,
                        [&] { return rpcbatch::produce_text(opts, stop); });
  reader in(broker.bootstrap(), "input-topic");
  CHECK(in.read(1, 30s).size() == 1);
  auto asked = clock_type::now();
  stop = true;
  REQUIRE(run.wait_for(5s) == std::future_status::ready);
  CHECK(clock_type::now() - asked < 1s);
  CHECK(run.get() == 1);
}

TEST_CASE("textgen fails quickly when no broker answers") {
  rpcbatch::textgen_options opts;
  opts.bootstrap = "127.0.0.1:1";
  opts.count = 1;
  opts.connect_timeout = 1500ms;
  std::atomic<bool> stop{false};
  auto start = clock_type::now();
  CHECK_THROWS_WITH_AS(rpcbatch::produce_text(opts, stop),
                       doctest::Contains("cannot reach Kafka at 127.0.0.1:1"),
                       std::runtime_error);
  CHECK(clock_type::now() - start < 5s);
}
