#include "services/programs/node_options.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include <caf/config_option_adder.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>

#include "services/config/addresses.hpp"
#include "services/adapters/log.hpp"
#include "services/config/secrets.hpp"

namespace rpcbatch {

namespace {

constexpr const char* node_usage = R"(usage: rpcbatch-node [options]

Reads text from Kafka, splits it into words, asks the RpcService for each
word's length in batches and writes one JSON record per word to Kafka.
Without --bootstrap-servers it runs an embedded broker, resolver and text
generator. Stops on SIGINT or SIGTERM after draining what it has read.
librdkafka properties are --kafka.NAME=VALUE (both clients),
--kafka.consumer.NAME=VALUE or --kafka.producer.NAME=VALUE (one of them).
)";

/// CAF's settings for a node, which its options can still override.
void tune_caf(caf::actor_system_config& cfg) {
  // One CAF worker per hardware thread (CAF's default is at least 4): on 2
  // cores, 4 workers competed with librdkafka's and gRPC's threads for no
  // gain (--scheduler.max-threads still overrides this).
  cfg.set("scheduler.max-threads",
          std::max(std::size_t{2},
                   std::size_t{std::thread::hardware_concurrency()}));
  // Idle CAF workers block soon instead of polling: the node shares its
  // cores with librdkafka's and gRPC's threads (--caf#work-stealing.* still
  // overrides this).
  cfg.set("work-stealing.aggressive-poll-attempts", 1);
  cfg.set("work-stealing.moderate-poll-attempts", 1);
  // Between nodes: heartbeats every second, a silent peer is down after 5 s.
  cfg.set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds(1)});
  cfg.set("middleman.connection-timeout",
          caf::timespan{std::chrono::seconds(5)});
}

} // namespace

node_config::node_config() : program_config("rpcbatch-node", node_usage) {
  kafka_properties = &opts.kafka;
  config_file_path = "caf-application.ini";
  tune_caf(*this);
  add_options()
    .add(opts.bootstrap_servers, "bootstrap-servers",
         "Kafka bootstrap servers (none: run the embedded broker, resolver "
         "and text generator)")
    .add(opts.input_topic, "input-topic", "topic to read text from")
    .add(opts.output_topic, "output-topic", "topic to write results to")
    .add(opts.group_id, "group-id",
         "consumer group (default: <output-topic>-group)")
    .add(opts.dlq_topic, "dlq-topic",
         "dead-letter topic (default: <output-topic>-dlq)")
    .add(opts.batch_size, "batch-size", "flush a bucket at this many words")
    .add(opts.max_wait_secs, "max-wait-secs",
         "flush a bucket this long after its first word (fractional)")
    .add(opts.max_batch_bytes, "max-batch-bytes",
         "flush a bucket at this many word bytes (0: off)")
    .add(opts.buckets, "buckets", "number of buckets (batchers)")
    .add(opts.cache_entries, "cache-entries",
         "result cache: answers kept over every bucket (0: off, every word "
         "is asked as the seed does)")
    .add(opts.cache_ttl_secs, "cache-ttl-secs",
         "how long a cached answer stays valid (0: for ever)")
    .add(opts.rpc_target, "rpc-target", "RpcService address HOST:PORT")
    .add(opts.tls_to_rpc.cafile, "rpc-tls-cafile",
         "TLS to the RpcService: the CA of its certificate (PEM)")
    .add(opts.tls_to_rpc.certificate, "rpc-tls-certificate",
         "with TLS, a client certificate for the RpcService (PEM)")
    .add(opts.tls_to_rpc.key, "rpc-tls-key",
         "with TLS, the client certificate's key (PEM)")
    .add(opts.rpc_deadline_ms, "rpc-deadline-ms", "deadline per call")
    .add(opts.rpc_max_inflight, "rpc-max-inflight",
         "calls in flight at most (the limit adapts below it to the "
         "service's latency and RESOURCE_EXHAUSTED)")
    .add(opts.rpc_min_inflight, "rpc-min-inflight",
         "calls in flight allowed however the service answers (from 1 to "
         "--rpc-max-inflight; equal to it: a fixed limit)")
    .add(opts.rpc_give_up_secs, "rpc-give-up-secs",
         "dead-letter a batch after this many seconds of RPC failure "
         "(fractional; 0: never, wait for the target)")
    .add(opts.max_inflight_words, "max-inflight-words",
         "the credit window: words in the pipeline at most (consuming "
         "waits while it is spent; a larger record enters in pieces)")
    .add(opts.max_inflight_secs, "max-inflight-secs",
         "the credit window in time: at most what is confirmed in this many "
         "seconds at the current rate (fractional; 0: always "
         "--max-inflight-words)")
    .add(opts.commit_interval_secs, "commit-interval-secs",
         "how often the offsets of done records are committed "
         "(fractional)")
    .add(opts.revoke_timeout_secs, "revoke-timeout-secs",
         "how long a revoked partition waits for its words in flight before "
         "it commits what is done and lets go (fractional)")
    .add(opts.offset_reset, "offset-reset",
         "where a new group starts: latest or earliest")
    .add(opts.on_offset_out_of_range, "on-offset-out-of-range",
         "where a committed offset out of retention resumes: earliest, "
         "latest or fail")
    .add(opts.bounded, "bounded",
         "stop after the input present at start-up is processed")
    .add(opts.replay_dlq, "replay-dlq",
         "feed the dead letters of this topic through the pipeline again "
         "(what it holds at start-up; group <output-topic>-replay-group)")
    .add(opts.print_outputs, "print-outputs", "print every output record")
    .add(opts.stats_secs, "stats-secs", "seconds between stats lines (0: off)")
    .add(opts.drain_timeout_secs, "drain-timeout-secs",
         "how long a drain waits for outstanding words")
    .add(opts.stuck_secs, "stuck-secs",
         "report a partition whose commit point has not moved for this long "
         "while records are pending (0: never)")
    .add(opts.log_level, "log-level", "debug, info, warn or error")
    .add(opts.role, "role", "all, ingest or batcher")
    .add(opts.listen, "listen",
         "where a batcher node listens (HOST:PORT, default 127.0.0.1:4250), "
         "or where an ingest node lets batcher nodes join")
    .add(opts.batcher_nodes, "batcher-nodes",
         "batcher nodes of an ingest node: HOST:PORT,HOST:PORT,...")
    .add(opts.join, "join",
         "ingest nodes a batcher node offers itself to: HOST:PORT,...")
    .add(opts.allow_plain_links, "allow-plain-links",
         "let --listen and --console-host bind beyond loopback without TLS "
         "(any peer that reaches such a port controls the node)");
  add_console_options(custom_options_, console);
}

