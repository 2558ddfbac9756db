// rpcbatch-broker: a standalone embedded Kafka (librdkafka's mock cluster)
// for development and tests. The first stdout line is the bootstrap string.

#include <cstdio>
#include <fstream>
#include <iostream>
#include <stdexcept>

#include "actors/adapters/log.hpp"
#include "services/embedded_broker.hpp"
#include "services/program.hpp"
#include "services/signals.hpp"

namespace {

constexpr const char* usage = R"(usage: rpcbatch-broker [options]

Runs an in-memory Kafka cluster (librdkafka's mock cluster) on random
loopback ports until SIGINT or SIGTERM. The first line on stdout is
"bootstrap=HOST:PORT[,HOST:PORT...]".

Limits: about 5 MiB per partition (older records are dropped silently),
data lives in memory only, ports change on every start.
)";

struct broker_config : rpcbatch::program_config {
  int brokers = 3;
  std::string topics
    = "input-topic:3,rpc-pardo-stateful:3,rpc-pardo-stateful-dlq:3";
  std::string bootstrap_file;

  broker_config() : program_config("rpcbatch-broker", usage) {
    add_options()
      .add(brokers, "brokers", "brokers in the cluster, 1 to 16")
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
  auto& file = cfg.bootstrap_file;
  rpcbatch::block_stop_signals();
  try {
    rpcbatch::embedded_broker broker(brokers, topics);
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
