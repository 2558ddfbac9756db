// The source and the real Kafka consumer through rebalances on the embedded
// broker: a source whose actors stall beyond the revoke bound while the
// poll thread goes on and the group moves partitions to another member.
#include "tests/support/harness.hpp"

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scoped_actor.hpp>
#include <doctest/doctest.h>
#include <librdkafka/rdkafkacpp.h>

#include "services/adapters/kafka.hpp"
#include "services/adapters/kafka_consumer.hpp"
#include "actors/pipeline/source.hpp"
#include "actors/pipeline/tokenizer.hpp"
#include "messages/type_ids.hpp"
#include "tests/support/fixture.hpp"

using namespace rpcbatch;
using namespace rpcbatch::test;
using namespace std::chrono_literals;

namespace {

const std::string group = "rebalance-group";

/// One worker thread, so that an actor that blocks stalls every other
/// actor of the system (the consumer's poll thread is not CAF's).
caf::actor_system_config& one_worker(caf::actor_system_config& cfg) {
  cfg.set("scheduler.max-threads", 1);
  register_message_types(cfg);
  return cfg;
}

/// A tokenizer that confirms the words of the k-th record of a batch 20 x k
/// ms later, as if the pipeline behind it had written them: a revoke has
/// words in flight to wait for while commit ticks go on.
tokenizer_actor spawn_pipeline(caf::actor_system& sys,
                               std::shared_ptr<source_actor> source) {
  return sys.spawn([source](tokenizer_actor::pointer self)
                     -> tokenizer_actor::behavior_type {
    return {
      [self, source](record_batch& b) {
        tokenizer_state t;
        auto k = 0;
        for (auto& rec : b.records) {
          delivery_ack ack;
          for (auto& e : t.split(record_batch{{rec}}).elements) {
            ack.records.push_back(
              record_word_count{e.partition, e.offset, 1, e.epoch});
            ack.positions.push_back(e.index);
          }
          self->delayed_send(*source, ++k * 20ms, std::move(ack));
        }
      },
      [](end_of_window_atom) { return uint64_t{0}; },
      [](cancel_atom, std::vector<partition_epoch>&) { return uint64_t{0}; },
      [](status_atom) { return actor_status{}; },
    };
  });
}

node_actor spawn_idle_node(caf::actor_system& sys) {
  return sys.spawn([]() -> node_actor::behavior_type {
    return {
      [](status_atom) { return actor_status{}; },
      [](input_end_atom) {},
      [](drain_atom) {},
      [](fatal_atom, std::string&) {},
      [](tick_atom) {},
      [](actors_atom) { return actor_list{}; },
    };
  });
}

std::map<std::string, std::string>
member_properties(const environment& env, const std::string& strategy) {
  return {{"bootstrap.servers", env.bootstrap()},
          {"group.id", group},
          {"session.timeout.ms", "6000"},
          {"heartbeat.interval.ms", "500"},
          {"partition.assignment.strategy", strategy}};
}

/// The source and its consumer, wired as the node wires them.
struct member {
  caf::actor_system_config cfg;
  caf::actor_system sys{one_worker(cfg)};
  std::shared_ptr<kafka_consumer> consumer;
  std::shared_ptr<source_actor> handle = std::make_shared<source_actor>();

  member(const environment& env, const std::string& strategy) {
    consumer_options copts;
    copts.properties = member_properties(env, strategy);
    copts.offset_reset = "earliest";
    copts.revoke_timeout = 1000ms;
    consumer = std::make_shared<kafka_consumer>(copts);
    source_config scfg;
    scfg.commit_interval = 200ms;
    scfg.revoke_timeout = 500ms;
    auto tok = spawn_pipeline(sys, handle);
    *handle = sys.spawn(source, scfg, consumer, tok,
                        test::spawn_idle_router(sys), spawn_idle_node(sys));
    consumer->start(events_for(*handle, [](const std::string& error) {
      FAIL_CHECK("consumer failed: " << error);
    }));
  }

  ~member() {
    consumer->close({});
    caf::anon_send_exit(*handle, caf::exit_reason::user_shutdown);
  }