std::string plain_port_refusal(const node_options& o,
                               const console_options& c, bool tls,
                               std::string& warning) {
  std::vector<std::string> open;
  if (!o.listen.empty() && !is_loopback(split_host_port(o.listen).first))
    open.push_back("--listen=" + o.listen);
  if (c.console_port >= 0 && !is_loopback(c.console_host))
    open.push_back("--console-host=" + c.console_host);
  if (open.empty() || tls)
    return {};
  std::string ports;
  for (auto& p : open)
    ports += (ports.empty() ? "" : " and ") + p;
  auto risk = ports + " without TLS: any peer that reaches the port can "
                      "control the node and read its data";
  if (o.allow_plain_links) {
    warning = "PLAIN CAF PORT BEYOND LOOPBACK (--allow-plain-links): " + risk;
    return {};
  }
  return "refusing " + risk
         + ". Give --openssl.certificate, --openssl.key and --openssl.cafile "
           "(or RPCBATCH_OPENSSL_CERTIFICATE, _KEY and _CAFILE) so that "
           "peers need a certificate of that CA, bind to 127.0.0.1, or "
           "accept the risk with --allow-plain-links";
}

namespace {

/// Masks the non-empty values of secrets in `xs` (names qualified by
/// `prefix`, e.g. "openssl.").
void mask_secrets(caf::settings& xs, const std::string& prefix) {
  for (auto& [key, value] : xs) {
    auto name = prefix + std::string{key.begin(), key.end()};
    if (auto sub = caf::get_if<caf::settings>(&value))
      mask_secrets(*sub, name + ".");
    else if (is_secret(name) && value != caf::config_value{std::string{}})
      value = caf::config_value{std::string{"(secret)"}};
  }
}

} // namespace

caf::settings node_config::dump_content() const {
  auto out = caf::actor_system_config::dump_content();
  mask_secrets(out, "");
  return out;
}

