// rpcbatch-textgen: random English-like text into a Kafka topic (the seed's
// faker_gen).

#include <atomic>
#include <functional>
#include <iostream>
#include <random>
#include <stdexcept>
#include <thread>

#include "services/adapters/log.hpp"
#include "services/config/program.hpp"
#include "services/programs/signals.hpp"
#include "services/tools/textgen.hpp"

namespace {

constexpr const char* usage = R"(usage: rpcbatch-textgen [options]

Writes random English-like sentences to a Kafka topic, one message every
--delay-seconds, until --count messages are acknowledged or SIGINT/SIGTERM.
Logs progress every 10 messages, prints the total on stdout at the end.
Exits 1 if the cluster cannot be reached or a delivery fails. librdkafka
properties (SASL, TLS, ...) are --kafka.NAME=VALUE or RPCBATCH_KAFKA_NAME
(lower case, '_' as '.'), as the node's.
)";

struct textgen_config : rpcbatch::program_config {
  rpcbatch::textgen_options opts;
  bool quiet = false;

  textgen_config() : program_config("rpcbatch-textgen", usage) {
    opts.bootstrap = "127.0.0.1:9092";
    kafka_properties = &opts.properties;
    add_options()
      .add(opts.bootstrap, "bootstrap-servers", "Kafka bootstrap servers")
      .add(opts.topic, "topic", "topic to write to")
      .add(opts.delay_seconds, "delay-seconds",
           "pause between messages, fractions allowed, 0: as fast as "
           "possible")
      .add(opts.count, "count", "messages to write, 0: for ever")
      .add(opts.seed, "seed",
           "text seed; equal seeds give equal text (default: random, logged)")
      .add(quiet, "quiet", "no progress lines");
  }
};

/// Sets `stop` on SIGINT/SIGTERM until `done`; the signals are blocked in
/// every thread, so this thread takes them with sigtimedwait.
void watch_signals(std::atomic<bool>& stop, const std::atomic<bool>& done) {
  while (!done)
    if (rpcbatch::wait_stop_signal_for(std::chrono::milliseconds{100}) != 0)
      stop = true;
}

int run(const textgen_config& cfg) {
  auto options = cfg.opts;
  rpcbatch::check_range("delay-seconds", options.delay_seconds, 0.0, 86400.0);
  rpcbatch::check_range("count", options.count, std::uint64_t{0},
                        std::uint64_t{1'000'000'000'000});
  if (!cfg.given("seed"))
    options.seed = std::random_device{}();
  options.verbose = !cfg.quiet;
  if (options.bootstrap.empty() || options.topic.empty())
    throw rpcbatch::cli_error("--bootstrap-servers and --topic need values");
  rpcbatch::block_stop_signals();
  std::atomic<bool> stop{false};
  std::atomic<bool> done{false};
  std::thread watcher{watch_signals, std::ref(stop), std::cref(done)};
  rpcbatch::log::info("textgen", "writing to ", options.topic, " at ",
                      options.bootstrap, " with seed ", options.seed);
  int rc = 0;
  try {
    auto delivered = rpcbatch::produce_text(options, stop);
    std::cout << "sent " << delivered << " messages to " << options.topic
              << std::endl;
  } catch (const std::exception& e) {
    rpcbatch::log::error("textgen", e.what());
    rc = 1;
  }
  done = true;
  watcher.join();
  return rc;
}

} // namespace

int main(int argc, char** argv) {
  textgen_config cfg;
  return rpcbatch::run_program(cfg, argc, argv, [&] { return run(cfg); });
}