  source_status status() {
    caf::scoped_actor self{sys};
    source_status out;
    self->request(*handle, 10s, status_atom::value)
      .receive([&](actor_status& st) { out = *st.as<source_status>(); },
               [&](caf::error& err) {
                 FAIL_CHECK("no status: " << sys.render(err));
               });
    return out;
  }

  /// Blocks the one worker thread until the future is ready: every actor
  /// of this member stalls, the poll thread goes on.
  void stall(std::shared_future<void> until) {
    sys.spawn([until](caf::event_based_actor*) { until.wait(); });
  }

  std::set<int32_t> consumer_partitions() const {
    std::set<int32_t> out;
    for (auto& p : consumer->assignment())
      out.insert(p.partition);
    return out;
  }
};

/// A plain member of the group (librdkafka's own rebalancing) that
/// commits what it reads as it goes.
struct plain_member {
  std::unique_ptr<RdKafka::KafkaConsumer> consumer;
  std::atomic<bool> running{true};
  std::thread thread;

  plain_member(const environment& env, const std::string& strategy) {
    auto props = member_properties(env, strategy);
    props["enable.auto.commit"] = "false";
    props["auto.offset.reset"] = "earliest";
    auto conf = make_kafka_conf(props);
    std::string err;
    consumer.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
    REQUIRE_MESSAGE(consumer, err);
    consumer->subscribe({input_topic});
    thread = std::thread([this] {
      while (running) {
        std::unique_ptr<RdKafka::Message> msg{consumer->consume(50)};
        if (msg->err() == RdKafka::ERR_NO_ERROR)
          consumer->commitAsync(msg.get());
      }
    });
  }

  /// How many partitions librdkafka assigned to this member.
  std::size_t assigned() {
    std::vector<RdKafka::TopicPartition*> parts;
    consumer->assignment(parts);
    auto n = parts.size();
    RdKafka::TopicPartition::destroy(parts);
    return n;
  }

  ~plain_member() {
    running = false;
    thread.join();
    consumer->close();
  }
};

/// Committed offsets that moved backwards between two readings.
std::vector<std::string> moved_back(const std::map<int32_t, int64_t>& before,
                                    const std::map<int32_t, int64_t>& after) {
  std::vector<std::string> out;
  for (auto& [p, offset] : before)
    if (auto i = after.find(p); i != after.end() && i->second < offset)
      out.push_back(std::to_string(p) + ": " + std::to_string(offset) + " -> "
                    + std::to_string(i->second));
  return out;
}

std::vector<kafka_value> lines(std::size_t n, const std::string& word) {
  return std::vector<kafka_value>(n, kafka_value{word + " " + word});
}

void stalled_source_through_a_rebalance(const std::string& strategy) {
  environment env;
  env.produce(lines(300, "before"));
  member a{env, strategy};
  // A has every partition and commits everything it read.
  REQUIRE(wait_until([&] { return env.committed(group) == env.ends(); }, 30s,
                     100ms));
  // A's actors stall; new records arrive; B joins and the group moves
  // partitions while A's source cannot answer the revoke in time.
  std::promise<void> resume;
  a.stall(resume.get_future().share());
  env.produce(lines(300, "during"));
  plain_member b{env, strategy};
  REQUIRE(wait_until([&] { return a.consumer_partitions().size() < 3; }, 60s,
                     100ms));
  // B reads on past what A's stalled source holds of B's partitions, and
  // commits it.
  env.produce(lines(300, "later"));
  auto b_done = [&] {
    auto mine = a.consumer_partitions();
    auto committed = env.committed(group);
    for (auto& [p, end] : env.ends())
      if (mine.count(p) == 0 && committed[p] != end)
        return false;
    return true;
  };
  REQUIRE(wait_until(b_done, 60s, 100ms));
  auto before = env.committed(group);
  auto a_has = a.consumer_partitions();
  REQUIRE_FALSE(a_has.empty());
  // A's source wakes up to a stale revoke (and, after an eager rebalance,
  // a new assignment) and its late commit ticks.
  resume.set_value();
  env.produce(lines(300, "after"));
  // Every reading of the committed offsets, until all are committed and
  // for a second (five commit ticks) after.
  std::vector<std::string> back;
  auto watch = [&] {
    auto now = env.committed(group);
    auto b = moved_back(before, now);
    back.insert(back.end(), b.begin(), b.end());
    before = now;
    return now == env.ends();
  };
  CHECK(wait_until(watch, 30s, 100ms));
  wait_until([&] { return watch() && false; }, 1s, 100ms);
  CHECK_MESSAGE(back.empty(), "committed offsets moved back: "
                                << (back.empty() ? "" : back.front()));
  // Nothing forgotten: A's source tracks exactly its consumer's partitions.
  auto st = a.status();
  CHECK(std::set<int32_t>(st.assigned.begin(), st.assigned.end())
        == a.consumer_partitions());
  CHECK(st.unmatched_partitions.empty());
  CHECK(st.stuck_partitions.empty());
  MESSAGE(strategy, ": A kept ", a_has.size(), " partition(s); ",
          st.revokes, " revoke(s), ", st.records_of_revoked_partitions,
          " record(s) of ended epochs skipped, ", st.epochs_superseded,
          " epoch(s) superseded");
}

/// The committed offsets of `partitions` in `all`.
std::map<int32_t, int64_t> only(const std::map<int32_t, int64_t>& all,
                                const std::set<int32_t>& partitions) {
  std::map<int32_t, int64_t> out;
  for (auto p : partitions)
    if (auto i = all.find(p); i != all.end())
      out.emplace(p, i->second);
  return out;
}

} // namespace