namespace {

/// Why the numbers and names of `o` cannot be used (empty: they can).
std::string check_values(const node_options& o) {
  auto positive = [](double x) { return std::isfinite(x) && x > 0; };
  if (o.input_topic.empty() || o.output_topic.empty())
    return "--input-topic and --output-topic must not be empty";
  if (o.batch_size < 1 || o.batch_size > 1000000)
    return "--batch-size must be between 1 and 1000000";
  if (!positive(o.max_wait_secs) || o.max_wait_secs > 86400)
    return "--max-wait-secs must be a number of seconds above 0 and at most "
           "86400";
  if (o.buckets < 1 || o.buckets > max_buckets)
    return "--buckets must be between 1 and " + std::to_string(max_buckets);
  if (o.rpc_deadline_ms < 1 || o.rpc_max_inflight < 1)
    return "--rpc-deadline-ms and --rpc-max-inflight must be at least 1";
  if (o.rpc_min_inflight < 1 || o.rpc_min_inflight > o.rpc_max_inflight)
    return "--rpc-min-inflight must be between 1 and --rpc-max-inflight ("
           + std::to_string(o.rpc_max_inflight) + ")";
  if (!std::isfinite(o.rpc_give_up_secs) || o.rpc_give_up_secs < 0
      || o.rpc_give_up_secs > 31536000)
    return "--rpc-give-up-secs must be 0 (never) or a number of seconds up "
           "to 31536000 (a year)";
  if (o.max_inflight_words < 1)
    return "--max-inflight-words must be at least 1";
  if (o.offset_reset != "latest" && o.offset_reset != "earliest")
    return "--offset-reset must be latest or earliest, not '" + o.offset_reset
           + "'";
  if (o.on_offset_out_of_range != "earliest"
      && o.on_offset_out_of_range != "latest"
      && o.on_offset_out_of_range != "fail")
    return "--on-offset-out-of-range must be earliest, latest or fail, not '"
           + o.on_offset_out_of_range + "'";
  if (!std::isfinite(o.stats_secs) || o.stats_secs < 0)
    return "--stats-secs must be 0 or more";
  if (!positive(o.drain_timeout_secs))
    return "--drain-timeout-secs must be above 0";
  if (!std::isfinite(o.max_inflight_secs) || o.max_inflight_secs < 0
      || o.max_inflight_secs > 3600)
    return "--max-inflight-secs must be between 0 and 3600";
  if (!positive(o.revoke_timeout_secs) || o.revoke_timeout_secs > 600)
    return "--revoke-timeout-secs must be above 0 and at most 600";
  if (!(o.commit_interval_secs >= 0.01) || o.commit_interval_secs > 60)
    return "--commit-interval-secs must be between 0.01 and 60";
  if (!std::isfinite(o.cache_ttl_secs) || o.cache_ttl_secs < 0
      || o.cache_ttl_secs > 31536000)
    return "--cache-ttl-secs must be between 0 and 31536000";
  if (!std::isfinite(o.stuck_secs) || o.stuck_secs < 0)
    return "--stuck-secs must be 0 or more";
  return {};
}

/// Why the log level or the RPC TLS files cannot be used.
std::string check_log_and_tls(const node_options& o) {
  log::level lvl;
  if (!log::parse_level(o.log_level, lvl))
    return "--log-level must be debug, info, warn or error";
  if (o.tls_to_rpc.certificate.empty() != o.tls_to_rpc.key.empty()
      || (!o.tls_to_rpc.certificate.empty() && !o.tls_to_rpc.enabled()))
    return "--rpc-tls-certificate and --rpc-tls-key go together, with "
           "--rpc-tls-cafile";
  try {
    for (auto [file, option] :
         {std::pair{&o.tls_to_rpc.cafile, "--rpc-tls-cafile"},
          std::pair{&o.tls_to_rpc.certificate, "--rpc-tls-certificate"},
          std::pair{&o.tls_to_rpc.key, "--rpc-tls-key"}})
      if (!file->empty())
        read_pem(*file, option);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return {};
}

/// Why the role and the addresses do not go together; a batcher node
/// listens on 127.0.0.1:4250 unless told otherwise.
std::string check_role(node_options& o) {
  if (o.rpc_target.find(':') == std::string::npos)
    return "--rpc-target must be HOST:PORT, not '" + o.rpc_target + "'";
  if (o.role != "all" && o.role != "ingest" && o.role != "batcher")
    return "--role must be all, ingest or batcher, not '" + o.role + "'";
  if (o.role == "ingest" && o.batcher_nodes.empty() && o.listen.empty())
    return "--role=ingest needs --batcher-nodes=HOST:PORT,... or "
           "--listen=HOST:PORT for batcher nodes to join";
  if (!o.join.empty() && o.role != "batcher")
    return "--join is for --role=batcher";
  if (!o.batcher_nodes.empty() && o.role != "ingest")
    return "--batcher-nodes is for --role=ingest";
  if (o.role == "batcher" && o.listen.empty())
    o.listen = "127.0.0.1:4250";
  try {
    if (!o.listen.empty())
      split_host_port(o.listen);
    split_address_list(o.batcher_nodes);
    split_address_list(o.join);
  } catch (const cli_error& e) {
    return std::string{"--listen, --batcher-nodes, --join: "} + e.what();
  }
  return {};
}

} // namespace

std::string validate(node_options& o) {
  for (auto why : {check_values(o), check_log_and_tls(o), check_role(o)})
    if (!why.empty())
      return why;
  if (!o.replay_dlq.empty()) {
    if (o.role == "batcher")
      return "--replay-dlq is for --role=all or --role=ingest";
    if (o.bootstrap_servers.empty())
      return "--replay-dlq needs --bootstrap-servers";
    // What the topic holds now, from its start: new dead letters of the
    // replay go to its end.
    o.input_topic = o.replay_dlq;
    o.bounded = true;
    o.offset_reset = "earliest";
    if (o.group_id.empty())
      o.group_id = o.output_topic + "-replay-group";
  }
  if (o.group_id.empty())
    o.group_id = o.output_topic + "-group";
  if (o.dlq_topic.empty())
    o.dlq_topic = o.output_topic + "-dlq";
  return {};
}

caf::timespan seconds(double s) {
  return std::chrono::duration_cast<caf::timespan>(
    std::chrono::duration<double>(s));
}

pipeline_config to_pipeline(const node_options& o) {
  pipeline_config p;
  p.buckets = static_cast<uint32_t>(o.buckets);
  p.batcher.batch_size = o.batch_size;
  p.batcher.max_wait = seconds(o.max_wait_secs);
  p.batcher.max_batch_bytes = o.max_batch_bytes;
  // Each batcher owns its bucket's share of the cache.
  p.batcher.cache_entries = (o.cache_entries + o.buckets - 1) / o.buckets;
  p.batcher.cache_ttl = seconds(o.cache_ttl_secs);
  p.rpc.deadline = std::chrono::milliseconds(o.rpc_deadline_ms);
  p.rpc.max_inflight = o.rpc_max_inflight;
  p.rpc.min_inflight = o.rpc_min_inflight;
  p.rpc.give_up = seconds(o.rpc_give_up_secs);
  p.sink.input_topic = o.input_topic;
  p.sink.output_topic = o.output_topic;
  p.sink.dead_letter_topic = o.dlq_topic;
  p.sink.echo = o.print_outputs;
  p.source.max_inflight_words = static_cast<int64_t>(o.max_inflight_words);
  // The window never shrinks below what lets every bucket fill a batch a
  // few times over.
  p.source.min_inflight_words = std::min<int64_t>(
    p.source.max_inflight_words,
    std::max<int64_t>(1000, static_cast<int64_t>(4 * o.buckets
                                                 * o.batch_size)));
  p.source.max_inflight_time = seconds(o.max_inflight_secs);
  p.source.revoke_timeout = seconds(o.revoke_timeout_secs);
  p.source.commit_interval = seconds(o.commit_interval_secs);
  p.source.bounded = o.bounded;
  p.source.replay_dead_letters = !o.replay_dlq.empty();
  p.source.drain_timeout = seconds(o.drain_timeout_secs);
  p.source.stuck_after = seconds(o.stuck_secs);
  p.stats_interval = seconds(o.stats_secs);
  return p;
}


std::map<std::string, std::string> kafka_properties(const node_options& opts,
                                                    const std::string& client) {
  std::map<std::string, std::string> props{
    {"bootstrap.servers", opts.bootstrap_servers}};
  for (auto& [k, v] : opts.kafka) {
    if (k.compare(0, client.size(), client) == 0)
      props[k.substr(client.size())] = v;
    else if (k.compare(0, 9, "consumer.") != 0
             && k.compare(0, 9, "producer.") != 0)
      props[k] = v;
  }
  return props;
}

std::string configure(node_config& cfg) {
  auto& opts = cfg.opts;
  if (auto why = validate(opts); !why.empty())
    return why;
  log::level lvl;
  log::parse_level(opts.log_level, lvl);
  log::set_level(lvl);
  bool tls = !cfg.openssl_certificate.empty() && !cfg.openssl_key.empty()
             && (!cfg.openssl_cafile.empty() || !cfg.openssl_capath.empty());
  std::string warning;
  auto why = plain_port_refusal(opts, cfg.console, tls, warning);
  if (why.empty())
    why = console_refusal(cfg.console, tls);
  if (!why.empty())
    return why;
  if (!warning.empty())
    log::warn("node", warning);
  // Node links. (The console port has an actor system of its own.)
  if (opts.role != "all") {
    cfg.load<caf::io::middleman>();
    // Every CAF port and link uses TLS once a certificate or CA is given
    // (openssl.*).
    if (openssl_configured(cfg))
      cfg.load<caf::openssl::manager>();
  }
  return {};
}

} // namespace rpcbatch
