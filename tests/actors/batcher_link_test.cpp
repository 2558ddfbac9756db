// The batcher link, state by state, on the deterministic scheduler: a mock
// batcher host that answers an attach with batchers, holds it (the test
// answers it later), refuses it or offers too few batchers; a mock cluster
// that records what the link tells it. Each state is checked for what it
// takes, what it ignores (an older attempt's timer and reply, a down of an
// attachment given up), its transitions and its status.
#include "actors/cluster/batcher_link.hpp"

#include <doctest/doctest.h>

#include "actors/observe/inspection.hpp"
#include "actors/observe/json.hpp"
#include "actors/observe/reporting.hpp"
#include "tests/support/fixture.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

/// What a test host answers to an attach.
enum class answer { batchers, hold, refuse, too_few };

/// A batcher host that the test can also tell to answer the attaches it
/// holds.
using test_host_actor = batcher_host_actor::extend<
  /// Answers every attach held so far with fresh batchers.
  caf::reacts_to<ready_atom>>;

/// What a test host did, for the test to read.
struct host_record {
  answer mode = answer::batchers;
  int attaches = 0;
  /// The batchers of every answer, in order.
  std::vector<std::vector<batcher_actor>> offered;
};

struct test_host_state {
  static inline const char* name = "test-host";
  std::shared_ptr<host_record> rec;
  /// Attaches held, with their number of buckets.
  std::vector<std::pair<caf::typed_response_promise<std::vector<batcher_actor>>,
                        uint32_t>>
    held;
};

using host_ptr = test_host_actor::stateful_pointer<test_host_state>;

std::vector<batcher_actor> offer(host_ptr self, uint32_t n) {
  std::vector<batcher_actor> out;
  for (uint32_t k = 0; k < n; ++k)
    out.push_back(test::spawn_idle_batcher(self->system()));
  self->state.rec->offered.push_back(out);
  return out;
}

test_host_actor::behavior_type test_host(host_ptr self,
                                         std::shared_ptr<host_record> rec) {
  self->state.rec = std::move(rec);
  return {
    [=](attach_atom, sink_actor&,
        uint32_t buckets) -> caf::result<std::vector<batcher_actor>> {
      auto& rec = *self->state.rec;
      ++rec.attaches;
      switch (rec.mode) {
        case answer::hold: {
          auto rp = self->make_response_promise<std::vector<batcher_actor>>();
          self->state.held.emplace_back(rp, buckets);
          return rp;
        }
        case answer::refuse:
          return caf::make_error(caf::sec::invalid_argument, "refused");
        case answer::too_few:
          return offer(self, buckets - 1);
        case answer::batchers:
          break;
      }
      return offer(self, buckets);
    },
    [](join_atom, std::string&, std::vector<std::string>&) {},
    [](reconnect_atom, std::string&) {},
    [](actors_atom) { return actor_list{}; },
    [](status_atom) { return actor_status{}; },
    [=](ready_atom) {
      auto held = std::move(self->state.held);
      self->state.held.clear();
      for (auto& [rp, buckets] : held)
        rp.deliver(offer(self, buckets));
    },
  };
}

/// A test host's handle and record.
struct host {
  std::shared_ptr<host_record> rec;
  test_host_actor handle;
};

/// What the link told the cluster: one line per message ("attach NODE",
/// "lost NODE node", "lost NODE batcher", "failed NODE"), and the host and
/// batchers of every attach.
struct cluster_record {
  std::vector<std::string> lines;
  std::vector<batcher_host_actor> hosts;
  std::vector<std::vector<batcher_actor>> batchers;
  std::vector<caf::node_id> lost_on;
};

cluster_actor spawn_cluster(caf::actor_system& sys,
                            std::shared_ptr<cluster_record> rec) {
  return sys.spawn([=]() -> cluster_actor::behavior_type {
    return {
      [](join_atom, batcher_host_actor&, std::string&) {},
      [](start_atom, sink_actor&) { return uint32_t{0}; },
      [](router_actor&) {},
      [=](attach_atom, std::string& node, batcher_host_actor& h,
          std::vector<batcher_actor>& bs) {
        rec->lines.push_back("attach " + node);
        rec->hosts.push_back(h);
        rec->batchers.push_back(bs);
      },
      [=](lost_atom, std::string& node, caf::node_id& where, bool node_gone) {
        rec->lines.push_back("lost " + node
                             + (node_gone ? " node" : " batcher"));
        rec->lost_on.push_back(where);
      },
      [=](failed_atom, std::string& node) {
        rec->lines.push_back("failed " + node);
      },
      [](actors_atom) { return actor_list{}; },
      [](status_atom) { return actor_status{}; },
    };
  });
}

