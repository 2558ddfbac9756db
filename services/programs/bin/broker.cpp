// rpcbatch-broker: a standalone embedded Kafka (librdkafka's mock cluster)
// for development and tests. The first stdout line is the bootstrap string.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "services/config/addresses.hpp"
#include "services/adapters/log.hpp"
#include "services/tools/embedded_broker.hpp"
#include "services/config/program.hpp"
#include "services/programs/signals.hpp"

namespace {

constexpr const char* usage = R"(usage: rpcbatch-broker [options]

Runs an in-memory Kafka cluster (librdkafka's mock cluster) on loopback
ports until SIGINT or SIGTERM: random ones, or --ports. The first line on
stdout is "bootstrap=HOST:PORT[,HOST:PORT...]".

In a container: --listen-host=0.0.0.0 --advertised-host=NAME --ports=...,
where NAME resolves (in the container, at start) to the address that other
containers reach it at, e.g. its service name in a compose network.

A broker started again with the --ports of one that stopped is at the same
address with the same topics, empty (no records, groups or offsets) and
another cluster id: to its clients, a cluster that lost its storage.

Limits: about 5 MiB per partition (older records are dropped silently),
data lives in memory only.
)";

struct broker_config : rpcbatch::program_config {
  int brokers = 3;
  std::string topics
    = "input-topic:3,rpc-pardo-stateful:3,rpc-pardo-stateful-dlq:3";
  std::string ports;
  std::string bootstrap_file;
  std::string listen_host = "127.0.0.1";
  std::string advertised_host;

  broker_config() : program_config("rpcbatch-broker", usage) {
    add_options()
      .add(brokers, "brokers", "brokers in the cluster, 1 to 16")
      .add(ports, "ports",
           "loopback ports to listen on, one per broker: P1,P2,... (default: "
           "ports the system picks)")
      .add(listen_host, "listen-host",
           "IPv4 address the brokers bind: 127.0.0.1 or 0.0.0.0 (default: "
           "127.0.0.1)")
      .add(advertised_host, "advertised-host",
           "IPv4 address or host name (resolved once at start) that the "
           "brokers give clients to connect to (default: the listen host; "
           "needed with 0.0.0.0)")
      .add(topics, "topics", "topics to create: NAME:PARTITIONS,...")
      .add(bootstrap_file, "bootstrap-file",
           "also write the bootstrap string to this file (removed again on "
           "exit)");
  }
};

/// Writes `text` to `path` via a temporary file and a rename, so that a
/// reader never sees a partial line.
void write_file(const std::string& path, const std::string& text) {
  auto tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << text << '\n';
    if (!out.flush())
      throw std::runtime_error("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    throw std::runtime_error("cannot rename " + tmp + " to " + path);
}

int run(const broker_config& cfg) {
  auto brokers = cfg.brokers;
  rpcbatch::check_range("brokers", brokers, 1, 16);
  auto topics = rpcbatch::parse_topics(cfg.topics);
  std::vector<int> ports;
  try {
    ports = rpcbatch::parse_ports(cfg.ports);
  } catch (const rpcbatch::cli_error& e) {
    throw rpcbatch::cli_error(std::string{"--ports: "} + e.what());
  }
  if (!ports.empty() && ports.size() != static_cast<std::size_t>(brokers))
    throw rpcbatch::cli_error("--ports needs one port per broker ("
                              + std::to_string(brokers) + "), got "
                              + std::to_string(ports.size()));
  auto& file = cfg.bootstrap_file;
  rpcbatch::block_stop_signals();
  try {
    rpcbatch::embedded_broker broker(
      brokers, topics, ports,
      rpcbatch::broker_address{cfg.listen_host, cfg.advertised_host});
    auto bootstrap = broker.bootstrap();
    std::cout << "bootstrap=" << bootstrap << std::endl;
    if (!file.empty())
      write_file(file, bootstrap);
    for (auto& t : broker.topics())
      rpcbatch::log::info("broker", "topic ", t.name, " with ", t.partitions,
                          " partitions");
    rpcbatch::log::info("broker", brokers, " brokers at ", bootstrap);
    auto sig = rpcbatch::wait_stop_signal();
    rpcbatch::log::info("broker", "signal ", sig, ", shutting down");
    if (!file.empty())
      std::remove(file.c_str());
  } catch (const std::invalid_argument& e) {
    throw rpcbatch::cli_error(e.what());
  } catch (const std::runtime_error& e) {
    rpcbatch::log::error("broker", e.what());
    return 1;
  }
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  broker_config cfg;
  return rpcbatch::run_program(cfg, argc, argv, [&] { return run(cfg); });
}
