// The cluster and its batcher links, message by message on the deterministic
// scheduler, with batcher hosts of this test standing in for batcher nodes:
// joins get their share of the buckets by handover, a lost node's buckets
// move at once, a lost batcher makes its node attach again (later each time
// it happens again), and what comes from peers is checked.
#include "actors/cluster/cluster.hpp"

#include <algorithm>

#include <doctest/doctest.h>

#include "tests/support/fixture.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

/// A batcher node's host: every attach spawns one idle batcher per bucket;
/// a hostile one answers null handles, then one batcher too few.
struct test_host {
  std::shared_ptr<std::vector<batcher_actor>> spawned
    = std::make_shared<std::vector<batcher_actor>>();
  std::shared_ptr<int> attaches = std::make_shared<int>(0);
  batcher_host_actor handle;

  explicit test_host(caf::actor_system& sys, bool hostile = false) {
    auto spawned = this->spawned;
    auto attaches = this->attaches;
    auto* system = &sys;
    handle = sys.spawn([=]() -> batcher_host_actor::behavior_type {
      return {
        [=](attach_atom, sink_actor&, uint32_t buckets) {
          ++*attaches;
          if (hostile && *attaches == 1)
            return std::vector<batcher_actor>(buckets);
          std::vector<batcher_actor> out;
          for (uint32_t k = hostile ? 1 : 0; k < buckets; ++k)
            out.push_back(test::spawn_idle_batcher(*system));
          spawned->insert(spawned->end(), out.begin(), out.end());
          return out;
        },
        [](join_atom, std::string&, std::vector<std::string>&) {},
        [](reconnect_atom, std::string&) {},
        [](actors_atom) { return actor_list{}; },
        [](status_atom) { return actor_status{}; },
      };
    });
  }

  /// The batchers of its latest attach.
  std::vector<batcher_actor> latest(uint32_t buckets) const {
    return {spawned->end() - buckets, spawned->end()};
  }
};

/// What the router got from the cluster, one line each: "handover" or
/// "lost", then the owners.
struct router_log {
  std::vector<std::string> kinds;
  std::vector<std::vector<batcher_actor>> owners;
};

struct cluster_fixture : test::deterministic {
  static constexpr uint32_t buckets = 4;
  std::shared_ptr<router_log> got = std::make_shared<router_log>();
  router_actor router = spawn_router();
  sink_actor sink = test::spawn_idle_sink(sys);
  cluster_actor aut;

  router_actor spawn_router() {
    auto got = this->got;
    auto record = [got](const char* kind, std::vector<batcher_actor>& o) {
      got->kinds.push_back(kind);
      got->owners.push_back(std::move(o));
    };
    return sys.spawn([=]() -> router_actor::behavior_type {
      return {
        [](word_batch&) {},
        [=](std::vector<batcher_actor>& o) { record("set", o); },
        [=](handover_atom, std::vector<batcher_actor>& o) {
          record("handover", o);
        },
        [=](lost_atom, caf::node_id&, std::vector<batcher_actor>& o) {
          record("lost", o);
        },
        [](std::vector<partition_progress>&) {},
        [](source_actor&) {},
        [](end_of_window_atom) { return uint64_t{0}; },
        [](cancel_atom, std::vector<partition_epoch>&) {
          return uint64_t{0};
        },
        [](status_atom) { return actor_status{}; },
      };
    });
  }

  /// Spawns the cluster, starts it and gives it the router, as the node
  /// does; answers what the start answered.
  uint32_t start(std::vector<std::string> configured = {}) {
    aut = sys.spawn(cluster, buckets, std::move(configured));
    auto attached = ask<uint32_t>(aut, start_atom::value, sink);
    from_this_node(router);
    return attached;
  }

  /// Sends `x` to the cluster from an actor of this node.
  template <class T>
  void from_this_node(T x) {
    auto dest = aut;
    sys.spawn([=](caf::event_based_actor* self) { self->send(dest, x); });
    run();
  }

  void join(const test_host& host, const std::string& name) {
    caf::anon_send(aut, join_atom::value, host.handle, name);
    run();
  }

  cluster_status status() {
    return test::status_as<cluster_status>(
      ask<actor_status>(aut, status_atom::value));
  }

  ~cluster_fixture() {
    caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
    run();
  }
};

