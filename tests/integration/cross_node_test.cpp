// Every message type of the protocol crosses a real CAF node boundary (two
// actor systems connected by the io middleman over loopback): a type that is
// not registered would be dropped silently between nodes.
#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/deep_to_string.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/io/middleman.hpp>
#include <caf/scoped_actor.hpp>

#include "tests/support/fixture.hpp"
#include "messages/type_ids.hpp"

using namespace rpcbatch;

namespace {

struct node_config : caf::actor_system_config {
  node_config() {
    load<caf::io::middleman>();
    register_message_types(*this);
  }
};

/// Two nodes: `remote` runs an actor that sends every message back.
struct two_nodes {
  node_config cfg_a;
  node_config cfg_b;
  caf::actor_system a{cfg_a};
  caf::actor_system b{cfg_b};
  caf::actor echo;

  two_nodes() {
    auto local = a.spawn([](caf::event_based_actor* self) -> caf::behavior {
      self->set_default_handler(caf::reflect);
      return {[](int32_t) {}};
    });
    auto port = a.middleman().publish(local, 0, "127.0.0.1");
    REQUIRE(port);
    auto remote = b.middleman().remote_actor("127.0.0.1", *port);
    REQUIRE(remote);
    echo = *remote;
  }

  ~two_nodes() {
    caf::anon_send_exit(echo, caf::exit_reason::user_shutdown);
  }

  /// Sends `xs...` across and back; checks it arrives unchanged.
  template <class... Ts>
  void round_trip(Ts... xs) {
    caf::scoped_actor self{b};
    auto expected = caf::deep_to_string(std::forward_as_tuple(xs...));
    bool answered = false;
    self->request(echo, std::chrono::seconds(10), xs...)
      .receive(
        [&](Ts&... ys) {
          answered = true;
          CHECK(caf::deep_to_string(std::forward_as_tuple(ys...)) == expected);
        },
        [&](caf::error& err) { FAIL("no answer: " << b.render(err)); });
    CHECK(answered);
  }
};

element sample_element() {
  return element{"don't", 2, 41, 1700000000123, 3, 7, 12345678901};
}

} // namespace

