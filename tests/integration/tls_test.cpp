// CAF ports beyond loopback: refused without TLS unless asked for, and with
// TLS every port (node links and the console) needs a certificate of the CA,
// so that an unauthenticated peer never reaches CAF's protocol.
#include "tests/support/harness.hpp"

#include <unistd.h>

#include <fstream>

#include <doctest/doctest.h>

#include "services/config/addresses.hpp"

using namespace rpcbatch;
using namespace rpcbatch::test;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

std::vector<std::string> with(std::vector<std::string> a,
                              const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

/// Resident memory of `pid` in MB.
double rss_mb(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 6, "VmRSS:") == 0)
      return std::stod(line.substr(6)) / 1024;
  return -1;
}

/// rpcbatch-console with `args` against 127.0.0.1:`port`.
process_result console(int port, const std::vector<std::string>& args) {
  std::vector<std::string> argv{
    std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-console",
    "--connect=127.0.0.1:" + std::to_string(port)};
  return run_process(with(argv, args), "", 30s);
}

/// A connection to 127.0.0.1:`port` that sends `bytes` and stays open.
struct raw_peer {
  int fd = -1;

  raw_peer(int port, const std::string& bytes) {
    fd = connect_loopback(port);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, bytes.data(), bytes.size())
            == static_cast<ssize_t>(bytes.size()));
  }

  ~raw_peer() {
    close(fd);
  }
};

} // namespace

TEST_CASE("tls: loopback is told apart from every other address") {
  for (auto host : {"127.0.0.1", "127.1.2.3", "localhost", "::1",
                    "::ffff:127.0.0.1"})
    CHECK_MESSAGE(is_loopback(host), host);
  for (auto host : {"", "0.0.0.0", "::", "10.0.0.1", "128.0.0.1",
                    "node-1.example", "::ffff:10.0.0.1"})
    CHECK_FALSE_MESSAGE(is_loopback(host), host);
}

TEST_CASE("tls: a CAF port beyond loopback without TLS is refused at start, "
          "unless --allow-plain-links") {
  environment env;
  auto batcher = [&](std::vector<std::string> extra) {
    return with({node_binary(), "--role=batcher",
                 "--rpc-target=" + env.rpc_target()},
                extra);
  };
  for (auto extra : {std::vector<std::string>{"--listen=0.0.0.0:0"},
                     {"--listen=127.0.0.1:0", "--console-port=0",
                      "--console-host=0.0.0.0"}}) {
    auto r = run_process(batcher(extra), "", 30s);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(contains(r.err, "without TLS"));
    CHECK(contains(r.err, "--openssl.certificate"));
    CHECK(contains(r.err, "--allow-plain-links"));
  }
  // The whole pipeline with its console beyond loopback is refused too.
  auto all = run_process(
    env.node_command({"--console-port=0", "--console-host=0.0.0.0"}), "",
    30s);
  CHECK(all.exit_code == 2);
  // With TLS, controls need a token as well: any holder of a certificate
  // of the CA reaches the console port.
  test_certificates certs;
  auto controls = run_process(
    env.node_command(with(certs.options(), {"--console-port=0",
                                            "--console-control"})),
    "", 30s);
  CHECK(controls.exit_code == 2);
  CHECK(contains(controls.err, "--console-control-token"));
  // Asked for: it starts, and says loudly what it does.
  child_process plain{
    batcher({"--listen=0.0.0.0:0", "--allow-plain-links"})};
  listening_address(plain);
  CHECK(plain.wait_for_stderr("PLAIN CAF PORT BEYOND LOOPBACK", 30s));
  plain.signal(SIGTERM);
  CHECK(plain.wait(30s) == 0);
}

