// rpcbatch-console and the HTTP endpoints against a running rpcbatch-node
// (processes, embedded broker, real resolver): one-shot commands, `watch`
// in a pseudo-terminal, operator controls, an unreachable node, /metrics
// against the node's own summary, and the cluster view of an ingest node.
#include "tests/support/harness.hpp"

#include <csignal>
#include <regex>
#include <set>
#include <sstream>

#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <doctest/doctest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <pty.h>
#include <sys/socket.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/io/basp/header.hpp>

#include "messages/type_ids.hpp"
#include "actors/observe/console_view.hpp"

using namespace std::chrono_literals;
using namespace rpcbatch::test;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// The port of "<what> listening on HOST:PORT" on the child's stdout.
int listening_port(child_process& child, const std::string& what) {
  auto marker = what + " listening on ";
  REQUIRE_MESSAGE(child.wait_for_stdout(marker, 60s), tail(child.err()));
  auto out = child.out();
  auto from = out.find(marker) + marker.size();
  auto line = out.substr(from, out.find('\n', from) - from);
  return std::stoi(line.substr(line.rfind(':') + 1));
}

/// A node (streaming, reading from the start) with the console and HTTP
/// endpoints on free ports.
struct observed_node {
  child_process process;
  int console_port = 0;
  int http_port = 0;

  observed_node(const environment& env, std::vector<std::string> extra = {})
    : process(env.node_command([&] {
        std::vector<std::string> args{"--offset-reset=earliest",
                                      "--console-port=0", "--http-port=0",
                                      "--max-wait-secs=0.5"};
        args.insert(args.end(), extra.begin(), extra.end());
        return args;
      }())) {
    console_port = listening_port(process, "console");
    http_port = listening_port(process, "http");
  }

  process_result console(std::vector<std::string> args) const {
    std::vector<std::string> argv{
      std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-console",
      "--connect=127.0.0.1:" + std::to_string(console_port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_process(argv, "", 30s);
  }

  /// The answer of a --json command, parsed.
  boost::json::value json(std::vector<std::string> args) const {
    args.insert(args.begin(), "--json");
    auto r = console(args);
    INFO("console stderr: ", r.err);
    REQUIRE(r.exit_code == 0);
    return boost::json::parse(r.out);
  }

  /// SIGTERM: the node drains and exits 0.
  void stop() {
    process.signal(SIGTERM);
    CHECK(process.wait(60s) == 0);
  }

  httplib::Result get(const std::string& path) const {
    httplib::Client client{"127.0.0.1", http_port};
    client.set_read_timeout(15s);
    return client.Get(path.c_str());
  }
};

/// A peer that speaks CAF's BASP by hand on a plain console port, as a
/// hostile one would: it addresses messages to actor ids of its choosing,
/// which CAF's middleman looks up in the registry of its actor system.
class basp_peer {
public:
  using header = caf::io::basp::header;
  using message_type = caf::io::basp::message_type;

  basp_peer(caf::actor_system& sys, int port) : sys_(sys) {
    fd_ = connect_loopback(port);
    REQUIRE(fd_ >= 0);
    // The node's handshake names the actor published on the port.
    auto [hdr, payload] = read_frame();
    REQUIRE(hdr.operation == message_type::server_handshake);
    caf::binary_deserializer src{sys_, payload};
    caf::node_id node;
    std::vector<std::string> app_ids;
    std::set<std::string> iface;
    REQUIRE_FALSE(src(node, app_ids, published, iface));
    // Ours, with a node id of our own.
    auto self = caf::make_node_id(4242, std::string(40, 'a'));
    REQUIRE(self);
    std::vector<char> buf;
    caf::binary_serializer sink{sys_, buf};
    REQUIRE_FALSE(sink(*self));
    write_frame(header{message_type::client_handshake, 0, 0, 0,
                       caf::invalid_actor_id, caf::invalid_actor_id},
                buf);
  }

  ~basp_peer() {
    close(fd_);
  }

  /// Sends `msg` to the actor `dest` of the node, from no actor, or as a
  /// request (id `request`) from our actor 1.
  void send(caf::actor_id dest, caf::message msg, uint64_t request = 0) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys_, buf};
    std::vector<caf::strong_actor_ptr> stages;
    REQUIRE_FALSE(sink(stages, msg));
    auto mid = request == 0 ? caf::make_message_id()
                            : caf::make_message_id(request);
    write_frame(header{message_type::direct_message, 0, 0,
                       mid.integer_value(), request == 0 ? 0u : 1u, dest},
                buf);
  }

