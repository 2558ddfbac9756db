#include "services/programs/node_app.hpp"

#include <algorithm>
#include <cstdlib>
#include <future>
#include <iostream>
#include <thread>

#include <unistd.h>

#include <caf/actor_system.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/send.hpp>

#include "actors/cluster/batcher_host.hpp"
#include "actors/cluster/cluster.hpp"
#include "messages/type_ids.hpp"
#include "services/programs/embedded_environment.hpp"
#include "services/programs/node_options.hpp"
#include "services/config/addresses.hpp"
#include "services/config/env_config.hpp"
#include "actors/observe/histogram.hpp"
#include "services/adapters/kafka_consumer.hpp"
#include "services/adapters/kafka_producer.hpp"
#include "services/adapters/log.hpp"
#include "services/adapters/rpc_client.hpp"
#include "services/programs/signals.hpp"

namespace rpcbatch {

namespace {

/// The name under which a node listening on host:port is known to others:
/// the machine's name if it listens on every interface.
std::string advertised(const std::string& host, uint16_t port) {
  auto name = host;
  if (host.empty() || host == "0.0.0.0" || host == "::") {
    char buf[256] = {};
    if (gethostname(buf, sizeof(buf) - 1) == 0)
      name = buf;
  }
  if (name.find(':') != std::string::npos)
    name = "[" + name + "]";
  return name + ":" + std::to_string(port);
}

/// Publishes `handle` on --listen; prints "rpcbatch-node ROLE listening on
/// HOST:PORT" and answers the port, or prints the error and answers 0.
template <class Handle>
uint16_t listen(caf::actor_system& sys, const node_options& opts,
                const Handle& handle) {
  auto [host, port] = split_host_port(opts.listen);
  // Reusing the address lets a node restart on its port at once.
  auto bound = sys.has_openssl_manager()
                 ? caf::openssl::publish(handle, static_cast<uint16_t>(port),
                                         host.c_str(), true)
                 : sys.middleman().publish(handle, static_cast<uint16_t>(port),
                                           host.c_str(), true);
  if (!bound) {
    std::cerr << "rpcbatch-node: cannot listen on " << opts.listen << ": "
              << sys.render(bound.error()) << "\n";
    return 0;
  }
  std::cout << "rpcbatch-node " << opts.role << " listening on " << host
            << ":" << *bound << (sys.has_openssl_manager() ? " (TLS)" : "")
            << std::endl;
  return *bound;
}

/// --role=batcher: publishes a batcher host on --listen and serves ingest
/// nodes until SIGINT/SIGTERM.
int run_batcher_node(node_config& cfg) {
  auto& opts = cfg.opts;
  caf::actor_system sys{cfg};
  auto pipeline = to_pipeline(opts);
  auto client = std::make_shared<rpc_client>(opts.rpc_target,
                                             opts.tls_to_rpc);
  auto hst = sys.spawn(batcher_host, pipeline.batcher, pipeline.rpc, client);
  auto port = listen(sys, opts, hst);
  if (port == 0) {
    caf::anon_send_exit(hst, caf::exit_reason::user_shutdown);
    return 1;
  }
  if (!opts.join.empty())
    caf::anon_send(hst, join_atom::value,
                   advertised(split_host_port(opts.listen).first, port),
                   split_address_list(opts.join));
  std::unique_ptr<node_console> console;
  try {
    console = start_node_console(sys, cfg, {hst, {}}, client);
  } catch (const std::exception& e) {
    std::cerr << "rpcbatch-node: " << e.what() << "\n";
    caf::anon_send_exit(hst, caf::exit_reason::user_shutdown);
    return 1;
  }
  wait_stop_signal();
  caf::anon_send_exit(hst, caf::exit_reason::user_shutdown);
  return 0;
}

/// The adapters of an ingest or all-in-one node; throws if one cannot be
/// made (e.g. a bad librdkafka property).
pipeline_adapters make_adapters(const node_options& opts) {
  pipeline_adapters adapters;
  consumer_options copts;
  copts.topic = opts.input_topic;
  copts.properties = kafka_properties(opts, "consumer.");
  copts.properties["group.id"] = opts.group_id;
  copts.offset_reset = opts.offset_reset;
  copts.on_offset_out_of_range = opts.on_offset_out_of_range;
  // The poll thread hands over at most two batches more than the source
  // let in: keep them small next to the credit window (a record has a few
  // dozen words), so that little waits in the source.
  copts.max_batch = std::clamp<std::size_t>(opts.max_inflight_words / 32, 1,
                                            copts.max_batch);
  // A revoke waits for the source, which gives up after the revoke timeout
  // and commits what is done: the poll thread gives up only if the source
  // does not answer a little after that (it is stalled).
  copts.revoke_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(
    seconds(opts.revoke_timeout_secs) + std::chrono::seconds(5));
  adapters.consumer = std::make_shared<kafka_consumer>(copts);
  adapters.producer = std::make_shared<kafka_producer>(
    kafka_properties(opts, "producer."));
  auto problems = adapters.producer->warm_up(
    {opts.output_topic, opts.dlq_topic}, std::chrono::seconds(5));
  if (!problems.empty())
    log::warn("node", "cannot look up the output topics yet: ", problems);
  adapters.rpc = std::make_shared<rpc_client>(opts.rpc_target,
                                              opts.tls_to_rpc);
  adapters.latency = std::make_shared<latency_histogram>();
  return adapters;
}

/// Waits for the node's outcome; the first SIGINT/SIGTERM asks the node to
/// drain (after `on_drain`), a second one aborts at once.
node_outcome wait_for_outcome(std::future<node_outcome>& outcome,
                              const node_actor& n,
                              const std::function<void()>& on_drain) {
  bool draining = false;
  while (outcome.wait_for(std::chrono::milliseconds(0))
         != std::future_status::ready) {
    auto sig = wait_stop_signal_for(std::chrono::milliseconds(100));
    if (sig == 0)
      continue;
    if (draining) {
      log::error("node", "second signal: aborting without a drain");
      std::_Exit(130);
    }
    draining = true;
    on_drain();
    caf::anon_send(n, drain_atom::value);
  }
  return outcome.get();
}

/// The last commit (synchronous, only after a run that may commit), then
/// leaving the group; answers the exit code.
int close_consumer(kafka_consumer& consumer, const node_outcome& outcome) {
  if (!outcome.ok) {
    consumer.close({});
    return 1;
  }
  auto err = consumer.close(outcome.final_offsets);
  if (!err.empty()) {
    log::error("node", err);
    return 1;
  }
  return outcome.complete ? 0 : 3;
}

} // namespace

namespace {

/// --role=all or ingest: the pipeline (with the embedded environment if no
/// Kafka is given) until it drained or failed.
int run_pipeline_node(node_config& cfg) {
  auto& opts = cfg.opts;
  std::unique_ptr<embedded_environment> env;
  if (opts.bootstrap_servers.empty()) {
    opts.offset_reset = "earliest";
    opts.print_outputs = true;
    env = std::make_unique<embedded_environment>(opts);
  }
  // The actor system outlives the adapters: their threads talk to actors.
  caf::actor_system sys{cfg};
  pipeline_adapters adapters;
  try {
    adapters = make_adapters(opts);
  } catch (const std::exception& e) {
    std::cerr << "rpcbatch-node: " << e.what() << "\n";
    return 2;
  }
  auto pipeline = to_pipeline(opts);
  cluster_actor batcher_nodes;
  if (opts.role == "ingest")
    batcher_nodes = sys.spawn(cluster, pipeline.buckets,
                              split_address_list(opts.batcher_nodes));
  std::promise<node_outcome> done;
  auto outcome_future = done.get_future();
  auto n = sys.spawn(node, pipeline, adapters, batcher_nodes,
                     [&done](node_outcome x) { done.set_value(std::move(x)); });
  if (batcher_nodes != nullptr && !opts.listen.empty()
      && listen(sys, opts, caf::actor_cast<ingest_actor>(batcher_nodes)) == 0)
    caf::anon_send(n, fatal_atom::value,
                   std::string{"cannot listen on "} + opts.listen);
  std::unique_ptr<node_console> console;
  try {
    console = start_node_console(sys, cfg, {n, n},
                                 adapters.rpc);
  } catch (const std::exception& e) {
    caf::anon_send(n, fatal_atom::value, std::string{e.what()});
  }
  auto outcome = wait_for_outcome(outcome_future, n, [&env] {
    if (env)
      env->stop_text();
  });
  auto code = close_consumer(*adapters.consumer, outcome);
  std::cout << outcome.summary << std::endl;
  return code;
}

} // namespace

int run_node(int argc, char** argv) {
  block_stop_signals();
  node_config cfg;
  register_message_types(cfg);
  if (auto code = parse_program(cfg, argc, argv))
    return *code;
  if (auto why = configure(cfg); !why.empty())
    return refuse(cfg, why);
  if (cfg.opts.role == "batcher")
    return run_batcher_node(cfg);
  return run_pipeline_node(cfg);
}

} // namespace rpcbatch