TEST_CASE_FIXTURE(two_nodes, "every message type crosses CAF nodes") {
  input_record rec{1,     99, 1700000000000, std::string("a\0b\xff", 4),
                   false, 7,  12, 424242, {{0, 1}, {2, 1}}};
  round_trip(word_span{3, 4});
  round_trip(rec);
  round_trip(record_batch{{rec, input_record{0, 1, 2, "", true, 0, 0}}});
  round_trip(sample_element());
  round_trip(word_batch{{sample_element(), sample_element()}});
  round_trip(record_word_count{2, 41, 12, 3});
  round_trip(delivery_ack{{record_word_count{0, 5, 2, 0}}, {1, 4}});
  round_trip(std::vector<partition_progress>{{2, 1, 40, 45, {41, 43}}});
  round_trip(rpc_job{4, 1, {"a", "b"}, {sample_element()}, {0, 1, 0}});
  round_trip(resolved_batch{{sample_element()}, {5}});
  round_trip(word_answers{{"a", "bc"}, {1, 2}, false});
  round_trip(failed_batch{{sample_element()}, "UNAVAILABLE: down"});
  round_trip(undelivered_batch{{sample_element()}, {5}, {}, {-192}});
  round_trip(rpc_reply{9, 14, "down", {1, 2}});
  round_trip(partition_offset{3, 1000});
  round_trip(partition_offsets{{partition_offset{3, 1000}}});
  round_trip(flush_atom::value, uint64_t{12});
  round_trip(end_of_window_atom::value);
  round_trip(assigned_atom::value, partition_offsets{{{0, -1}}});
  round_trip(eof_atom::value, partition_offset{1, 77, 3});
  round_trip(cancel_atom::value, std::vector<partition_epoch>{{2, 5}, {0, 1}});
  round_trip(fatal_atom::value, std::string{"broken"});
  // The inspector's requests (rpcbatch-console to a node).
  round_trip(nodes_atom::value);
  round_trip(actors_atom::value);
  round_trip(status_atom::value, std::string{"batcher-3"});
  round_trip(events_atom::value, event_query{20, false, event_kind::node_lost});
  round_trip(metrics_atom::value);
  round_trip(control_atom::value, std::string{"flush"},
             std::string{"batcher-3"}, std::string{"token"});
  round_trip(pause_atom::value, true);
  // The console's typed answers.
  node_summary local;
  local.node = "local";
  local.totals.records = 7;
  local.totals.flushes[flush_trigger::count] = 2;
  local.options = {{"batch-size", "10"}};
  node_summary far;
  far.node = "10.0.0.2:4260";
  far.answering = false;
  far.unanswered = 3;
  round_trip(node_summaries{local, far});
  actor_summary a;
  a.name = "batcher-3@10.0.0.2:4260";
  a.node = "10.0.0.2:4260";
  a.role = "batcher";
  a.summary = "(not answering)";
  a.status = actor_status{2, batcher_status{}};
  round_trip(a);
  round_trip(actor_summaries{a, a});
  node_event e;
  e.id = 9;
  e.kind = event_kind::bucket_moved;
  e.actor = "cluster";
  e.detail = "batcher-3 moved from a:1 to b:2";
  round_trip(node_events{e});
  round_trip(metric_families{
    {"rpcbatch_up", "gauge", "The node answers.",
     {{"rpcbatch_up", {{"node", "local"}}, 1}}}});
  round_trip(readiness_report{false, {"source: 0 partition(s) assigned"}});
  round_trip(control_outcome{true, "flushed 2 element(s)"});
  round_trip(handover_atom::value, std::vector<batcher_actor>{});
  round_trip(join_atom::value, std::string{"10.0.0.7:4250"},
             std::vector<std::string>{"10.0.0.2:4260", "10.0.0.3:4260"});
  round_trip(reconnect_atom::value, std::string{"10.0.0.2:4260"});
  // Status answers of every kind (a batcher node's actors answer the
  // ingest node's inspector).
  source_status src;
  src.records = 12;
  src.active_seconds = 1.5;
  src.assigned = {0, 2};
  src.commit_points = {{0, 40}, {2, 7}};
  src.consumer_lag = -1;
  round_trip(actor_status{3, src});
  round_trip(actor_status{0, tokenizer_status{1, 2, 3, 4, 5}});
  router_status rtr;
  rtr.routed_by_bucket = {1, 2};
  round_trip(actor_status{0, rtr});
  batcher_status bat;
  bat.flushes[flush_trigger::timer] = 4;
  bat.ms_to_flush = -1;
  round_trip(actor_status{1, bat});
  rpc_caller_status rpc;
  rpc.breaker = "half_open";
  rpc.latency = {{100, 200}, {1, 2, 3}, 900, 250};
  rpc.errors_by_code = {{"UNAVAILABLE", 2}};
  round_trip(actor_status{0, rpc});
  sink_status snk;
  snk.refusals_by_error = {{"MSG_SIZE_TOO_LARGE", 1}};
  round_trip(actor_status{0, snk});
  node_status nod;
  nod.uptime_s = 2.5;
  round_trip(actor_status{0, nod});
  cluster_status clu;
  clu.batcher_nodes = {"10.0.0.2:4260"};
  clu.unowned_buckets = 3;
  round_trip(actor_status{0, clu});
  round_trip(actor_status{0, batcher_host_status{"b", 1, 0, 0, 0, 1, 1, 3}});
  round_trip(actor_status{0, inspector_status{"ingest", 1, true, 0, 1}});
  batcher_link_status lnk;
  lnk.node = "10.0.0.2:4260";
  lnk.state = "unconnected";
  lnk.attempts = 3;
  lnk.backoff_ms = 4000;
  lnk.ms_to_next_attempt = 3999;
  round_trip(actor_status{0, lnk});
}

TEST_CASE_FIXTURE(two_nodes, "actor handles cross CAF nodes and come back") {
  auto batcher = test::spawn_idle_batcher(b);
  caf::scoped_actor self{b};
  bool answered = false;
  self->request(echo, std::chrono::seconds(10), batcher)
    .receive(
      [&](batcher_actor& back) {
        answered = true;
        CHECK(back == batcher);
      },
      [&](caf::error& err) { FAIL("no answer: " << b.render(err)); });
  CHECK(answered);
  // A batcher host's directory (an ingest node's inspector asks for it).
  answered = false;
  self->request(echo, std::chrono::seconds(10),
                actor_list{{"ingest-1/batcher-0", "batcher", "", batcher}})
    .receive(
      [&](actor_list& back) {
        answered = true;
        REQUIRE(back.size() == 1);
        CHECK(back[0].name == "ingest-1/batcher-0");
        CHECK(back[0].role == "batcher");
        CHECK(back[0].handle.address() == batcher.address());
      },
      [&](caf::error& err) { FAIL("no answer: " << b.render(err)); });
  CHECK(answered);
  caf::anon_send_exit(batcher, caf::exit_reason::user_shutdown);
}