  /// Reads until the node answers our actor 1 (heartbeats skipped).
  void await_answer() {
    for (;;) {
      auto [hdr, payload] = read_frame();
      if (hdr.operation == message_type::direct_message
          && hdr.dest_actor == 1)
        return;
    }
  }

  /// The id of the actor published on the port.
  caf::actor_id published = caf::invalid_actor_id;

private:
  void write_frame(header hdr, const std::vector<char>& payload) {
    hdr.payload_len = static_cast<uint32_t>(payload.size());
    std::vector<char> buf;
    caf::binary_serializer sink{sys_, buf};
    REQUIRE_FALSE(sink(hdr));
    buf.insert(buf.end(), payload.begin(), payload.end());
    REQUIRE(write(fd_, buf.data(), buf.size())
            == static_cast<ssize_t>(buf.size()));
  }

  void read_exactly(std::vector<char>& buf, std::size_t n) {
    buf.resize(n);
    std::size_t got = 0;
    while (got < n) {
      auto r = read(fd_, buf.data() + got, n - got);
      REQUIRE(r > 0);
      got += static_cast<std::size_t>(r);
    }
  }

  std::pair<header, std::vector<char>> read_frame() {
    std::vector<char> buf;
    read_exactly(buf, caf::io::basp::header_size);
    header hdr;
    caf::binary_deserializer src{sys_, buf};
    REQUIRE_FALSE(src(hdr));
    std::vector<char> payload;
    read_exactly(payload, hdr.payload_len);
    return {hdr, std::move(payload)};
  }

  caf::actor_system& sys_;
  int fd_ = -1;
};

/// Every sample of a Prometheus text by "name{labels}"; fails the test on
/// a line that is neither a comment nor a sample.
std::map<std::string, double> parse_prometheus(const std::string& text) {
  static const std::regex sample{
    R"(^([a-zA-Z_:][a-zA-Z0-9_:]*)"
    R"((\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")"
    R"((,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})?))"
    R"( ([-+0-9.eE]+|[-+]Inf|NaN)$)"};
  std::map<std::string, double> out;
  std::istringstream in{text};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0)
      continue;
    std::smatch m;
    CHECK_MESSAGE(std::regex_match(line, m, sample), "not a sample: ", line);
    if (!m.empty())
      out[m[1].str()] = std::stod(m[m.size() - 1].str());
  }
  return out;
}

/// A loopback port that was free a moment ago: nothing listens there.
int unused_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  REQUIRE(bind(fd, sa, len) == 0);
  REQUIRE(getsockname(fd, sa, &len) == 0);
  close(fd);
  return ntohs(addr.sin_port);
}

/// A batcher node (see the harness) with its console on a free port.
struct inspected_batcher_node {
  batcher_node node;
  int console_port;

  explicit inspected_batcher_node(const environment& env)
    : node(env.rpc_target(), {"--console-port=0"}),
      console_port(listening_port(node.process, "console")) {
    // nop
  }
};

bool has_event(const boost::json::value& events, const std::string& kind,
               const std::string& detail_part) {
  for (auto& e : events.as_array())
    if (e.at("kind").as_string() == kind
        && contains(std::string{e.at("detail").as_string()}, detail_part))
      return true;
  return false;
}