/// How many of `owners` are among `batchers`.
std::size_t owned_by(const std::vector<batcher_actor>& owners,
                     const std::vector<batcher_actor>& batchers) {
  return std::count_if(owners.begin(), owners.end(), [&](auto& o) {
    return std::find(batchers.begin(), batchers.end(), o) != batchers.end();
  });
}

/// How many of `owners` are null (buckets without an owner).
std::size_t unowned(const std::vector<batcher_actor>& owners) {
  return std::count(owners.begin(), owners.end(), batcher_actor{});
}

} // namespace

TEST_CASE_FIXTURE(cluster_fixture,
                  "cluster: a node that joins gets every bucket, a second "
                  "one takes half of them by handover") {
  CHECK(start() == 0);
  REQUIRE(got->kinds == std::vector<std::string>{"handover"});
  CHECK(unowned(got->owners[0]) == buckets);
  CHECK(status().unowned_buckets == buckets);
  test_host a{sys};
  join(a, "a:1");
  REQUIRE(got->kinds.size() == 2);
  CHECK(got->kinds[1] == "handover");
  CHECK(got->owners[1] == a.latest(buckets));
  test_host b{sys};
  join(b, "b:1");
  REQUIRE(got->kinds.size() == 3);
  CHECK(got->kinds[2] == "handover");
  CHECK(owned_by(got->owners[2], a.latest(buckets)) == 2);
  CHECK(owned_by(got->owners[2], b.latest(buckets)) == 2);
  auto st = status();
  CHECK(st.joins == 2);
  CHECK(st.unowned_buckets == 0);
  CHECK(st.batcher_nodes == std::vector<std::string>{"a:1", "b:1"});
  // The directory: a batcher per bucket, named after its node, and the
  // hosts.
  auto dir = ask<actor_list>(aut, actors_atom::value);
  REQUIRE(dir.size() == buckets + 2);
  CHECK(dir[0].name.rfind("batcher-0@", 0) == 0);
  CHECK(dir[0].bucket == 0);
  CHECK(dir[buckets].name == "batcher-host@a:1");
  CHECK(dir[buckets + 1].name == "batcher-host@b:1");
  // The same join again changes nothing.
  join(a, "a:1");
  CHECK(got->kinds.size() == 3);
  CHECK(*a.attaches == 1);
}

TEST_CASE_FIXTURE(cluster_fixture,
                  "cluster: a lost node's buckets move at once, and a node "
                  "that only joined is not tried again") {
  start();
  test_host a{sys};
  test_host b{sys};
  join(a, "a:1");
  join(b, "b:1");
  caf::anon_send_exit(b.handle, caf::exit_reason::remote_link_unreachable);
  run();
  REQUIRE(got->kinds.size() == 4);
  CHECK(got->kinds[3] == "lost");
  CHECK(got->owners[3] == a.latest(buckets));
  CHECK(status().losses == 1);
  CHECK(status().batcher_nodes == std::vector<std::string>{"a:1"});
  // The cluster records the joins, the loss and every bucket that moved
  // where they happen: two to b:1 when it joined, and back when it went.
  std::vector<std::string> events;
  for (auto& e : ask<actor_status>(aut, status_atom::value).events)
    events.push_back(std::string{to_string(e.kind)} + ": " + e.detail);
  auto count = [&](const std::string& prefix) {
    return std::count_if(events.begin(), events.end(), [&](auto& line) {
      return line.rfind(prefix, 0) == 0;
    });
  };
  CHECK(count("node_joined: batcher node a:1 joined") == 1);
  CHECK(count("node_joined: batcher node b:1 joined: 2 bucket(s)") == 1);
  CHECK(count("node_lost: batcher node b:1 is gone") == 1);
  CHECK(count("bucket_moved: ") == 4);
  for (auto& line : events)
    if (line.rfind("bucket_moved: ", 0) == 0)
      CHECK((line.find("moved from a:1 to b:1") != std::string::npos
             || line.find("moved from b:1 to a:1") != std::string::npos));
  advance(5min);
  CHECK(*b.attaches == 1);
  // It comes back by joining again (a new process: a new host).
  test_host b2{sys};
  join(b2, "b:1");
  REQUIRE(got->kinds.size() == 5);
  CHECK(got->kinds[4] == "handover");
  CHECK(owned_by(got->owners[4], b2.latest(buckets)) == 2);
}

