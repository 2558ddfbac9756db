// RPCBATCH_* environment variables (services/config/env_config.hpp): the mapping
// from variables to options, the precedence command line > environment >
// config file > default on the node's own configuration, the example config
// in deploy/, values from files (@PATH, RPCBATCH_NAME_FILE) and secrets kept
// out of what is printed, and node processes configured by their
// environment and given secrets in files.
#include "services/config/env_config.hpp"

#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <tuple>

#include <doctest/doctest.h>
#include <httplib.h>

#include "services/programs/node_options.hpp"
#include "services/config/addresses.hpp"
#include "services/config/secrets.hpp"
#include "tests/support/harness.hpp"

using namespace std::chrono_literals;
using namespace rpcbatch;

namespace {

const std::vector<std::string> node_names = {"batch-size", "bounded",
                                             "config-file", "rpc-target"};

/// A config file in the temporary directory, removed at scope exit.
struct temp_config {
  std::string path;

  explicit temp_config(const std::string& text) {
    char name[] = "/tmp/rpcbatch-env-XXXXXX";
    auto fd = mkstemp(name);
    REQUIRE(fd >= 0);
    close(fd);
    path = name;
    std::ofstream{path} << text;
  }

  ~temp_config() {
    std::remove(path.c_str());
  }
};

/// The node's options after parsing `args` with `environment`, the way
/// rpcbatch-node does; `kafka` starts with the properties of the command
/// line.
struct parsed_node {
  node_config cfg;
  std::string error;