std::set<std::string> pipeline_names() {
  std::set<std::string> names{"source", "tokenizer", "router", "rpc-caller",
                              "sink"};
  for (int k = 0; k < 10; ++k)
    names.insert("batcher-" + std::to_string(k));
  return names;
}

bool has_timer_flush(const boost::json::value& events) {
  return has_event(events, "flush", "trigger timer");
}

} // namespace

TEST_SUITE("console") {

/// A node summary of the local node, as watch's header needs it.
rpcbatch::node_summaries local_node() {
  rpcbatch::node_summary n;
  n.node = "local";
  n.role = "all";
  n.uptime_s = 3;
  return {n};
}

rpcbatch::actor_summary rpc_caller_named(std::string name,
                                         rpcbatch::rpc_caller_status st) {
  rpcbatch::actor_summary a;
  a.name = std::move(name);
  a.role = "rpc-caller";
  a.answering = true;
  a.status.of = std::move(st);
  return a;
}

TEST_CASE("console: watch shows an open circuit breaker and the words "
          "waiting behind it") {
  rpcbatch::rpc_caller_status open;
  open.inflight = 1;
  open.inflight_limit = 1;
  open.breaker = "open";
  open.words_waiting = 2000;
  rpcbatch::rpc_caller_status closed;
  closed.inflight = 3;
  closed.inflight_limit = 16;
  closed.breaker = "closed";
  auto frame = rpcbatch::watch_frame(
    "127.0.0.1:4242", local_node(),
    {rpc_caller_named("rpc-caller", open),
     rpc_caller_named("10.0.0.2:4250/ingest-1/rpc-caller", closed)},
    0, 0);
  CHECK(contains(frame, "1/1 calls, breaker open, 2000 words wait"));
  CHECK(contains(frame, "3/16 calls"));
  CHECK_FALSE(contains(frame, "breaker closed"));
}

TEST_CASE("console: watch shows the calls in flight of the adaptive limit") {
  rpcbatch::rpc_caller_status st;
  st.inflight = 3;
  st.inflight_limit = 4;
  st.breaker = "closed";
  auto frame = rpcbatch::watch_frame("127.0.0.1:4242", local_node(),
                                     {rpc_caller_named("rpc-caller", st)}, 0,
                                     0);
  CHECK(contains(frame, "3/4 calls"));
}

TEST_CASE("console: actors, status, events and refused controls on a "
          "running node") {
  environment env;
  env.produce(make_corpus(7, 200));
  observed_node node{env};
  INFO("node stderr: ", tail(node.process.err()));
  // actors: every actor of the pipeline, as a table and as JSON.
  auto table = node.console({"actors"});
  REQUIRE(table.exit_code == 0);
  for (auto& name : pipeline_names())
    CHECK_MESSAGE(contains(table.out, name + " "), name);
  std::set<std::string> names;
  auto actors = node.json({"actors"});
  for (auto& a : actors.as_array())
    names.insert(std::string{a.at("name").as_string()});
  CHECK(names == pipeline_names());
  // status: pretty JSON of one batcher.
  auto status = node.console({"status", "batcher-3"});
  REQUIRE(status.exit_code == 0);
  CHECK(contains(status.out, "\n  \"bag_size\": "));
  auto st = boost::json::parse(status.out).as_object();
  CHECK(st.at("bucket").to_number<int>() == 3);
  CHECK(st.at("bag_size") == st.at("counter"));
  auto unknown = node.console({"status", "batcher-99"});
  CHECK(unknown.exit_code == 1);
  CHECK(contains(unknown.err, "no actor named 'batcher-99'"));
  // events: buckets that stay below batch_size flush by timer.
  REQUIRE(wait_until(
    [&] { return has_timer_flush(node.json({"events", "1000"})); }, 30s,
    200ms));
  auto events = node.console({"events", "5"});
  CHECK(events.exit_code == 0);
  CHECK(contains(events.out, "flush"));
  // Of one kind: only flushes, or none of a kind that did not happen.
  auto flushes = node.json({"events", "3", "flush"});
  REQUIRE_FALSE(flushes.as_array().empty());
  CHECK(flushes.as_array().size() <= 3);
  for (auto& e : flushes.as_array())
    CHECK(e.at("kind").as_string() == "flush");
  CHECK(node.json({"events", "breaker_open"}).as_array().empty());
  // nodes: role, version, options in effect.
  auto nodes = node.console({"nodes"});
  CHECK(nodes.exit_code == 0);
  CHECK(contains(nodes.out, "local  role all  version "));
  CHECK(contains(nodes.out, "max-wait-secs=0.5"));
  // Controls are refused without --console-control.
  for (std::vector<std::string> control :
       {std::vector<std::string>{"pause"}, {"resume"}, {"drain"},
        {"flush", "batcher-3"}}) {
    auto r = node.console(control);
    CHECK(r.exit_code == 1);
    CHECK_MESSAGE(contains(r.err, "refused"), r.err);
  }
  // The node is still streaming; a signal drains it.
  CHECK_FALSE(node.process.exit_code());
  node.stop();
}

TEST_CASE("console: controls with --console-control: pause, resume, flush, "
          "drain") {
  environment env;
  env.produce(make_corpus(8, 50));
  observed_node node{env, {"--console-control", "--max-wait-secs=3600"}};
  INFO("node stderr: ", tail(node.process.err()));
  auto paused = node.console({"pause"});
  CHECK(paused.exit_code == 0);
  CHECK(contains(paused.out, "consumption paused"));
  auto source = node.json({"status", "source"});
  CHECK(source.at("operator_paused").as_bool());
  CHECK(node.console({"resume"}).exit_code == 0);
  CHECK_FALSE(node.json({"status", "source"}).at("operator_paused").as_bool());
  // With an hour's max wait, words wait in their bags until a flush.
  std::string full;
  REQUIRE(wait_until(
    [&] {
      auto actors = node.json({"actors"});
      for (auto& a : actors.as_array())
        if (a.at("role").as_string() == "batcher"
            && a.at("status").at("bag_size").to_number<int>() > 0)
          full = std::string{a.at("name").as_string()};
      return !full.empty();
    },
    30s, 200ms));
  auto flushed = node.console({"flush", full});
  CHECK(flushed.exit_code == 0);
  CHECK(contains(flushed.out, "flushed "));
  auto st = node.json({"status", full});
  CHECK(st.at("flushes").at("end_of_window").to_number<int>() == 1);
  CHECK(st.at("bag_size").to_number<int>() == 0);
  auto drained = node.console({"drain"});
  CHECK(drained.exit_code == 0);
  CHECK(node.process.wait(60s) == 0);
  auto run = finished_run(node.process);
  CHECK(run.has_summary);
}

TEST_CASE("console: watch redraws in a terminal and quits on q") {
  environment env;
  env.produce(make_corpus(9, 100));
  observed_node node{env};
  winsize ws{};
  ws.ws_row = 40;
  ws.ws_col = 160;
  int master = -1;
  auto console = std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-console";
  auto connect = "--connect=127.0.0.1:" + std::to_string(node.console_port);
  auto pid = forkpty(&master, nullptr, nullptr, &ws);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    execl(console.c_str(), console.c_str(), connect.c_str(), "--interval=0.2",
          "watch", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string screen;
  auto read_some = [&](std::chrono::milliseconds wait) {
    pollfd p{master, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(wait.count())) > 0) {
      char buf[4096];
      auto n = read(master, buf, sizeof(buf));
      if (n > 0)
        screen.append(buf, static_cast<std::size_t>(n));
      return n > 0;
    }
    return true;
  };
  auto frames = [&] {
    std::size_t n = 0;
    for (auto at = screen.find("rpcbatch watch"); at != std::string::npos;
         at = screen.find("rpcbatch watch", at + 1))
      ++n;
    return n;
  };
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (frames() < 3 && std::chrono::steady_clock::now() < deadline)
    if (!read_some(200ms))
      break;
  INFO("screen: ", tail(screen, 3000));
  CHECK(frames() >= 3);
  CHECK(contains(screen, "\x1b[2J"));
  CHECK(contains(screen, "FLUSHES c/t/e/b"));
  for (int k = 0; k < 10; ++k)
    CHECK(contains(screen, "batcher-" + std::to_string(k) + " "));
  REQUIRE(write(master, "q", 1) == 1);
  int status = -1;
  deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    if (waitpid(pid, &status, WNOHANG) == pid)
      break;
    read_some(50ms); // keep the terminal drained
  }
  if (waitpid(pid, &status, WNOHANG) == 0) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    FAIL("watch did not quit on q");
  }
  close(master);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  node.stop();
}

