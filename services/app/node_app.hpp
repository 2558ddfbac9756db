// rpcbatch-node: options (command line > RPCBATCH_* environment variables >
// config file > defaults), the embedded development environment, and one
// pipeline run from start to drain.
#pragma once

#include <map>
#include <string>

#include <caf/actor_system_config.hpp>

#include "actors/node.hpp"
#include "services/app/node_console.hpp"
#include "services/rpc_client.hpp"

namespace rpcbatch {

/// Every option of the node, with its default.
struct node_options {
  std::string bootstrap_servers;
  std::string input_topic = "input-topic";
  std::string output_topic = "rpc-pardo-stateful";
  std::string group_id;
  std::string dlq_topic;
  size_t batch_size = 10;
  double max_wait_secs = 4;
  size_t max_batch_bytes = 0;
  size_t buckets = 10;
  /// Result cache: entries over every bucket (0: off) and their lifetime
  /// (0: for ever).
  size_t cache_entries = 0;
  double cache_ttl_secs = 0;
  std::string rpc_target = "127.0.0.1:50051";
  size_t rpc_deadline_ms = 5000;
  size_t rpc_max_inflight = 16;
  /// Dead-letter a batch after this many seconds of failure (0: never).
  double rpc_give_up_secs = 0;
  size_t max_inflight_words = 100000;
  std::string offset_reset = "latest";
  /// Where a committed offset out of the broker's range resumes: earliest,
  /// latest or fail.
  std::string on_offset_out_of_range = "earliest";
  bool bounded = false;
  /// A dead-letter topic to feed back through the pipeline (bounded, in its
  /// own group).
  std::string replay_dlq;
  bool print_outputs = false;
  double stats_secs = 5;
  double drain_timeout_secs = 60;
  double stuck_secs = 120;
  std::string log_level = "info";
  /// all (the whole pipeline), ingest (source to router and sink; batchers
  /// on --batcher-nodes) or batcher (batchers and rpc-caller for ingest
  /// nodes, published on --listen).
  std::string role = "all";
  /// Batcher: where it listens (default 127.0.0.1:4250). Ingest: where
  /// batcher nodes join it (default: nowhere).
  std::string listen;
  std::string batcher_nodes;
  /// Batcher: ingest nodes it offers itself to.
  std::string join;
  /// TLS to the RpcService (--rpc-tls-cafile, --rpc-tls-certificate,
  /// --rpc-tls-key).
  rpc_tls tls_to_rpc;
  /// Lets CAF ports (--listen, --console-port) bind beyond loopback without
  /// TLS.
  bool allow_plain_links = false;
  /// librdkafka properties given as --kafka.NAME=VALUE.
  std::map<std::string, std::string> kafka;
};

/// Why the node must not start as configured: a CAF port bound beyond
/// loopback without TLS (a certificate, its key and a CA) and without
/// --allow-plain-links. Empty if it may; `warning` is set when plain ports
/// beyond loopback were allowed.
std::string plain_port_refusal(const node_options& o,
                               const console_options& c, bool tls,
                               std::string& warning);

/// The node's CAF configuration: its options in the global category, so
/// that they work as --name=value and in the config file (--config-file).
class node_config : public caf::actor_system_config {
public:
  node_config();
  node_options opts;
  console_options console;

  /// Every option, with where its value is stored (also for the RPCBATCH_*
  /// variables, services/env_config.hpp).
  const caf::config_option_set& options() const {
    return custom_options_;
  }

  /// What --dump-config prints: CAF's dump with secrets masked.
  caf::settings dump_content() const override;
};

/// Checks values and fills derived defaults (group id, dead-letter topic);
/// returns an error text, empty if all is well.
std::string validate(node_options& opts);

/// The pipeline settings for these options.
pipeline_config to_pipeline(const node_options& opts);

/// Runs rpcbatch-node and returns its exit code: 0 after a complete drain,
/// 1 after a fatal error, 2 for bad options, 3 if the drain gave up waiting.
int run_node(int argc, char** argv);

} // namespace rpcbatch