TEST_CASE_FIXTURE(cluster_fixture,
                  "cluster: a batcher that stops on a node that stays up "
                  "has the node attached again, at once the first time and "
                  "later while it keeps happening") {
  start();
  test_host a{sys};
  join(a, "a:1");
  REQUIRE(*a.attaches == 1);
  caf::anon_send_exit(a.latest(buckets)[2], caf::exit_reason::kill);
  run();
  // Lost, then attached again at once.
  REQUIRE(got->kinds.size() == 4);
  CHECK(got->kinds[2] == "lost");
  CHECK(unowned(got->owners[2]) == buckets);
  CHECK(got->kinds[3] == "handover");
  CHECK(*a.attaches == 2);
  CHECK(got->owners[3] == a.latest(buckets));
  CHECK(status().batchers_lost == 1);
  CHECK(status().losses == 0);
  // Again within a minute: a second's wait first.
  caf::anon_send_exit(a.latest(buckets)[0], caf::exit_reason::kill);
  run();
  CHECK(got->kinds.back() == "lost");
  advance(999ms);
  CHECK(*a.attaches == 2);
  advance(1ms);
  CHECK(*a.attaches == 3);
  CHECK(got->kinds.back() == "handover");
  // Batchers of an attachment given up cannot touch the new one.
  caf::anon_send_exit(a.spawned->at(1), caf::exit_reason::kill);
  run();
  CHECK(*a.attaches == 3);
  CHECK(status().batchers_lost == 2);
}

TEST_CASE_FIXTURE(cluster_fixture,
                  "cluster: a configured node that cannot be reached "
                  "settles the start and is tried again with backoff") {
  CHECK(start({"no-port-here"}) == 0);
  CHECK(got->kinds == std::vector<std::string>{"handover"});
  auto st = status();
  CHECK(st.links == 1);
  CHECK(st.unowned_buckets == buckets);
  // The first retry after a second, the next after two more.
  CHECK(sched.has_pending_timeout());
  advance(1s);
  CHECK(sched.has_pending_timeout());
}

TEST_CASE_FIXTURE(cluster_fixture,
                  "cluster: what peers send is checked: bad joins are "
                  "refused, and link messages from others are ignored") {
  start();
  test_host a{sys};
  caf::anon_send(aut, join_atom::value, batcher_host_actor{},
                 std::string{"a:1"});
  join(a, "");
  join(a, std::string(256, 'x'));
  run();
  CHECK(status().joins_refused == 3);
  CHECK(status().links == 0);
  // Claims that a node attached or was lost, not from its link.
  join(a, "a:1");
  auto before = got->kinds.size();
  caf::anon_send(aut, attach_atom::value, std::string{"a:1"}, a.handle,
                 std::vector<batcher_actor>(buckets));
  caf::anon_send(aut, lost_atom::value, std::string{"a:1"}, sys.node(),
                 true);
  run();
  CHECK(got->kinds.size() == before);
  CHECK(status().losses == 0);
  CHECK(status().unowned_buckets == 0);
}

TEST_CASE_FIXTURE(cluster_fixture,
                  "cluster: a host that offers null handles or too few "
                  "batchers is not attached") {
  start();
  test_host hostile{sys, true};
  join(hostile, "h:1");
  CHECK(*hostile.attaches == 1);
  join(hostile, "h:1");
  CHECK(*hostile.attaches == 2);
  CHECK(got->kinds.size() == 1); // the start's handover only
  auto st = status();
  CHECK(st.batcher_nodes.empty());
  CHECK(st.unowned_buckets == buckets);
}

TEST_CASE_FIXTURE(cluster_fixture,
                  "cluster: a node that joined before the start attaches at "
                  "the start") {
  aut = sys.spawn(cluster, buckets, std::vector<std::string>{});
  test_host a{sys};
  join(a, "a:1");
  CHECK(*a.attaches == 0);
  CHECK(ask<uint32_t>(aut, start_atom::value, sink) == 0);
  CHECK(*a.attaches == 1);
  from_this_node(router);
  REQUIRE(got->kinds.size() == 1);
  CHECK(got->owners[0] == a.latest(buckets));
}
