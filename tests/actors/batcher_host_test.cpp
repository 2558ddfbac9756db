// The batcher host takes an attach from a peer only if it makes sense: a
// sink, 1..max_buckets buckets, and at most max_ingest_nodes ingest nodes;
// spawn_batchers (actors/pipeline/batcher_set.hpp) spawns a set only for settings it
// can serve.
#include "actors/cluster/batcher_host.hpp"
#include "actors/pipeline/batcher_set.hpp"

#include <doctest/doctest.h>

#include <boost/json/parse.hpp>

#include "services/adapters/rpc_client.hpp"
#include "tests/support/fixture.hpp"

using namespace rpcbatch;

namespace {

struct host_fixture : test::deterministic {
  // No call is made: the client is never asked to connect.
  std::shared_ptr<rpc_client> client
    = std::make_shared<rpc_client>("127.0.0.1:1");
  batcher_host_actor aut = sys.spawn(batcher_host, batcher_config{},
                                     rpc_caller_config{}, client);

  /// The number of batchers an attach got, or the error's text.
  std::string attach(const sink_actor& sink, uint32_t buckets) {
    auto result = std::make_shared<std::string>();
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(aut, caf::infinite, attach_atom::value, sink, buckets)
        .then(
          [=](std::vector<batcher_actor>& bs) {
            *result = std::to_string(bs.size());
          },
          [=](caf::error& err) { *result = sys.render(err); });
    });
    run();
    return *result;
  }

  batcher_host_status status() {
    return test::status_as<batcher_host_status>(
      ask<actor_status>(aut, status_atom::value));
  }

  ~host_fixture() {
    caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
    run();
  }
};

} // namespace

TEST_CASE_FIXTURE(host_fixture,
                  "batcher host: attaches without a sink or with a number "
                  "of buckets out of range are refused, nothing is spawned") {
  auto sink = test::spawn_idle_sink(sys);
  CHECK(attach(sink, 0).find("0 buckets") != std::string::npos);
  CHECK(attach(sink, UINT32_MAX).find("buckets (1 to 256 allowed)")
        != std::string::npos);
  CHECK(attach(sink, max_buckets + 1) != std::to_string(max_buckets + 1));
  CHECK(attach(sink_actor{}, 4).find("no sink") != std::string::npos);
  CHECK(status().attaches_refused == 4);
  CHECK(status().actors == 0);
  CHECK(attach(sink, 4) == "4");
  CHECK(status().actors == 5); // an rpc-caller and four batchers
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(host_fixture,
                  "spawn_batchers refuses settings no set can serve and "
                  "spawns nothing; a host with such settings refuses "
                  "attaches") {
  auto sink = test::spawn_idle_sink(sys);
  auto refusal = [&](batcher_config b, rpc_caller_config r,
                     uint32_t buckets = 4) {
    auto set = spawn_batchers(&sys, b, buckets, r, client, sink);
    return set ? std::string{} : sys.render(set.error());
  };
  batcher_config no_batch;
  no_batch.batch_size = 0;
  batcher_config no_wait;
  no_wait.max_wait = caf::timespan{0};
  rpc_caller_config no_calls;
  no_calls.max_inflight = 0;
  CHECK(refusal(no_batch, {}).find("a batch size of 0") != std::string::npos);
  CHECK(refusal(no_wait, {}).find("maximum wait") != std::string::npos);
  CHECK(refusal({}, no_calls).find("no call in flight") != std::string::npos);
  CHECK(refusal({}, {}, 0).find("0 buckets") != std::string::npos);
  auto no_transport = spawn_batchers(&sys, batcher_config{}, 4,
                                     rpc_caller_config{}, nullptr, sink);
  CHECK_FALSE(no_transport);
  auto set = spawn_batchers(&sys, batcher_config{}, 4, rpc_caller_config{},
                            client, sink);
  REQUIRE(set);
  CHECK(set->batchers.size() == 4);
  for (auto& b : set->batchers)
    caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(set->rpc, caf::exit_reason::user_shutdown);
  // A batcher node with such settings: every attach is refused.
  auto bad_host = sys.spawn(batcher_host, no_batch, rpc_caller_config{},
                            client);
  std::swap(aut, bad_host);
  CHECK(attach(sink, 4).find("a batch size of 0") != std::string::npos);
  CHECK(status().attaches_refused == 1);
  CHECK(status().actors == 0);
  std::swap(aut, bad_host);
  caf::anon_send_exit(bad_host, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
}

TEST_CASE_FIXTURE(host_fixture,
                  "batcher host: one set per ingest node, and a bounded "
                  "number of ingest nodes") {
  auto first = test::spawn_idle_sink(sys);
  CHECK(attach(first, 2) == "2");
  CHECK(attach(first, 2) == "2"); // attaches again: replaces its set
  CHECK(status().attached == 1);
  CHECK(status().actors == 3);
  std::vector<sink_actor> sinks{first};
  for (std::size_t i = 1; i < batcher_host_state::max_ingest_nodes; ++i) {
    sinks.push_back(test::spawn_idle_sink(sys));
    REQUIRE(attach(sinks.back(), 1) == "1");
  }
  auto one_more = test::spawn_idle_sink(sys);
  CHECK(attach(one_more, 1).find("ingest nodes attached")
        != std::string::npos);
  CHECK(status().attached == batcher_host_state::max_ingest_nodes);
  // An attached node may still attach again.
  CHECK(attach(first, 1) == "1");
  sinks.push_back(one_more);
  for (auto& s : sinks)
    caf::anon_send_exit(s, caf::exit_reason::user_shutdown);
}