TEST_CASE("console: the prompt reads commands until quit") {
  environment env;
  observed_node node{env};
  auto r = run_process({std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-console",
                        "--connect=127.0.0.1:"
                          + std::to_string(node.console_port)},
                       "help\nactors\nstatus nobody\nstatus batcher-3\nquit\n"
                       "nodes\n",
                       30s);
  INFO("stdout: ", r.out, "\nstderr: ", r.err);
  CHECK(r.exit_code == 0);
  CHECK(contains(r.out, "flush BATCHER | pause | resume | drain"));
  CHECK(contains(r.out, "batcher-9 "));
  CHECK(contains(r.err, "no actor named 'nobody'"));
  CHECK(contains(r.out, "\"bucket\": 3"));
  CHECK_FALSE(contains(r.out, "role all")); // after quit: not run
  node.stop();
}

TEST_CASE("console: an ingest node's console reaches its batcher nodes") {
  environment env;
  env.produce(make_corpus(11, 100));
  inspected_batcher_node batchers{env};
  auto& address = batchers.node.address;
  observed_node ingest{env, {"--role=ingest", "--batcher-nodes=" + address}};
  INFO("ingest stderr: ", tail(ingest.process.err()));
  // One console shows the cluster: local actors (the cluster among them),
  // the batcher node's host, the batchers in use there, and its rpc-caller.
  std::set<std::string> expected{"source", "tokenizer", "router", "sink",
                                 "cluster",
                                 "batcher-host@" + address,
                                 address + "/ingest-1/rpc-caller"};
  for (int k = 0; k < 10; ++k)
    expected.insert("batcher-" + std::to_string(k) + "@" + address);
  std::set<std::string> names;
  REQUIRE(wait_until(
    [&] {
      names.clear();
      auto actors = ingest.json({"actors"});
      for (auto& a : actors.as_array())
        names.insert(std::string{a.at("name").as_string()});
      return names == expected;
    },
    30s, 200ms));
  auto batcher3 = ingest.json({"status", "batcher-3@" + address});
  CHECK(batcher3.at("bucket").to_number<int>() == 3);
  auto nodes = ingest.json({"nodes"});
  REQUIRE(nodes.as_array().size() == 2);
  CHECK(nodes.as_array()[1].at("node").as_string() == address);
  CHECK(nodes.as_array()[1].at("up").as_bool());
  CHECK(nodes.as_array()[1].at("actors").to_number<int>() == 12);
  // The batcher node's own console knows what it spawned for the ingest.
  auto own = run_process(
    {std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-console",
     "--connect=127.0.0.1:" + std::to_string(batchers.console_port),
     "actors"},
    "", 30s);
  CHECK(own.exit_code == 0);
  CHECK(contains(own.out, "ingest-1/rpc-caller "));
  CHECK(contains(own.out, "ingest-1/batcher-9 "));
  ingest.stop();
}

