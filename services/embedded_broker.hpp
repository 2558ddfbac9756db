// An embedded Kafka: librdkafka's mock cluster, which speaks the Kafka
// protocol on random loopback ports, so every client (kcat too) talks to it
// like to a real cluster. Used in-process by the node and the tests, and by
// rpcbatch-broker. Limits of librdkafka 2.0.2's mock: about 5 MiB (or 100000
// message sets) per partition, oldest data dropped silently; topics that a
// client auto-creates get 4 partitions, hence the topics are created up front.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace rpcbatch {

/// A topic to create: its name and partition count.
struct topic_spec {
  std::string name;
  int partitions = 1;

  friend bool operator==(const topic_spec& x, const topic_spec& y) {
    return x.name == y.name && x.partitions == y.partitions;
  }
};

/// Parses "input-topic:3,rpc-pardo-stateful:3" (empty text: no topics);
/// throws cli_error on a missing or bad partition count, an illegal topic
/// name or a name given twice.
std::vector<topic_spec> parse_topics(const std::string& text);

class embedded_broker {
public:
  /// Starts a mock cluster of `brokers` brokers (1 to 16) and creates
  /// `topics` with a replication factor of min(3, brokers). Throws
  /// std::invalid_argument on bad sizes, std::runtime_error if librdkafka
  /// fails.
  embedded_broker(int brokers, std::vector<topic_spec> topics);

  /// Stops the brokers; connected clients see them go away.
  ~embedded_broker();

  embedded_broker(const embedded_broker&) = delete;
  embedded_broker& operator=(const embedded_broker&) = delete;

  /// "127.0.0.1:PORT,127.0.0.1:PORT,..." for bootstrap.servers.
  std::string bootstrap() const;

  /// Creates another topic; throws std::runtime_error if librdkafka fails.
  void create_topic(const topic_spec& topic);

  /// The topics created so far, in creation order.
  const std::vector<topic_spec>& topics() const {
    return topics_;
  }

  int brokers() const {
    return brokers_;
  }

private:
  struct cluster;
  std::unique_ptr<cluster> cluster_;
  int brokers_;
  std::vector<topic_spec> topics_;
};

} // namespace rpcbatch
