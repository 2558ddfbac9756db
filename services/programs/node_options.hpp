// rpcbatch-node's options: every option with its default (command line >
// RPCBATCH_* environment variables > config file > defaults), their checks,
// and what the pipeline and the Kafka clients make of them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "services/adapters/rpc_client.hpp"
#include "actors/pipeline/node.hpp"
#include "services/programs/node_console.hpp"
#include "services/config/program.hpp"

namespace rpcbatch {

/// A CAF timespan in (fractional) seconds.
inline double in_seconds(caf::timespan d) {
  return std::chrono::duration<double>(d).count();
}

/// Every option of the node. The defaults of the pipeline's settings are
/// those of its actors' config structs, stated there once.
struct node_options {
  std::string bootstrap_servers;
  std::string input_topic = sink_config{}.input_topic;
  std::string output_topic = sink_config{}.output_topic;
  std::string group_id;
  std::string dlq_topic;
  size_t batch_size = batcher_config{}.batch_size;
  double max_wait_secs = in_seconds(batcher_config{}.max_wait);
  size_t max_batch_bytes = batcher_config{}.max_batch_bytes;
  size_t buckets = pipeline_config{}.buckets;
  /// Result cache: entries over every bucket (0: off) and their lifetime
  /// (0: for ever).
  size_t cache_entries = 0;
  double cache_ttl_secs = in_seconds(batcher_config{}.cache_ttl);
  std::string rpc_target = default_rpc_address;
  size_t rpc_deadline_ms = rpc_caller_config{}.deadline.count();
  size_t rpc_max_inflight = rpc_caller_config{}.max_inflight;
  /// The floor of the adaptive limit on calls in flight (equal to
  /// rpc_max_inflight: no adaptation).
  size_t rpc_min_inflight = rpc_caller_config{}.min_inflight;
  /// Dead-letter a batch after this many seconds of failure (0: never).
  double rpc_give_up_secs = in_seconds(rpc_caller_config{}.give_up);
  size_t max_inflight_words = source_config{}.max_inflight_words;
  double max_inflight_secs = in_seconds(source_config{}.max_inflight_time);
  double revoke_timeout_secs = in_seconds(source_config{}.revoke_timeout);
  double commit_interval_secs = in_seconds(source_config{}.commit_interval);
  std::string offset_reset = "latest";
  /// Where a committed offset out of the broker's range resumes: earliest,
  /// latest or fail.
  std::string on_offset_out_of_range = "earliest";
  bool bounded = source_config{}.bounded;
  /// A dead-letter topic to feed back through the pipeline (bounded, in its
  /// own group).
  std::string replay_dlq;
  bool print_outputs = false;
  double stats_secs = in_seconds(pipeline_config{}.stats_interval);
  double drain_timeout_secs = in_seconds(source_config{}.drain_timeout);
  double stuck_secs = in_seconds(source_config{}.stuck_after);
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

/// The node's CAF configuration, with its options (services/config/program.hpp).
class node_config : public program_config {
public:
  node_config();
  node_options opts;
  console_options console;

  /// What --dump-config prints: CAF's dump with secrets masked.
  caf::settings dump_content() const override;
};

/// Checks values and fills derived defaults (group id, dead-letter topic);
/// returns an error text, empty if all is well.
std::string validate(node_options& opts);

/// A number of seconds (fractional) as a CAF timespan.
caf::timespan seconds(double s);

/// The pipeline settings for these options.
pipeline_config to_pipeline(const node_options& opts);

/// Once `cfg` is parsed (parse_program): checks its options, sets the log
/// level and loads CAF's modules for the role; answers why the node must
/// not run, empty if it may.
std::string configure(node_config& cfg);

/// The librdkafka properties of one client: bootstrap.servers, every
/// --kafka.NAME, and every --kafka.<client>.NAME (e.g. "consumer.").
std::map<std::string, std::string> kafka_properties(const node_options& opts,
                                                    const std::string& client);

} // namespace rpcbatch