using lines = std::vector<std::string>;

struct link_fixture : test::deterministic {
  static constexpr uint32_t buckets = 4;
  std::shared_ptr<cluster_record> told = std::make_shared<cluster_record>();
  cluster_actor cluster = spawn_cluster(sys, told);
  sink_actor sink = test::spawn_idle_sink(sys);
  std::vector<host> hosts;
  batcher_link_actor aut;

  /// The link to `node`; a configured one is connected to by the cluster's
  /// start (a reconnect with attempt 0). "no-port-here" is no address: an
  /// attempt to reach it fails at once, without a middleman.
  void spawn_aut(bool configured, std::string node = "b:1") {
    aut = sys.spawn(batcher_link, batcher_link_config{std::move(node),
                                                      configured, buckets,
                                                      sink, cluster});
    run();
  }

  host spawn_host(answer mode = answer::batchers) {
    auto rec = std::make_shared<host_record>();
    rec->mode = mode;
    hosts.push_back({rec, sys.spawn(test_host, rec)});
    return hosts.back();
  }

  void join(const host& h) {
    caf::anon_send(aut, join_atom::value, batcher_host_actor{h.handle});
    run();
  }

  /// The timer message of attempt `n`.
  void timer(uint64_t n) {
    caf::anon_send(aut, reconnect_atom::value, n);
    run();
  }

  /// The host answers the attaches it holds.
  void release(const host& h) {
    caf::anon_send(h.handle, ready_atom::value);
    run();
  }

  actor_status answer_of_aut() {
    return ask<actor_status>(aut, status_atom::value);
  }

  batcher_link_status status() {
    return test::status_as<batcher_link_status>(answer_of_aut());
  }

  std::string summary() {
    return summary_line(answer_of_aut());
  }

  /// Whether `b` stopped.
  bool stopped(const batcher_actor& b) {
    auto down = std::make_shared<bool>(false);
    auto watcher = sys.spawn(
      [=](caf::event_based_actor* self) -> caf::behavior {
        self->set_down_handler([=](caf::down_msg&) { *down = true; });
        self->monitor(b);
        return {[](int32_t) {}};
      });
    run();
    caf::anon_send_exit(watcher, caf::exit_reason::user_shutdown);
    run();
    return *down;
  }

  ~link_fixture() {
    caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
    for (auto& h : hosts) {
      for (auto& set : h.rec->offered)
        for (auto& b : set)
          caf::anon_send_exit(b, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(h.handle, caf::exit_reason::user_shutdown);
    }
    caf::anon_send_exit(cluster, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(sink, caf::exit_reason::user_shutdown);
    run();
  }
};

} // namespace

TEST_SUITE("batcher_link") {

TEST_CASE_FIXTURE(link_fixture,
                  "batcher link: a join takes it from unconnected to "
                  "connecting, the host's answer to attached; its status "
                  "says so in each state") {
  spawn_aut(false);
  auto st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.node == "b:1");
  CHECK_FALSE(st.configured);
  CHECK(st.attempts == 0);
  CHECK(st.batchers == 0);
  CHECK(st.ms_to_next_attempt == -1);
  CHECK(summary() == "unconnected, waits for a join");
  auto x = spawn_host(answer::hold);
  join(x);
  st = status();
  CHECK(st.state == "connecting");
  CHECK(st.attempts == 1);
  CHECK(st.batchers == 0);
  CHECK(x.rec->attaches == 1);
  CHECK(summary() == "connecting, attempt 1");
  CHECK(told->lines.empty());
  release(x);
  st = status();
  CHECK(st.state == "attached");
  CHECK(st.batchers == buckets);
  CHECK(st.attaches == 1);
  CHECK(st.attempts == 0);
  CHECK(st.failures == 0);
  CHECK(st.stale == 0);
  CHECK(summary() == "attached, 4 batchers");
  REQUIRE(told->lines == lines{"attach b:1"});
  CHECK(told->hosts[0] == batcher_host_actor{x.handle});
  CHECK(told->batchers[0] == x.rec->offered[0]);
  // The fields as the console and the HTTP endpoints show them.
  auto json = status_object(answer_of_aut());
  CHECK(json.at("state").as_string() == "attached");
  CHECK(json.at("node").as_string() == "b:1");
  CHECK(json.at("batchers").to_number<int>() == 4);
  CHECK(throughput(answer_of_aut()) == -1);
}

TEST_CASE_FIXTURE(link_fixture,
                  "batcher link: unconnected, a configured node is tried "
                  "again when its timer fires, after a growing delay; an "
                  "older attempt's timer is ignored") {
  spawn_aut(true, "no-port-here");
  CHECK(status().state == "unconnected");
  CHECK(summary() == "unconnected");
  // The cluster's start: unconnected -> connecting, which fails at once.
  timer(0);
  auto st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.attempts == 1);
  CHECK(st.failures == 1);
  CHECK(st.backoff_ms == 1000);
  CHECK(st.ms_to_next_attempt == 1000);
  CHECK(told->lines == lines{"failed no-port-here"});
  CHECK(summary() == "unconnected, 1 attempt(s) failed, next in 1000 ms");
  // The start's message again, and a timer of no attempt yet: stale.
  timer(0);
  timer(st.generation + 1);
  st = status();
  CHECK(st.stale == 2);
  CHECK(st.attempts == 1);
  CHECK(told->lines.size() == 1);
  advance(999ms);
  CHECK(status().attempts == 1);
  CHECK(status().ms_to_next_attempt == 1);
  advance(1ms);
  st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.attempts == 2);
  CHECK(st.failures == 2);
  CHECK(st.backoff_ms == 2000);
  CHECK(st.ms_to_next_attempt == 2000);
  CHECK(told->lines.size() == 2);
}