TEST_CASE("tls: with certificates the console port speaks TLS, the console "
          "needs a certificate of the CA, and a hostile header does "
          "nothing") {
  test_certificates certs;
  environment env;
  child_process node{env.node_command(
    with(certs.options(), {"--console-port=0", "--console-host=0.0.0.0",
                           "--offset-reset=earliest"}))};
  INFO("node stderr: ", tail(node.err()));
  REQUIRE(node.wait_for_stdout("rpcbatch-node console listening on", 60s));
  CHECK(contains(node.out(), "(TLS)"));
  auto [host, port] = split_host_port(
    listening_address(node, "rpcbatch-node console"));
  // Without a certificate, or with one of another CA: no answer.
  auto plain = console(port, {"nodes"});
  CHECK(plain.exit_code != 0);
  auto stranger = console(port, with(certs.options(true), {"nodes"}));
  CHECK(stranger.exit_code != 0);
  // With the CA's certificate it works.
  auto ok = console(port, with(certs.options(), {"--json", "nodes"}));
  INFO("console stderr: ", ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(contains(ok.out, "\"role\""));
  // A BASP header announcing a 4 GiB payload, on three connections: TLS
  // reads it as a broken handshake, nothing is allocated for it.
  auto before = rss_mb(node.pid());
  {
    std::string header(32, '\xff');
    raw_peer a{port, header}, b{port, header}, c{port, header};
    auto again = console(port, with(certs.options(), {"nodes"}));
    CHECK(again.exit_code == 0);
    auto after = rss_mb(node.pid());
    MESSAGE("RSS ", before, " MB before the headers, ", after, " MB after");
    CHECK(after - before <= 50);
  }
  CHECK_FALSE(node.wait(0ms).has_value()); // still alive
  node.signal(SIGTERM);
  CHECK(node.wait(60s) == 0);
}

TEST_CASE("tls: a hostile header on a node link port with TLS does nothing") {
  test_certificates certs;
  environment env;
  batcher_node batchers{env.rpc_target(), certs.options()};
  INFO("batcher stderr: ", tail(batchers.process.err()));
  auto [host, port] = split_host_port(batchers.address);
  auto before = rss_mb(batchers.process.pid());
  {
    std::string header(32, '\xff');
    raw_peer a{port, header}, b{port, header}, c{port, header};
    // A node with a certificate of the CA still attaches meanwhile.
    child_process ingest{env.node_command(with(
      certs.options(), {"--role=ingest", "--batcher-nodes=" + batchers.address}))};
    CHECK(batchers.process.wait_for_stderr("attached with 10 buckets", 60s));
    auto after = rss_mb(batchers.process.pid());
    MESSAGE("RSS ", before, " MB before the headers, ", after, " MB after");
    CHECK(after - before <= 50);
    ingest.kill_and_wait();
  }
  CHECK_FALSE(batchers.process.wait(0ms).has_value()); // still alive
}

TEST_CASE("tls: with --console-cafile the console port takes only the "
          "operators' CA, and controls need no token") {
  test_certificates certs;
  environment env;
  auto& d = certs.dir;
  // The operators' CA is the stranger's self-signed certificate; the
  // operator trusts the nodes' CA to know the node.
  std::vector<std::string> operator_options{
    "--openssl.certificate=" + d + "/other.pem",
    "--openssl.key=" + d + "/other.key", "--openssl.cafile=" + d + "/ca.pem"};
  auto without_tls = run_process(
    env.node_command({"--console-port=0", "--console-cafile=" + d
                                            + "/other.pem"}),
    "", 30s);
  CHECK(without_tls.exit_code == 2);
  CHECK(contains(without_tls.err, "--console-cafile needs TLS"));
  child_process node{env.node_command(with(
    certs.options(), {"--console-port=0", "--console-control",
                      "--console-cafile=" + d + "/other.pem"}))};
  INFO("node stderr: ", tail(node.err()));
  auto [host, port] = split_host_port(
    listening_address(node, "rpcbatch-node console"));
  // A node's certificate no longer opens the console port.
  auto node_cert = console(port, with(certs.options(), {"nodes"}));
  CHECK(node_cert.exit_code != 0);
  // The operator's does, controls included.
  auto ok = console(port, with(operator_options, {"--json", "nodes"}));
  INFO("console stderr: ", ok.err);
  CHECK(ok.exit_code == 0);
  CHECK(contains(ok.out, "\"role\""));
  auto pause = console(port, with(operator_options, {"pause"}));
  CHECK(pause.exit_code == 0);
  CHECK(contains(pause.out, "paused"));
  node.signal(SIGTERM);
  CHECK(node.wait(60s) == 0);
}

TEST_CASE("tls: the RpcService link with TLS carries the corpus, and a node "
          "without the CA gets no answer") {
  test_certificates certs;
  environment env;
  auto& d = certs.dir;
  child_process resolver{resolver_command(
    "127.0.0.1:0", {"--tls-certificate=" + d + "/node.pem",
                    "--tls-key=" + d + "/node.key"})};
  auto target = listening_address(resolver);
  auto corpus = make_corpus(41, 100);
  env.produce(corpus);
  // Plain text to a TLS server: the calls fail, the breaker opens.
  child_process plain{env.node_command({"--rpc-target=" + target,
                                        "--offset-reset=earliest"})};
  CHECK(plain.wait_for_stderr("circuit breaker open", 60s));
  plain.kill_and_wait();
  auto run = run_node(env.node_command(
    {"--rpc-target=" + target, "--rpc-tls-cafile=" + d + "/ca.pem",
     "--bounded", "--offset-reset=earliest", "--group-id=tls-group"}));
  REQUIRE(run.process.exit_code == 0);
  CHECK(summary_number(run.summary, "outputs") == count_words(corpus));
  CHECK(summary_number(run.summary, "dlq") == 0);
  // A CA file that does not exist: a clear error at start.
  auto bad = run_process(env.node_command({"--rpc-target=" + target,
                                           "--rpc-tls-cafile=/nonexistent"}),
                         "", 30s);
  CHECK(bad.exit_code == 2);
  CHECK(contains(bad.err, "--rpc-tls-cafile"));
}
