// An embedded Kafka: librdkafka's mock cluster, which speaks the Kafka
// protocol on loopback ports (random ones, or given ones), so every client
// (kcat too) talks to it like to a real cluster. Used in-process by the node
// and the tests, and by rpcbatch-broker. Limits of librdkafka 2.0.2's mock:
// about 5 MiB (or 100000 message sets) per partition, oldest data dropped
// silently; topics that a client auto-creates get 4 partitions, hence the
// topics are created up front.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
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

/// Parses "9092,9093,9094" (ports 1 to 65535, none twice; empty text: no
/// ports); throws cli_error otherwise.
std::vector<int> parse_ports(const std::string& text);

/// Where the brokers listen, and the address they give clients in their
/// metadata (the address clients then connect to).
struct broker_address {
  /// IPv4 address the brokers bind: 127.0.0.1, or 0.0.0.0 for every
  /// interface (in a container, so that other containers reach them).
  std::string listen_host = "127.0.0.1";
  /// IPv4 address or host name (resolved to an IPv4 address once, at
  /// start) that the brokers advertise; empty: the listen host, which then
  /// must not be 0.0.0.0.
  std::string advertised_host;
};

class embedded_broker {
public:
  /// Starts a mock cluster of `brokers` brokers (1 to 16) and creates
  /// `topics` with a replication factor of min(3, brokers). Broker i
  /// listens on address.listen_host:ports[i-1], or with no `ports` on ports
  /// the system picks, and advertises address.advertised_host with its
  /// port. Throws std::invalid_argument on bad sizes, ports (not one per
  /// broker) or addresses, std::runtime_error if librdkafka fails, a port
  /// is taken or the advertised host does not resolve.
  embedded_broker(int brokers, std::vector<topic_spec> topics,
                  std::vector<int> ports = {}, broker_address address = {});

  /// Stops the brokers; connected clients see them go away.
  ~embedded_broker();

  embedded_broker(const embedded_broker&) = delete;
  embedded_broker& operator=(const embedded_broker&) = delete;

  /// "HOST:PORT,HOST:PORT,..." for bootstrap.servers, HOST the advertised
  /// address (127.0.0.1 by default).
  std::string bootstrap() const;

  /// The ports the brokers listen on, broker 1's first.
  std::vector<int> ports() const;

  /// Stops the brokers and starts new ones at the same addresses, as if
  /// the cluster restarted with its storage wiped: connected clients lose
  /// their connections and reconnect to the new brokers, which hold the
  /// topics created so far, empty (no records, consumer groups, committed
  /// offsets or pending errors), and report a cluster id of their own.
  /// The stopped brokers stay in memory, idle, until this object is
  /// destroyed: librdkafka 2.0.2 makes a cluster's id of its address, which
  /// a freed cluster would hand on to the new one. A stopped broker binds
  /// its advertised address again: with an advertised host other than the
  /// listen host, one of this machine's addresses only. Throws
  /// std::runtime_error if the new brokers cannot start.
  void restart();

  /// Creates another topic; throws std::runtime_error if librdkafka fails.
  void create_topic(const topic_spec& topic);

  /// Makes the next `count` Produce requests fail with Kafka error code
  /// `error` (e.g. 10, MSG_SIZE_TOO_LARGE): the requests that `broker` (1 to
  /// brokers()) receives, or with 0 the next ones any broker receives. The
  /// mock takes one error per request and answers it for every partition
  /// of the request; librdkafka 2.0.2 sends one partition's batch per
  /// Produce request, so an error refuses one batch. A producer retries
  /// retriable errors by itself (each retry takes the next error); a
  /// permanent one (as MSG_SIZE_TOO_LARGE) fails the batch's records in
  /// their delivery reports, and an idempotent producer then bumps its
  /// epoch and goes on. A broker's errors come before the cluster-wide
  /// ones. Throws std::invalid_argument on a bad broker or count.
  void fail_produce_requests(int count, int error, int broker = 0);

  /// Makes `broker` (1 to brokers()) answer its next `count` Produce
  /// requests only after `delay`; it stores their records at once. A
  /// producer whose message.timeout.ms is shorter sees them time out.
  /// Throws std::invalid_argument on a bad broker or count.
  void delay_produce_requests(int count, std::chrono::milliseconds delay,
                              int broker);

  /// Produce errors (and delays) still waiting for a request on `broker`
  /// (1 to brokers()).
  std::size_t pending_produce_errors(int broker) const;

  /// Makes `broker` (1 to brokers()) the leader of a partition, e.g. to
  /// keep one topic's Produce requests away from another's errors. Throws
  /// std::runtime_error if librdkafka refuses.
  void set_leader(const std::string& topic, int partition, int broker);

  /// The topics created so far, in creation order.
  const std::vector<topic_spec>& topics() const {
    return topics_;
  }

  int brokers() const {
    return brokers_;
  }

private:
  struct cluster;
  /// A cluster of `brokers_` brokers on `ports` (empty: any).
  std::unique_ptr<cluster> start(const std::vector<int>& ports) const;

  /// The listen and advertised addresses (IPv4, network byte order).
  std::uint32_t listen_ip_;
  std::uint32_t advertised_ip_;
  std::unique_ptr<cluster> cluster_;
  /// Clusters stopped by restart().
  std::vector<std::unique_ptr<cluster>> stopped_;
  int brokers_;
  std::vector<topic_spec> topics_;
};

} // namespace rpcbatch