TEST_CASE_FIXTURE(link_fixture,
                  "batcher link: connecting, a timer and the reply of an "
                  "attempt given up are ignored, a join of another host "
                  "replaces the attempt") {
  spawn_aut(true, "no-port-here");
  timer(0);
  REQUIRE(status().ms_to_next_attempt == 1000);
  // A join while the next attempt waits: connecting at once.
  auto x = spawn_host(answer::hold);
  join(x);
  auto st = status();
  CHECK(st.state == "connecting");
  CHECK(st.attempts == 2);
  CHECK(st.ms_to_next_attempt == -1);
  CHECK(x.rec->attaches == 1);
  // The timer of the attempt given up fires; a timer of the attempt that
  // runs: no timer is current while connecting.
  advance(1s);
  timer(status().generation);
  st = status();
  CHECK(st.state == "connecting");
  CHECK(st.stale == 2);
  CHECK(x.rec->attaches == 1);
  // The same host again changes nothing.
  join(x);
  CHECK(x.rec->attaches == 1);
  // Another host: its attempt replaces the running one.
  auto y = spawn_host();
  join(y);
  st = status();
  CHECK(st.state == "attached");
  CHECK(st.attempts == 0);
  REQUIRE(told->lines == lines{"failed no-port-here", "attach no-port-here"});
  CHECK(told->hosts[0] == batcher_host_actor{y.handle});
  // The first host answers the attempt given up: its batchers are stopped
  // and the link stays with the second.
  release(x);
  REQUIRE(x.rec->offered.size() == 1);
  st = status();
  CHECK(st.state == "attached");
  CHECK(st.stale == 3);
  CHECK(st.attaches == 1);
  CHECK(told->lines.size() == 2);
  CHECK(stopped(x.rec->offered[0][0]));
  CHECK_FALSE(stopped(y.rec->offered[0][0]));
}

TEST_CASE_FIXTURE(link_fixture,
                  "batcher link: connecting, a refused attach or an answer "
                  "that is not one batcher per bucket fails the attempt") {
  spawn_aut(false);
  auto x = spawn_host(answer::refuse);
  join(x);
  auto st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.failures == 1);
  CHECK(st.ms_to_next_attempt == -1);
  CHECK(told->lines == lines{"failed b:1"});
  CHECK(summary() == "unconnected, 1 attempt(s) failed, waits for a join");
  // A failed attempt forgets the host: its next join is a new attempt.
  x.rec->mode = answer::too_few;
  join(x);
  st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.attempts == 2);
  CHECK(st.failures == 2);
  CHECK(told->lines.size() == 2);
  x.rec->mode = answer::batchers;
  join(x);
  CHECK(status().state == "attached");
  CHECK(told->lines.back() == "attach b:1");
}