TEST_CASE("console: events show a batcher node going down and its buckets "
          "moving") {
  environment env;
  env.produce(make_corpus(12, 100));
  batcher_node first{env.rpc_target()};
  batcher_node second{env.rpc_target()};
  observed_node ingest{env, {"--role=ingest", "--batcher-nodes="
                                                + first.address + ","
                                                + second.address}};
  INFO("ingest stderr: ", tail(ingest.process.err()));
  REQUIRE(wait_until(
    [&] {
      auto nodes = ingest.json({"nodes"});
      return nodes.as_array().size() == 3
             && nodes.as_array()[1].at("up").as_bool()
             && nodes.as_array()[2].at("up").as_bool();
    },
    30s, 200ms));
  first.process.kill_and_wait();
  boost::json::value events;
  INFO("events: ", boost::json::serialize(events));
  REQUIRE(wait_until(
    [&] {
      events = ingest.json({"events", "1000"});
      return has_event(events, "node_lost", first.address + " is gone")
             && has_event(events, "bucket_moved",
                          "moved from " + first.address + " to "
                            + second.address);
    },
    30s, 200ms));
  std::map<std::string, bool> up;
  auto nodes = ingest.json({"nodes"});
  for (auto& n : nodes.as_array())
    if (n.at("role").as_string() == "batcher")
      up[std::string{n.at("node").as_string()}] = n.at("up").as_bool();
  CHECK(up == std::map<std::string, bool>{{first.address, false},
                                          {second.address, true}});
  ingest.stop();
}