  parsed_node(std::vector<std::string> args,
              const std::vector<std::string>& environment,
              std::map<std::string, std::string> kafka = {}) {
    cfg.opts.kafka = std::move(kafka);
    if (auto err = parse_with_env(cfg, std::move(args), environment))
      error = cfg.render(err);
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_SUITE("env_config") {

TEST_CASE("env_config: an option's variable is RPCBATCH_ and its name in "
          "upper case with '-' and '.' as '_'") {
  CHECK(env_name("batch-size") == "RPCBATCH_BATCH_SIZE");
  CHECK(env_name("bounded") == "RPCBATCH_BOUNDED");
  CHECK(env_name("middleman.heartbeat-interval")
        == "RPCBATCH_MIDDLEMAN_HEARTBEAT_INTERVAL");
}

TEST_CASE("env_config: variables become option values, the config file "
          "argument and librdkafka properties") {
  auto env = read_env({"PATH=/bin", "RPCBATCH_BATCH_SIZE=7",
                       "RPCBATCH_BOUNDED=true", "XRPCBATCH_BOUNDED=1",
                       "RPCBATCH_CONFIG_FILE=/etc/rpcbatch/rpcbatch.conf",
                       "RPCBATCH_KAFKA_SECURITY_PROTOCOL=SSL",
                       "RPCBATCH_KAFKA_CONSUMER_FETCH_MAX_BYTES=1048576"},
                      node_names, {});
  REQUIRE(env.values.size() == 2);
  CHECK(env.values[0].variable == "RPCBATCH_BATCH_SIZE");
  CHECK(env.values[0].option == "batch-size");
  CHECK(env.values[0].value == "7");
  CHECK(env.values[1].option == "bounded");
  CHECK(env.values[1].value == "true");
  CHECK(env.arguments
        == std::vector<std::string>{
          "--config-file=/etc/rpcbatch/rpcbatch.conf"});
  CHECK(env.kafka
        == std::map<std::string, std::string>{
          {"security.protocol", "SSL"},
          {"consumer.fetch.max.bytes", "1048576"}});
}

TEST_CASE("env_config: options on the command line leave their variables "
          "out") {
  auto env = read_env({"RPCBATCH_BATCH_SIZE=7", "RPCBATCH_BOUNDED=true",
                       "RPCBATCH_CONFIG_FILE=a.conf",
                       "RPCBATCH_RPC_TARGET=h:1"},
                      node_names,
                      {"--batch-size=3", "--bounded", "--config-file=b.conf",
                       "--rpc-target-extra=1"});
  REQUIRE(env.values.size() == 1);
  CHECK(env.values[0].option == "rpc-target");
  CHECK(env.arguments.empty());
}

TEST_CASE("env_config: an RPCBATCH_ variable that names no option is an "
          "error naming every such variable") {
  try {
    read_env({"RPCBATCH_BATCHSIZE=7", "RPCBATCH_BATCH_SIZE=7",
              "RPCBATCH_NOPE=1"},
             node_names, {});
    FAIL("no error");
  } catch (const cli_error& e) {
    std::string what = e.what();
    CHECK_MESSAGE(contains(what, "RPCBATCH_BATCHSIZE, RPCBATCH_NOPE"), what);
    CHECK_FALSE(contains(what, "RPCBATCH_BATCH_SIZE"));
  }
  // Help and dump-config are for people at a terminal, not variables.
  node_config cfg;
  auto names = env_option_names(cfg.options());
  CHECK(std::count(names.begin(), names.end(), "batch-size") == 1);
  CHECK(std::count(names.begin(), names.end(), "config-file") == 1);
  CHECK(std::count(names.begin(), names.end(), "help") == 0);
  CHECK(std::count(names.begin(), names.end(), "dump-config") == 0);
}

TEST_CASE("env_config: the node's precedence is command line > environment "
          "> config file > default") {
  temp_config file{"batch-size=3\nmax-wait-secs=2\nbounded=true\n"
                   "rpc-target=\"file:1\"\n"};
  std::vector<std::string> env = {"RPCBATCH_CONFIG_FILE=" + file.path,
                                  "RPCBATCH_BATCH_SIZE=7",
                                  "RPCBATCH_RPC_TARGET=env:1",
                                  "RPCBATCH_BOUNDED=false"};
  parsed_node all{{"--batch-size=9"}, env};
  REQUIRE(all.error.empty());
  CHECK(all.cfg.opts.batch_size == 9);              // command line
  CHECK(all.cfg.opts.rpc_target == "env:1");        // environment
  CHECK_FALSE(all.cfg.opts.bounded);                // environment over file
  CHECK(all.cfg.opts.max_wait_secs == doctest::Approx(2)); // file
  CHECK(all.cfg.opts.buckets == 10);                // default
  parsed_node no_cli{{}, env};
  REQUIRE(no_cli.error.empty());
  CHECK(no_cli.cfg.opts.batch_size == 7);
  parsed_node file_only{{"--config-file=" + file.path}, {}};
  REQUIRE(file_only.error.empty());
  CHECK(file_only.cfg.opts.batch_size == 3);
  CHECK(file_only.cfg.opts.bounded);
  CHECK(file_only.cfg.opts.rpc_target == "file:1");
  parsed_node defaults{{}, {}};
  REQUIRE(defaults.error.empty());
  CHECK(defaults.cfg.opts.batch_size == 10);
}

TEST_CASE("env_config: librdkafka properties from variables join those of "
          "the command line, which win") {
  parsed_node n{{},
                {"RPCBATCH_KAFKA_SECURITY_PROTOCOL=SSL",
                 "RPCBATCH_KAFKA_CLIENT_ID=env"},
                {{"security.protocol", "PLAINTEXT"}}};
  REQUIRE(n.error.empty());
  CHECK(n.cfg.opts.kafka
        == std::map<std::string, std::string>{
          {"security.protocol", "PLAINTEXT"}, {"client.id", "env"}});
}

TEST_CASE("env_config: a config file value of the wrong type or an unknown "
          "name is an error, not silently dropped") {
  for (auto& [text, named] : std::vector<std::pair<std::string, std::string>>{
         {"batch-size=\"10\"\n", "batch-size=\"10\""},
         {"batch-size=1.5\n", "batch-size=1.5"},
         {"bounded=1\n", "bounded=1"},
         {"batchsize=10\n", "'batchsize'"}}) {
    temp_config file{text};
    try {
      parsed_node n{{"--config-file=" + file.path}, {}};
      FAIL("no error for ", text);
    } catch (const cli_error& e) {
      std::string what = e.what();
      CHECK_MESSAGE(contains(what, named), what);
      CHECK_MESSAGE(contains(what, file.path), what);
    }
  }
  // A whole number is fine for seconds; CAF's own sections are no options.
  temp_config file{"max-wait-secs=2\n[scheduler]\nmax-threads=2\n"};
  parsed_node n{{"--config-file=" + file.path}, {}};
  REQUIRE(n.error.empty());
  CHECK(n.cfg.opts.max_wait_secs == doctest::Approx(2));
  // The command line still wins over a converted value.
  parsed_node cli{{"--config-file=" + file.path, "--max-wait-secs=0.5"}, {}};
  CHECK(cli.cfg.opts.max_wait_secs == doctest::Approx(0.5));
}

TEST_CASE("env_config: options of other categories are variables too") {
  node_config cfg;
  auto names = env_option_names(cfg.options());
  CHECK(std::count(names.begin(), names.end(), "openssl.cafile") == 1);
  parsed_node n{{"--openssl.key=cli.key"},
                {"RPCBATCH_OPENSSL_CAFILE=/etc/rpcbatch/ca.pem",
                 "RPCBATCH_OPENSSL_KEY=env.key"}};
  REQUIRE(n.error.empty());
  CHECK(n.cfg.openssl_cafile == "/etc/rpcbatch/ca.pem");
  CHECK(caf::get_or(n.cfg.content, "openssl.cafile", std::string{})
        == "/etc/rpcbatch/ca.pem");
  CHECK(n.cfg.openssl_key == "cli.key");
}

TEST_CASE("env_config: a bad value names its variable") {
  try {
    parsed_node n{{}, {"RPCBATCH_BATCH_SIZE=ten"}};
    FAIL("no error");
  } catch (const cli_error& e) {
    std::string what = e.what();
    CHECK_MESSAGE(contains(what, "RPCBATCH_BATCH_SIZE='ten'"), what);
    CHECK_MESSAGE(contains(what, "--batch-size"), what);
  }
  CHECK_THROWS_AS(parsed_node({}, {"RPCBATCH_BOUNDED=yes"}), cli_error);
}

TEST_CASE("env_config: a value '@PATH' is the content of PATH without its "
          "trailing line end, '@@' stands for '@'") {
  temp_config secret{" pass \"word\" \n"};
  temp_config size{"7\r\n"};
  temp_config target{"h:1\n"};
  parsed_node n{{"--openssl.passphrase=@" + secret.path,
                 "--batch-size=@" + size.path, "--group-id=@@g"},
                {"RPCBATCH_RPC_TARGET=@" + target.path},
                {{"sasl.password", "@" + secret.path}, {"client.id", "@@c"}}};
  REQUIRE_MESSAGE(n.error.empty(), n.error);
  // A string option takes the text as it is: no unquoting, no trimming.
  CHECK(n.cfg.openssl_passphrase == " pass \"word\" ");
  CHECK(n.cfg.opts.batch_size == 7);
  CHECK(n.cfg.opts.group_id == "@g");
  CHECK(n.cfg.opts.rpc_target == "h:1");
  CHECK(n.cfg.opts.kafka["sasl.password"] == " pass \"word\" ");
  CHECK(n.cfg.opts.kafka["client.id"] == "@c");
  CHECK(value_or_file("plain", "x") == "plain");
  CHECK(value_or_file("", "x").empty());
}

TEST_CASE("env_config: RPCBATCH_NAME_FILE holds the path of the value of "
          "RPCBATCH_NAME") {
  temp_config secret{"s3cret\n"};
  temp_config size{"5"};
  auto env = read_env({"RPCBATCH_KAFKA_SASL_PASSWORD_FILE=" + secret.path,
                       "RPCBATCH_BATCH_SIZE_FILE=" + size.path,
                       "RPCBATCH_CONFIG_FILE=/etc/rpcbatch/rpcbatch.conf"},
                      node_names, {});
  CHECK(env.kafka
        == std::map<std::string, std::string>{{"sasl.password", "s3cret"}});
  REQUIRE(env.values.size() == 1);
  CHECK(env.values[0].variable == "RPCBATCH_BATCH_SIZE_FILE");
  CHECK(env.values[0].option == "batch-size");
  CHECK(env.values[0].value == "5");
  // RPCBATCH_CONFIG_FILE is the option --config-file itself.
  CHECK(env.arguments
        == std::vector<std::string>{
          "--config-file=/etc/rpcbatch/rpcbatch.conf"});
  parsed_node n{{}, {"RPCBATCH_OPENSSL_PASSPHRASE_FILE=" + secret.path}};
  REQUIRE_MESSAGE(n.error.empty(), n.error);
  CHECK(n.cfg.openssl_passphrase == "s3cret");
  // The command line wins; the variable's file is not even read.
  auto cli = read_env({"RPCBATCH_BATCH_SIZE_FILE=/nonexistent/size"},
                      node_names, {"--batch-size=3"});
  CHECK(cli.values.empty());
  try {
    read_env({"RPCBATCH_BATCH_SIZE=4",
              "RPCBATCH_BATCH_SIZE_FILE=" + size.path},
             node_names, {});
    FAIL("no error");
  } catch (const cli_error& e) {
    std::string what = e.what();
    CHECK_MESSAGE(contains(what, "RPCBATCH_BATCH_SIZE and "
                                 "RPCBATCH_BATCH_SIZE_FILE"),
                  what);
  }
}

TEST_CASE("env_config: a value file that cannot be read is an error naming "
          "the option or variable and the path") {
  const std::string missing = "/nonexistent/rpcbatch-secret";
  auto error_of = [](const std::function<void()>& parse) {
    try {
      parse();
    } catch (const cli_error& e) {
      return std::string{e.what()};
    }
    return std::string{"no error"};
  };
  for (auto& [what, named] : std::vector<
         std::pair<std::function<void()>, std::string>>{
         {[&] { parsed_node({"--openssl.passphrase=@" + missing}, {}); },
          "--openssl.passphrase"},
         {[&] { parsed_node({}, {}, {{"sasl.password", "@" + missing}}); },
          "--kafka.sasl.password"},
         {[&] {
            read_env({"RPCBATCH_KAFKA_SASL_PASSWORD_FILE=" + missing},
                     node_names, {});
          },
          "RPCBATCH_KAFKA_SASL_PASSWORD_FILE"},
         {[&] {
            read_env({"RPCBATCH_RPC_TARGET=@" + missing}, node_names, {});
          },
          "RPCBATCH_RPC_TARGET"}}) {
    auto error = error_of(what);
    CHECK_MESSAGE(contains(error, "cannot read " + named + " from '" + missing
                                    + "': No such file or directory"),
                  error);
  }
}

TEST_CASE("env_config: secrets are known by their names and masked where "
          "options are printed") {
  for (auto name : {"sasl.password", "ssl.key.password",
                    "ssl.keystore.password", "sasl.oauthbearer.client.secret",
                    "consumer.sasl.password", "ssl.key.pem", "sasl.username",
                    "sasl.oauthbearer.config", "openssl.passphrase"})
    CHECK_MESSAGE(is_secret(name), name);
  for (auto name : {"batch-size", "bootstrap-servers", "security.protocol",
                    "group-id", "openssl.cafile", "client.id"})
    CHECK_FALSE_MESSAGE(is_secret(name), name);
  CHECK(printable("sasl.password", "pw") == "(secret)");
  CHECK(printable("sasl.password", "").empty());
  CHECK(printable("client.id", "c") == "c");
  // --dump-config prints dump_content().
  parsed_node n{{"--openssl.passphrase=s3cret", "--openssl.cafile=ca.pem"},
                {}};
  REQUIRE(n.error.empty());
  auto dump = n.cfg.dump_content();
  CHECK(caf::get_or(dump, "openssl.passphrase", std::string{}) == "(secret)");
  CHECK(caf::get_or(dump, "openssl.cafile", std::string{}) == "ca.pem");
}

TEST_CASE("env_config: --rpc-min-inflight is between 1 and "
          "--rpc-max-inflight") {
  for (auto row : {std::tuple{1, 16, true}, {16, 16, true}, {0, 16, false},
                   {17, 16, false}, {4, 2, false}}) {
    auto min = std::get<0>(row);
    auto max = std::get<1>(row);
    auto ok = std::get<2>(row);
    CAPTURE(min);
    CAPTURE(max);
    parsed_node n{{"--rpc-min-inflight=" + std::to_string(min),
                   "--rpc-max-inflight=" + std::to_string(max)},
                  {}};
    REQUIRE_MESSAGE(n.error.empty(), n.error);
    auto why = validate(n.cfg.opts);
    CHECK(why.empty() == ok);
    if (!ok)
      CHECK(contains(why, "--rpc-min-inflight must be between 1 and "
                          "--rpc-max-inflight ("
                            + std::to_string(max) + ")"));
  }
}

TEST_CASE("env_config: the node accepts deploy/rpcbatch.conf, whose values "
          "are the defaults but for the container addresses") {
  parsed_node n{{"--config-file=" RPCBATCH_SOURCE_DIR "/deploy/rpcbatch.conf"},
                {}};
  REQUIRE_MESSAGE(n.error.empty(), n.error);
  auto& o = n.cfg.opts;
  CHECK(validate(o).empty());
  CHECK(o.bootstrap_servers == "kafka:19092");
  CHECK(o.rpc_target == "resolver:50051");
  node_options d;
  CHECK(o.input_topic == d.input_topic);
  CHECK(o.output_topic == d.output_topic);
  CHECK(o.offset_reset == d.offset_reset);
  CHECK(o.on_offset_out_of_range == d.on_offset_out_of_range);
  CHECK(o.batch_size == d.batch_size);
  CHECK(o.max_wait_secs == doctest::Approx(d.max_wait_secs));
  CHECK(o.max_batch_bytes == d.max_batch_bytes);
  CHECK(o.buckets == d.buckets);
  CHECK(o.rpc_deadline_ms == d.rpc_deadline_ms);
  CHECK(o.rpc_max_inflight == d.rpc_max_inflight);
  CHECK(o.rpc_min_inflight == d.rpc_min_inflight);
  CHECK(o.rpc_give_up_secs == doctest::Approx(d.rpc_give_up_secs));
  CHECK(o.max_inflight_words == d.max_inflight_words);
  CHECK(o.drain_timeout_secs == doctest::Approx(d.drain_timeout_secs));
  CHECK(o.stuck_secs == doctest::Approx(d.stuck_secs));
  CHECK(o.stats_secs == doctest::Approx(d.stats_secs));
  CHECK(o.log_level == d.log_level);
}

} // TEST_SUITE

TEST_SUITE("node env") {

using namespace rpcbatch::test;

/// The node binary with an environment of exactly `variables` (env -i) and
/// no arguments.
std::vector<std::string> env_only(std::vector<std::string> variables) {
  std::vector<std::string> cmd = {"/usr/bin/env", "-i"};
  cmd.insert(cmd.end(), variables.begin(), variables.end());
  cmd.push_back(node_binary());
  return cmd;
}

TEST_CASE("node env: a node configured only by RPCBATCH_ variables runs a "
          "bounded pass exactly") {
  environment env;
  auto corpus = make_corpus(6006, 300);
  env.produce(corpus);
  auto run = rpcbatch::test::run_node(env_only(
    {"RPCBATCH_BOOTSTRAP_SERVERS=" + env.bootstrap(),
     "RPCBATCH_RPC_TARGET=" + env.rpc_target(), "RPCBATCH_BOUNDED=true",
     "RPCBATCH_OFFSET_RESET=earliest", "RPCBATCH_BATCH_SIZE=4",
     "RPCBATCH_KAFKA_CLIENT_ID=rpcbatch-env-test"}));
  INFO("exit code: ", run.process.exit_code, "\nstderr: ",
       tail(run.process.err));
  REQUIRE(run.process.exit_code == 0);
  REQUIRE(run.has_summary);
  auto diff = compare(expected_outputs(corpus),
                      key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.empty(), diff.describe());
  CHECK(env.committed() == env.ends());
  CHECK(summary_number(run.summary, "words") == count_words(corpus));
  // RPCBATCH_BATCH_SIZE=4 took effect: no batch above 4 unique words.
  auto rpc = env.resolver().counts();
  CHECK(rpc.max_batch >= 1);
  CHECK(rpc.max_batch <= 4);
}

TEST_CASE("node env: unknown variables and bad values exit 2 naming the "
          "variable, and librdkafka properties reach librdkafka") {
  environment env;
  struct bad {
    std::string variable;
    std::string named;
  };
  for (auto& b : std::vector<bad>{
         {"RPCBATCH_BATCHSIZE=4", "RPCBATCH_BATCHSIZE"},
         {"RPCBATCH_BATCH_SIZE=four", "RPCBATCH_BATCH_SIZE"},
         {"RPCBATCH_OFFSET_RESET=middle", "offset-reset"},
         {"RPCBATCH_KAFKA_NO_SUCH_PROPERTY=1", "no.such.property"}}) {
    auto r = run_process(env_only({"RPCBATCH_BOOTSTRAP_SERVERS="
                                     + env.bootstrap(),
                                   b.variable}),
                         "", 30s);
    INFO(b.variable, " -> exit ", r.exit_code, ", stderr: ", r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, b.named));
  }
}

TEST_CASE("node env: secrets given in files appear nowhere in the node's "
          "output, console or /metrics; a missing file exits 2") {
  environment env;
  const std::string kafka_secret = "kafka-secret-2c9f41";
  const std::string kafka_user = "kafka-user-5a3b07";
  const std::string tls_secret = "tls-secret-7d1e88";
  temp_config password{kafka_secret + "\n"};
  temp_config user{kafka_user + "\n"};
  temp_config passphrase{tls_secret + "\n"};
  auto command = env.node_command(
    {"--kafka.sasl.password=@" + password.path, "--http-port=0",
     "--console-port=0", "--log-level=debug", "--kafka.debug=conf"});
  command.insert(command.begin(),
                 {"/usr/bin/env",
                  "RPCBATCH_KAFKA_SASL_USERNAME_FILE=" + user.path,
                  "RPCBATCH_OPENSSL_PASSPHRASE_FILE=" + passphrase.path});
  child_process node{command};
  auto http = listening_address(node, "rpcbatch-node http");
  auto console = listening_address(node, "rpcbatch-node console");
  INFO("node stderr: ", tail(node.err()));
  auto [host, port] = split_host_port(http);
  std::string metrics;
  REQUIRE(wait_until(
    [&, port = port] {
      httplib::Client client{"127.0.0.1", port};
      auto r = client.Get("/metrics");
      metrics = r && r->status == 200 ? r->body : "";
      return !metrics.empty();
    },
    30s, 100ms));
  auto nodes = run_process({std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-console",
                            "--connect=" + console, "--json", "nodes"},
                           "", 30s);
  CHECK(nodes.exit_code == 0);
  CHECK(contains(nodes.out, "\"bootstrap-servers\""));
  auto dump = run_process({node_binary(), "--dump-config",
                           "--openssl.passphrase=" + tls_secret},
                          "", 30s);
  CHECK(dump.exit_code == 0);
  CHECK(contains(dump.out, "passphrase = \"(secret)\""));
  node.signal(SIGTERM);
  REQUIRE(node.wait(60s) == 0);
  node.wait_output_closed(10s);
  // librdkafka got them, and printed them redacted (--kafka.debug=conf).
  CHECK(contains(node.out() + node.err(), "sasl.username = [redacted]"));
  CHECK(contains(node.out() + node.err(), "sasl.password = [redacted]"));
  for (auto& secret : {kafka_secret, kafka_user, tls_secret}) {
    CHECK_FALSE(contains(node.out() + node.err(), secret));
    CHECK_FALSE(contains(metrics, secret));
    CHECK_FALSE(contains(nodes.out + nodes.err, secret));
    CHECK_FALSE(contains(dump.out + dump.err, secret));
  }
  // The files are read: one that is missing stops the node at once.
  for (auto& [args, named] : std::vector<
         std::pair<std::vector<std::string>, std::string>>{
         {{"--kafka.sasl.password=@/nonexistent/pw"}, "--kafka.sasl.password"},
         {{"RPCBATCH_KAFKA_SASL_PASSWORD_FILE=/nonexistent/pw"},
          "RPCBATCH_KAFKA_SASL_PASSWORD_FILE"}}) {
    auto argv = args[0].compare(0, 2, "--") == 0
                  ? std::vector<std::string>{node_binary(), args[0]}
                  : env_only(args);
    auto r = run_process(argv, "", 30s);
    CHECK(r.exit_code == 2);
    CHECK_MESSAGE(contains(r.err, "cannot read " + named
                                    + " from '/nonexistent/pw'"),
                  r.err);
  }
}

} // TEST_SUITE
