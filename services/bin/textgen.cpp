// rpcbatch-textgen: random English-like text into a Kafka topic (the seed's
// faker_gen).

#include <atomic>
#include <functional>
#include <iostream>
#include <random>
#include <stdexcept>
#include <thread>

#include "actors/adapters/cli.hpp"
#include "actors/adapters/log.hpp"
#include "services/signals.hpp"
#include "services/textgen.hpp"

namespace {

constexpr const char* usage = R"(usage: rpcbatch-textgen [options]

Writes random English-like sentences to a Kafka topic, one message every
--delay-seconds, until --count messages are acknowledged or SIGINT/SIGTERM.
Logs progress every 10 messages, prints the total on stdout at the end.
Exits 1 if the cluster cannot be reached or a delivery fails.

  --bootstrap-servers=LIST  Kafka bootstrap servers (default 127.0.0.1:9092)
  --topic=NAME              topic to write to (default input-topic)
  --delay-seconds=S         pause between messages, fractions allowed,
                            0 = as fast as possible (default 1)
  --count=N                 messages to write, 0 = forever (default 0)
  --seed=S                  text seed; equal seeds give equal text
                            (default: random, logged)
  --quiet                   no progress lines
  --help                    this text
)";

/// Sets `stop` on SIGINT/SIGTERM until `done`; the signals are blocked in
/// every thread, so this thread takes them with sigtimedwait.
void watch_signals(std::atomic<bool>& stop, const std::atomic<bool>& done) {
  while (!done)
    if (rpcbatch::wait_stop_signal_for(std::chrono::milliseconds{100}) != 0)
      stop = true;
}

int run(const rpcbatch::command_line& cl) {
  cl.allow_only({"bootstrap-servers", "topic", "delay-seconds", "count",
                 "seed", "quiet"});
  rpcbatch::textgen_options options;
  options.bootstrap = cl.text("bootstrap-servers", "127.0.0.1:9092");
  options.topic = cl.text("topic", "input-topic");
  options.delay_seconds = cl.real("delay-seconds", 1.0, 0.0, 86400.0);
  options.count = static_cast<std::uint64_t>(
    cl.integer("count", 0, 0, 1'000'000'000'000LL));
  options.seed = cl.has("seed")
                   ? static_cast<std::uint64_t>(
                     cl.integer("seed", 0, 0, 9'000'000'000'000'000'000LL))
                   : std::random_device{}();
  options.verbose = !cl.flag("quiet");
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
  return rpcbatch::run_tool(argc, argv, usage, run);
}