TEST_CASE("console: a peer on the console port reaches nothing but the "
          "console's requests, whatever actor ids it writes to") {
  environment env;
  auto first = make_corpus(13, 60);
  env.produce(first);
  batcher_node batchers{env.rpc_target()};
  observed_node ingest{env, {"--role=ingest",
                             "--batcher-nodes=" + batchers.address}};
  INFO("ingest stderr: ", tail(ingest.process.err()));
  // Handles of the ingest node's actors (node, sink, router...) have
  // crossed to the batcher node, so its middleman knows them by id.
  REQUIRE(wait_until([&] { return env.committed() == env.ends(); }, 60s,
                     100ms));
  {
    caf::actor_system_config cfg;
    rpcbatch::register_message_types(cfg);
    caf::actor_system sys{cfg};
    basp_peer peer{sys, ingest.console_port};
    using namespace rpcbatch;
    delivery_ack ack{{record_word_count{0, 0, 1, 0}}, {1}};
    for (caf::actor_id id = 1; id <= 300; ++id) {
      peer.send(id, caf::make_message(fatal_atom::value,
                                      std::string{"forged fatal"}));
      peer.send(id, caf::make_message(drain_atom::value));
      peer.send(id, caf::make_message(ack));
      peer.send(id, caf::make_message(join_atom::value, batcher_host_actor{},
                                      std::string{"forger:1"}));
      peer.send(id, caf::make_message(attach_atom::value, sink_actor{},
                                      uint32_t{256}));
    }
    // Messages of one connection arrive in order: once the published actor
    // answered, every forged one was delivered or dropped.
    peer.send(peer.published, caf::make_message(nodes_atom::value), 1);
    peer.await_answer();
  }
  // The node goes on as if nothing happened: it processes more input
  // exactly, and stops only when told to.
  auto second = make_corpus(14, 60);
  env.produce(second);
  REQUIRE(wait_until([&] { return env.committed() == env.ends(); }, 60s,
                     100ms));
  CHECK_FALSE(ingest.process.wait(0ms).has_value());
  auto nodes = ingest.json({"nodes"});
  CHECK(nodes.as_array().size() == 2);
  CHECK(contains(ingest.process.err(),
                 "refused a message that is no console request"));
  CHECK_FALSE(contains(ingest.process.err(), "forged"));
  ingest.stop();
  auto corpus = first;
  corpus.insert(corpus.end(), second.begin(), second.end());
  auto diff = compare(expected_outputs(corpus),
                      key_values(env.read(output_topic)));
  CHECK_MESSAGE(diff.empty(), diff.describe());
}