TEST_CASE_FIXTURE(link_fixture,
                  "batcher link: attached, a join of the host in use changes "
                  "nothing and another host's join means the node "
                  "restarted") {
  spawn_aut(false);
  auto x = spawn_host();
  join(x);
  REQUIRE(status().state == "attached");
  join(x);
  timer(status().generation);
  timer(0);
  auto st = status();
  CHECK(st.state == "attached");
  CHECK(st.stale == 2);
  CHECK(x.rec->attaches == 1);
  CHECK(told->lines == lines{"attach b:1"});
  auto y = spawn_host();
  join(y);
  CHECK(told->lines == lines{"attach b:1", "lost b:1 node", "attach b:1"});
  CHECK(told->hosts.back() == batcher_host_actor{y.handle});
  st = status();
  CHECK(st.state == "attached");
  CHECK(st.losses == 1);
  CHECK(st.attaches == 2);
  // The old host and its batchers going down are no loss any more.
  caf::anon_send_exit(x.rec->offered[0][0], caf::exit_reason::kill);
  caf::anon_send_exit(x.handle, caf::exit_reason::kill);
  run();
  CHECK(told->lines.size() == 3);
  CHECK(status().state == "attached");
}

TEST_CASE_FIXTURE(link_fixture,
                  "batcher link: attached -> unconnected when the host goes "
                  "down; a configured node is tried again, a joined one "
                  "waits for its next join") {
  spawn_aut(true, "no-port-here");
  auto x = spawn_host();
  join(x);
  REQUIRE(status().state == "attached");
  caf::anon_send_exit(x.handle, caf::exit_reason::user_shutdown);
  run();
  REQUIRE(told->lines
          == lines{"attach no-port-here", "lost no-port-here node"});
  CHECK(told->lost_on[0] == sys.node());
  auto st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.losses == 1);
  CHECK(st.batchers == 0);
  CHECK(st.backoff_ms == 1000);
  CHECK(st.ms_to_next_attempt == 1000);
  // The timer: unconnected -> connecting (the node's published host),
  // which fails here, and the delay grows.
  advance(1s);
  st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.failures == 1);
  CHECK(st.backoff_ms == 2000);
  CHECK(told->lines.back() == "failed no-port-here");
}

TEST_CASE_FIXTURE(link_fixture,
                  "batcher link: attached -> unconnected when the link to "
                  "the node breaks; a node that only joined waits for its "
                  "next join") {
  spawn_aut(false);
  auto x = spawn_host();
  join(x);
  caf::anon_send_exit(x.rec->offered[0][3],
                      caf::exit_reason::remote_link_unreachable);
  run();
  CHECK(told->lines == lines{"attach b:1", "lost b:1 node"});
  auto st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.losses == 1);
  CHECK(st.batchers_lost == 0);
  CHECK(st.ms_to_next_attempt == -1);
  CHECK(summary() == "unconnected, waits for a join");
  advance(5min);
  CHECK(status().state == "unconnected");
  CHECK(x.rec->attaches == 1);
  // The same host joins again: attached again.
  join(x);
  CHECK(status().state == "attached");
  CHECK(x.rec->attaches == 2);
}

TEST_CASE_FIXTURE(link_fixture,
                  "batcher link: a lost batcher takes it from attached to "
                  "connecting at once, and while it keeps happening to "
                  "unconnected until the reattach delay ran out") {
  spawn_aut(false);
  auto x = spawn_host();
  join(x);
  // Two batchers stop at once: the second's down comes after the link
  // left the attachment and is ignored.
  auto first = x.rec->offered[0];
  caf::anon_send_exit(first[1], caf::exit_reason::kill);
  caf::anon_send_exit(first[2], caf::exit_reason::kill);
  run();
  CHECK(told->lines
        == lines{"attach b:1", "lost b:1 batcher", "attach b:1"});
  CHECK(x.rec->attaches == 2);
  auto st = status();
  CHECK(st.state == "attached");
  CHECK(st.batchers_lost == 1);
  CHECK(st.losses == 0);
  CHECK(st.attaches == 2);
  // Again within a minute: unconnected for a second first.
  x.rec->mode = answer::hold;
  caf::anon_send_exit(x.rec->offered[1][0], caf::exit_reason::kill);
  run();
  st = status();
  CHECK(st.state == "unconnected");
  CHECK(st.batchers_lost == 2);
  CHECK(st.reattach_delay_ms == 1000);
  CHECK(st.ms_to_next_attempt == 1000);
  CHECK(summary() == "unconnected, next in 1000 ms");
  CHECK(told->lines.back() == "lost b:1 batcher");
  advance(999ms);
  CHECK(x.rec->attaches == 2);
  advance(1ms);
  st = status();
  CHECK(st.state == "connecting");
  CHECK(st.attempts == 1);
  CHECK(x.rec->attaches == 3);
  release(x);
  CHECK(status().state == "attached");
  CHECK(told->lines.back() == "attach b:1");
  CHECK(told->batchers.back() == x.rec->offered.back());
}

} // TEST_SUITE