TEST_SUITE("rebalance") {

TEST_CASE("rebalance: the final commit of a member that closes while "
          "another leaves waits for the group and lands") {
  environment env;
  env.produce(lines(300, "before"));
  member a{env, "cooperative-sticky"};
  REQUIRE(wait_until([&] { return env.committed(group) == env.ends(); }, 30s,
                     100ms));
  auto b = std::make_unique<plain_member>(env, "cooperative-sticky");
  REQUIRE(wait_until([&] { return a.consumer_partitions().size() < 3; }, 60s,
                     100ms));
  // Both members steady with their partitions (librdkafka 2.0.2 asserts in
  // its sticky assignor when a member closes before its first assignment).
  REQUIRE(wait_until([&] { return b->assigned() > 0; }, 30s, 100ms));
  REQUIRE_FALSE(a.consumer_partitions().empty());
  // A's actors stall over records that arrive now: at its close, they are
  // confirmed and not yet committed.
  std::promise<void> resume;
  a.stall(resume.get_future().share());
  env.produce(lines(300, "late"));
  auto mine = a.consumer_partitions();
  auto ends = only(env.ends(), mine);
  std::vector<partition_offset> finals;
  for (auto& st : a.consumer->assignment())
    finals.push_back(partition_offset{st.partition, ends[st.partition],
                                      st.epoch});
  // B leaves, A sees the group rebalance and commits at its close.
  b.reset();
  REQUIRE(wait_until([&] { return !a.consumer->group_steady(); }, 30s, 10ms));
  auto error = a.consumer->close(finals);
  resume.set_value();
  CHECK_MESSAGE(error.empty(), error);
  auto committed = only(env.committed(group), mine);
  // (No structured bindings: clang does not capture them in CHECK's lambda.)
  for (auto& pe : ends) {
    auto p = pe.first;
    auto end = pe.second;
    CHECK_MESSAGE(committed[p] == end, "partition " << p << ": committed "
                                                    << committed[p] << " of "
                                                    << end);
  }
}

TEST_CASE("rebalance: a source stalled beyond the revoke bound forgets "
          "nothing and moves no commit back (cooperative)") {
  stalled_source_through_a_rebalance("cooperative-sticky");
}

TEST_CASE("rebalance: a source stalled beyond the revoke bound forgets "
          "nothing and moves no commit back (eager)") {
  stalled_source_through_a_rebalance("range");
}

} // TEST_SUITE