TEST_CASE("console: an unreachable node is a clear error and exit code 1") {
  auto port = unused_port();
  auto started = std::chrono::steady_clock::now();
  auto r = run_process({std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-console",
                        "--connect=127.0.0.1:" + std::to_string(port),
                        "actors"},
                       "", 30s);
  auto took = std::chrono::steady_clock::now() - started;
  CHECK(r.exit_code == 1);
  CHECK(contains(r.err, "cannot reach a node at 127.0.0.1:"
                          + std::to_string(port)));
  CHECK(took < 6s);
  auto usage = run_process(
    {std::string{RPCBATCH_BIN_DIR} + "/rpcbatch-console", "actors"}, "", 30s);
  CHECK(usage.exit_code == 2);
  CHECK(contains(usage.err, "--connect"));
}

TEST_CASE("console: /metrics is Prometheus text and matches the node's "
          "summary, /healthz and /readyz answer") {
  environment env;
  auto corpus = make_corpus(10, 300);
  env.produce(corpus);
  auto words = static_cast<double>(count_words(corpus));
  observed_node node{env};
  INFO("node stderr: ", tail(node.process.err()));
  auto health = node.get("/healthz");
  REQUIRE(health);
  CHECK(health->status == 200);
  // Everything written and committed: the counters no longer move.
  std::map<std::string, double> metrics;
  auto ends = env.ends();
  int64_t end_total = 0;
  for (auto& [p, o] : ends)
    end_total += o;
  REQUIRE(wait_until(
    [&] {
      auto r = node.get("/metrics");
      if (!r || r->status != 200)
        return false;
      metrics = parse_prometheus(r->body);
      double committed = 0;
      for (int p = 0; p < 3; ++p)
        committed += metrics["rpcbatch_committed_offset{partition=\""
                             + std::to_string(p) + "\"}"];
      return metrics["rpcbatch_outputs_total"] == words
             && metrics["rpcbatch_kafka_deliveries_total"] == words
             && committed == static_cast<double>(end_total);
    },
    60s, 200ms));
  auto ready = node.get("/readyz");
  REQUIRE(ready);
  CHECK(ready->status == 200);
  CHECK(contains(ready->body, "3 partition(s) assigned"));
  CHECK(metrics["rpcbatch_records_total"]
        == static_cast<double>(corpus.size()));
  CHECK(metrics["rpcbatch_words_in_flight"] == 0);
  CHECK(metrics["rpcbatch_rpc_latency_seconds_count"] > 0);
  for (int k = 0; k < 10; ++k)
    CHECK(metrics["rpcbatch_batcher_bag_size{actor=\"batcher-"
                  + std::to_string(k) + "\",node=\"local\"}"]
          == 0);
  // The drain has nothing left to flush: the summary shows the same counts.
  node.process.signal(SIGTERM);
  REQUIRE(node.process.wait(60s) == 0);
  auto run = finished_run(node.process);
  REQUIRE(run.has_summary);
  auto& s = run.summary;
  CHECK(metrics["rpcbatch_records_total"] == summary_number(s, "records"));
  CHECK(metrics["rpcbatch_words_total"] == summary_number(s, "words"));
  CHECK(metrics["rpcbatch_outputs_total"] == summary_number(s, "outputs"));
  CHECK(metrics["rpcbatch_dead_letters_total"] == summary_number(s, "dlq"));
  CHECK(metrics["rpcbatch_rpc_calls_total"] == summary_number(s, "rpc_calls"));
  CHECK(metrics["rpcbatch_rpc_retries_total"]
        == summary_number(s, "rpc_retries"));
  for (auto trigger : {"count", "timer", "end_of_window", "bytes"})
    CHECK(metrics[std::string{"rpcbatch_flushes_total{trigger=\""} + trigger
                  + "\"}"]
          == summary_number(s, std::string{"flushes."} + trigger));
}

} // TEST_SUITE
