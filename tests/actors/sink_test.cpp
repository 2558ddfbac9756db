// The sink: the classification of librdkafka errors, the actor with a real
// producer against an embedded broker whose Produce requests fail on
// demand, and the actor message by message on the deterministic scheduler
// with a mock producer whose groups the test settles.
#include "actors/pipeline/sink.hpp"

#include <doctest/doctest.h>

#include <mutex>
#include <set>
#include <tuple>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/scoped_actor.hpp>
#include <librdkafka/rdkafkacpp.h>

#include "actors/observe/reporting.hpp"
#include "actors/pipeline/formats.hpp"
#include "messages/type_ids.hpp"
#include "services/tools/embedded_broker.hpp"
#include "actors/observe/histogram.hpp"
#include "services/adapters/kafka_producer.hpp"
#include "tests/support/fixture.hpp"
#include "tests/support/harness.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

} // namespace

TEST_CASE("sink: librdkafka errors are permanent, transient, fatal or purged") {
  for (auto code :
       {RdKafka::ERR_MSG_SIZE_TOO_LARGE, RdKafka::ERR_RECORD_LIST_TOO_LARGE,
        RdKafka::ERR_INVALID_RECORD, RdKafka::ERR_POLICY_VIOLATION,
        RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED,
        RdKafka::ERR_CLUSTER_AUTHORIZATION_FAILED}) {
    CAPTURE(code);
    CHECK(classify_delivery_failure(code) == failure_kind::permanent);
  }
  for (auto code :
       {RdKafka::ERR__MSG_TIMED_OUT, RdKafka::ERR__QUEUE_FULL,
        RdKafka::ERR__TIMED_OUT, RdKafka::ERR__TRANSPORT,
        RdKafka::ERR_NOT_ENOUGH_REPLICAS, RdKafka::ERR_LEADER_NOT_AVAILABLE,
        RdKafka::ERR_UNKNOWN_TOPIC_OR_PART}) {
    CAPTURE(code);
    CHECK(classify_delivery_failure(code) == failure_kind::transient);
  }
  CHECK(classify_delivery_failure(RdKafka::ERR__FATAL) == failure_kind::fatal);
  CHECK(classify_delivery_failure(RdKafka::ERR__PURGE_QUEUE) == failure_kind::purged);
  CHECK(classify_delivery_failure(RdKafka::ERR__PURGE_INFLIGHT)
        == failure_kind::purged);
  CHECK(kafka_error_name(RdKafka::ERR_MSG_SIZE_TOO_LARGE)
        == "MSG_SIZE_TOO_LARGE");
  CHECK(contains(kafka_error_text(RdKafka::ERR_MSG_SIZE_TOO_LARGE),
                 "too large"));
}

// -- the actor with a real producer -------------------------------------------

namespace {

const std::string out_topic = "out";
const std::string dlq_topic = "dlq";

/// What the mock source and node received (from CAF's threads).
struct received {
  std::mutex mtx;
  std::vector<delivery_ack> acks;
  std::vector<std::string> fatals;

  /// Every (partition, offset, position) acknowledged, with repeats.
  std::multiset<std::tuple<int32_t, int64_t, uint32_t>> positions() {
    std::lock_guard<std::mutex> guard{mtx};
    std::multiset<std::tuple<int32_t, int64_t, uint32_t>> out;
    for (auto& ack : acks) {
      std::size_t p = 0;
      for (auto& r : ack.records)
        for (uint32_t i = 0; i < r.words; ++i)
          out.emplace(r.partition, r.offset, ack.positions.at(p++));
      CHECK(p == ack.positions.size());
    }
    return out;
  }

  std::vector<std::string> fatal_errors() {
    std::lock_guard<std::mutex> guard{mtx};
    return fatals;
  }
};

source_actor spawn_source(caf::actor_system& sys,
                          std::shared_ptr<received> got) {
  return sys.spawn([got]() -> source_actor::behavior_type {
    return {
      [](record_batch&) {},
      [got](delivery_ack& ack) {
        std::lock_guard<std::mutex> guard{got->mtx};
        got->acks.push_back(std::move(ack));
      },
      [](assigned_atom, partition_offsets&) {},
      [](revoked_atom, partition_offsets&) {},
      [](revoked_atom, uint64_t) {},
      [](eof_atom, partition_offset&) {},
      [](tick_atom) {},
      [](lost_atom, word_batch& words) { return words; },
      [](drain_atom) -> caf::result<bool, partition_offsets> {
        return {true, partition_offsets{}};
      },
      [](pause_atom, bool paused) { return paused; },
      [](status_atom) { return actor_status{}; },
    };
  });
}

node_actor spawn_node(caf::actor_system& sys, std::shared_ptr<received> got) {
  return sys.spawn([got]() -> node_actor::behavior_type {
    return {
      [](status_atom) { return actor_status{}; },
      [](input_end_atom) {},
      [](drain_atom) {},
      [got](fatal_atom, std::string& error) {
        std::lock_guard<std::mutex> guard{got->mtx};
        got->fatals.push_back(std::move(error));
      },
      [](tick_atom) {},
      [](actors_atom) { return actor_list{}; },
    };
  });
}

caf::actor_system_config& with_types(caf::actor_system_config& cfg) {
  register_message_types(cfg);
  return cfg;
}

/// A sink (`aut`) writing to "out" (partition 0 led by broker 1) and "dlq"
/// (led by broker 2) of a two-broker embedded cluster, so that errors
/// injected on broker 1 hit outputs only; a mock source records the
/// acknowledgements, a mock node the fatal errors.
struct sink_fixture {
  embedded_broker broker{2, {}};
  std::shared_ptr<kafka_producer> producer;
  caf::actor_system_config cfg;
  caf::actor_system sys{with_types(cfg)};
  std::shared_ptr<received> got = std::make_shared<received>();
  source_actor source = spawn_source(sys, got);
  node_actor node = spawn_node(sys, got);
  sink_actor aut;

  explicit sink_fixture(kafka_props extra = {}) {
    broker.create_topic({out_topic, 1});
    broker.create_topic({dlq_topic, 1});
    broker.set_leader(out_topic, 0, 1);
    broker.set_leader(dlq_topic, 0, 2);
    extra["bootstrap.servers"] = broker.bootstrap();
    producer = std::make_shared<kafka_producer>(extra);
    sink_config sc;
    sc.output_topic = out_topic;
    sc.dead_letter_topic = dlq_topic;
    sc.retry_backoff = 10ms;
    aut = sys.spawn(sink, sc, producer,
                    std::make_shared<latency_histogram>(), node);
    caf::anon_send(aut, source);
  }

  ~sink_fixture() {
    for (auto& a : {caf::actor_cast<caf::actor>(aut),
                    caf::actor_cast<caf::actor>(source),
                    caf::actor_cast<caf::actor>(node)})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    sys.await_all_actors_done();
  }

  /// Waits until `n` positions are acknowledged (or 30 s passed).
  bool acknowledged(std::size_t n) {
    return test::wait_until([&] { return got->positions().size() >= n; },
                            30s, 10ms);
  }

  sink_status status() {
    caf::scoped_actor self{sys};
    sink_status out;
    self->request(aut, 10s, status_atom::value)
      .receive(
        [&](actor_status& st) { out = test::status_as<sink_status>(st); },
        [&](caf::error& err) { FAIL("no status: " << sys.render(err)); });
    return out;
  }

  std::vector<test::kafka_record> read(const std::string& topic) {
    return test::read_topic(broker.bootstrap(), topic);
  }
};

/// `words` elements of records at offsets 40, 41, ... of partition 1,
/// three words a record, named prefix0, prefix1, ...
std::vector<element> elements_of(const std::string& prefix, int words,
                                 int64_t first_offset = 40) {
  std::vector<element> out;
  for (int i = 0; i < words; ++i)
    out.push_back(element{prefix + std::to_string(i), 1,
                          first_offset + i / 3, 1700000000000 + i, 0,
                          static_cast<uint32_t>(i % 3)});
  return out;
}

resolved_batch resolved(const std::vector<element>& elements) {
  resolved_batch b{elements, {}};
  for (auto& e : elements)
    b.lengths.push_back(static_cast<int32_t>(e.word.size()));
  return b;
}

std::multiset<std::tuple<int32_t, int64_t, uint32_t>>
positions_of(const std::vector<element>& elements) {
  std::multiset<std::tuple<int32_t, int64_t, uint32_t>> out;
  for (auto& e : elements)
    out.emplace(e.partition, e.offset, e.index);
  return out;
}

std::vector<std::string> keys(const std::vector<test::kafka_record>& xs) {
  std::vector<std::string> out;
  for (auto& x : xs)
    out.push_back(x.key);
  return out;
}

} // namespace

TEST_CASE_FIXTURE(sink_fixture,
                  "sink: outputs the broker refuses for good become dead "
                  "letters with provenance, each word acknowledged once") {
  // The first Produce request for the output partition is refused; its
  // records (the first ones produced, in order) are refused, the rest of
  // the batch is written.
  broker.fail_produce_requests(1, RdKafka::ERR_MSG_SIZE_TOO_LARGE, 1);
  auto first = elements_of("w", 12);
  caf::anon_send(aut, resolved(first));
  REQUIRE(acknowledged(first.size()));
  CHECK(broker.pending_produce_errors(1) == 0);
  auto dead = read(dlq_topic);
  auto outs = read(out_topic);
  REQUIRE(!dead.empty());
  REQUIRE(dead.size() + outs.size() == first.size());
  // The refused records are a prefix of the batch, the outputs the rest.
  std::vector<std::string> words;
  for (auto& e : first)
    words.push_back(e.word);
  auto refused = keys(dead);
  auto written = keys(outs);
  CHECK(refused == std::vector<std::string>(words.begin(),
                                            words.begin() + dead.size()));
  CHECK(written == std::vector<std::string>(words.begin() + dead.size(),
                                            words.end()));
  for (std::size_t i = 0; i < dead.size(); ++i) {
    auto& e = first[i];
    auto letter = parse_dead_letter(dead[i].value);
    REQUIRE(letter);
    CHECK(letter->word == e.word);
    CHECK_FALSE(letter->truncated());
    CHECK(letter->input_topic == "input-topic");
    CHECK(letter->partition == e.partition);
    CHECK(letter->offset == e.offset);
    CHECK(letter->index == e.index);
    CHECK(letter->timestamp == e.timestamp);
    CHECK(contains(letter->reason, "MSG_SIZE_TOO_LARGE"));
    CHECK(contains(letter->reason, "Message size too large"));
  }
  // Every word acknowledged exactly once, whichever way it went.
  CHECK(got->positions() == positions_of(first));
  CHECK(got->fatal_errors().empty());
  auto st = status();
  CHECK(st.permanent_refusals == dead.size());
  CHECK(st.refusals_by_error.at("MSG_SIZE_TOO_LARGE") == dead.size());
  CHECK(st.dead_letters == dead.size());
  CHECK(st.outputs == outs.size());
  CHECK(st.reproduced == 0);
  // The errors are used up: the next batch is written whole.
  auto second = elements_of("v", 6, 50);
  caf::anon_send(aut, resolved(second));
  REQUIRE(acknowledged(first.size() + second.size()));
  auto all = positions_of(first);
  for (auto& p : positions_of(second))
    all.insert(p);
  CHECK(got->positions() == all);
  CHECK(read(out_topic).size() == outs.size() + second.size());
  CHECK(read(dlq_topic).size() == dead.size());
  CHECK(status().outputs == outs.size() + second.size());
  CHECK(got->fatal_errors().empty());
  MESSAGE(dead.size(), " of ", first.size(), " outputs refused");
}

TEST_CASE_FIXTURE(sink_fixture,
                  "sink: an output too large for the producer is a dead "
                  "letter with its word truncated") {
  std::string huge(1100 * 1000, 'a');
  auto batch = elements_of("small", 2);
  batch.insert(batch.begin() + 1, element{huge, 2, 7, 1700000000000, 0, 5});
  caf::anon_send(aut, resolved(batch));
  REQUIRE(acknowledged(batch.size()));
  CHECK(got->positions() == positions_of(batch));
  CHECK(keys(read(out_topic)) == std::vector<std::string>{"small0", "small1"});
  auto dead = read(dlq_topic);
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].key == huge.substr(0, 1024));
  auto letter = parse_dead_letter(dead[0].value);
  REQUIRE(letter);
  CHECK(letter->truncated());
  CHECK(letter->word_bytes == huge.size());
  CHECK(letter->partition == 2);
  CHECK(letter->offset == 7);
  CHECK(letter->index == 5);
  CHECK(contains(letter->reason, "too large"));
  CHECK(status().too_large == 1);
  CHECK(status().permanent_refusals == 1);
  CHECK(got->fatal_errors().empty());
}

TEST_CASE_FIXTURE(sink_fixture,
                  "sink: a dead letter the broker refuses for good is fatal, "
                  "naming the dead-letter topic") {
  broker.fail_produce_requests(1, RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED, 2);
  caf::anon_send(aut, failed_batch{elements_of("x", 2), "UNAVAILABLE: down"});
  REQUIRE(test::wait_until([&] { return !got->fatal_errors().empty(); }, 30s,
                           10ms));
  auto fatals = got->fatal_errors();
  CHECK(fatals.size() == 1);
  CHECK(contains(fatals[0], "dead-letter topic " + dlq_topic));
  CHECK(contains(fatals[0], "authorization"));
  CHECK(got->positions().empty());
}

TEST_CASE_FIXTURE(sink_fixture,
                  "sink: records that failed transiently are produced again "
                  "and acknowledged once") {
  // As the delivery reports would hand them back after a local timeout.
  auto outs = elements_of("again", 2);
  auto letters = elements_of("letter", 1, 60);
  caf::anon_send(aut, undelivered_batch{outs, {6, 6}, {},
                                        {RdKafka::ERR__MSG_TIMED_OUT,
                                         RdKafka::ERR__QUEUE_FULL}});
  caf::anon_send(aut, undelivered_batch{letters, {}, {"UNAVAILABLE: down"},
                                        {RdKafka::ERR__MSG_TIMED_OUT}});
  REQUIRE(acknowledged(3));
  auto all = positions_of(outs);
  for (auto& p : positions_of(letters))
    all.insert(p);
  CHECK(got->positions() == all);
  CHECK(keys(read(out_topic)) == std::vector<std::string>{"again0", "again1"});
  auto dead = read(dlq_topic);
  REQUIRE(dead.size() == 1);
  auto letter = parse_dead_letter(dead[0].value);
  REQUIRE(letter);
  CHECK(letter->reason == "UNAVAILABLE: down");
  CHECK(letter->offset == 60);
  CHECK(status().reproduced == 3);
  CHECK(status().permanent_refusals == 0);
  CHECK(got->fatal_errors().empty());
}

TEST_CASE_FIXTURE(sink_fixture,
                  "sink: purged records are dropped unacknowledged, a fatal "
                  "producer error is fatal") {
  auto purged = elements_of("purged", 1);
  caf::anon_send(aut, undelivered_batch{purged, {6}, {},
                                        {RdKafka::ERR__PURGE_QUEUE}});
  // A batch sent after it: once it is acknowledged, the purge was handled.
  auto later = elements_of("later", 1, 70);
  caf::anon_send(aut, resolved(later));
  REQUIRE(acknowledged(1));
  CHECK(got->positions() == positions_of(later));
  CHECK(status().purged == 1);
  CHECK(got->fatal_errors().empty());
  caf::anon_send(aut, undelivered_batch{later, {5}, {},
                                        {RdKafka::ERR__FATAL}});
  REQUIRE(test::wait_until([&] { return !got->fatal_errors().empty(); }, 30s,
                           10ms));
  CHECK(contains(got->fatal_errors().at(0), "producer failed"));
}

namespace {

/// A producer whose records time out after 1 s in flight.
struct timing_out_fixture : sink_fixture {
  timing_out_fixture()
    : sink_fixture({{"message.timeout.ms", "1000"},
                    {"socket.timeout.ms", "1000"}}) {
    // nop
  }
};

} // namespace

TEST_CASE_FIXTURE(timing_out_fixture,
                  "sink: an output whose delivery timed out is produced "
                  "again, not dead-lettered") {
  // The first Produce request is answered (and stored) only after 3 s: the
  // producer reports the records as timed out, the sink writes them again.
  broker.delay_produce_requests(1, 3s, 1);
  auto batch = elements_of("slow", 3);
  caf::anon_send(aut, resolved(batch));
  REQUIRE(acknowledged(batch.size()));
  CHECK(got->positions() == positions_of(batch));
  CHECK(status().reproduced >= 1);
  CHECK(status().permanent_refusals == 0);
  CHECK(read(dlq_topic).empty());
  // At least once: the late first attempt may be stored too.
  std::multiset<std::string> written;
  for (auto& k : keys(read(out_topic)))
    written.insert(k);
  for (auto& e : batch)
    CHECK(written.count(e.word) >= 1);
  CHECK(got->fatal_errors().empty());
}

// -- the actor on the deterministic scheduler, with a mock producer -----------

namespace {

/// A producer that keeps what it is given; the test settles each closed
/// group (in any order) with the failures it chooses.
struct mock_producer final : sink_producer {
  struct record {
    std::string topic;
    std::string key;
    std::string value;
  };
  struct group {
    std::vector<record> records;
    std::vector<delivery_failure> refused;
    delivery_group::callback done;
  };
  std::vector<group> groups;
  std::map<const delivery_group*, std::size_t> index_of;
  std::vector<std::shared_ptr<delivery_group>> alive;
  /// What produce() answers (0: queued).
  int32_t produce_answer = 0;
  std::string fatal;

  std::shared_ptr<delivery_group> open_group(uint32_t size) override {
    auto g = std::make_shared<delivery_group>(size);
    index_of[g.get()] = groups.size();
    groups.emplace_back();
    alive.push_back(g);
    return g;
  }

  int32_t produce(const std::string& topic, std::string_view key,
                  std::string_view value, delivery_group& g,
                  uint32_t index) override {
    auto& mine = groups.at(index_of.at(&g));
    mine.records.push_back(
      {topic, std::string{key}, std::string{value}});
    if (produce_answer != 0)
      mine.refused.push_back({index, produce_answer});
    return produce_answer;
  }

  void close(delivery_group& g, delivery_group::callback done) override {
    groups.at(index_of.at(&g)).done = std::move(done);
  }

  std::string fatal_error() const override {
    return fatal;
  }
  uint64_t delivered() const override {
    return 0;
  }
  uint64_t failed() const override {
    return 0;
  }
  int outq_len() const override {
    return 0;
  }

  /// The broker's answer for group `n`: these records failed (the ones
  /// produce() refused fail too), the others are confirmed.
  void settle(std::size_t n, std::vector<delivery_failure> failures = {}) {
    auto& g = groups.at(n);
    REQUIRE(g.done);
    failures.insert(failures.end(), g.refused.begin(), g.refused.end());
    std::sort(failures.begin(), failures.end(),
              [](auto& a, auto& b) { return a.index < b.index; });
    auto done = std::move(g.done);
    g.done = nullptr;
    done(std::move(failures));
  }
};

struct sink_actor_fixture : test::deterministic {
  std::shared_ptr<mock_producer> producer = std::make_shared<mock_producer>();
  std::shared_ptr<received> got = std::make_shared<received>();
  source_actor source = spawn_source(sys, got);
  node_actor node = spawn_node(sys, got);
  sink_actor aut;

  sink_actor_fixture() {
    sink_config sc;
    sc.output_topic = out_topic;
    sc.dead_letter_topic = dlq_topic;
    sc.retry_backoff = 200ms;
    aut = sys.spawn(sink, sc, std::shared_ptr<sink_producer>{producer},
                    std::make_shared<latency_histogram>(), node);
    caf::anon_send(aut, source);
    run();
  }

  ~sink_actor_fixture() {
    for (auto& a : {caf::actor_cast<caf::actor>(aut),
                    caf::actor_cast<caf::actor>(source),
                    caf::actor_cast<caf::actor>(node)})
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  /// Settles group `n` and runs what follows.
  void settle(std::size_t n, std::vector<delivery_failure> failures = {}) {
    producer->settle(n, std::move(failures));
    run();
  }

  sink_status status() {
    return test::status_as<sink_status>(
      ask<actor_status>(aut, status_atom::value));
  }
};

} // namespace

TEST_SUITE("sink actor") {

TEST_CASE_FIXTURE(sink_actor_fixture, "one group of outputs per batch, "
                                      "acknowledged once the broker "
                                      "confirmed it") {
  auto batch = elements_of("w", 4);
  caf::anon_send(aut, resolved(batch));
  run();
  REQUIRE(producer->groups.size() == 1);
  auto& records = producer->groups[0].records;
  REQUIRE(records.size() == 4);
  CHECK(records[0].topic == out_topic);
  CHECK(records[0].key == "w0");
  CHECK(records[0].value == output_json("w0", 2));
  CHECK(got->positions().empty()); // not confirmed yet
  settle(0);
  CHECK(got->positions() == positions_of(batch));
  CHECK(status().outputs == 4);
}

TEST_CASE_FIXTURE(sink_actor_fixture, "an output refused for good becomes a "
                                      "dead letter; its neighbours are "
                                      "acknowledged at once") {
  auto batch = elements_of("w", 3);
  caf::anon_send(aut, resolved(batch));
  run();
  settle(0, {{1, RdKafka::ERR_MSG_SIZE_TOO_LARGE}});
  CHECK(got->positions().size() == 2);
  REQUIRE(producer->groups.size() == 2);
  auto& letter = producer->groups[1].records.at(0);
  CHECK(letter.topic == dlq_topic);
  CHECK(contains(letter.value, "MSG_SIZE_TOO_LARGE"));
  CHECK(contains(letter.value, "\"word\":\"w1\""));
  settle(1);
  CHECK(got->positions() == positions_of(batch));
  CHECK(status().permanent_refusals == 1);
  CHECK(status().dead_letters == 1);
}

TEST_CASE_FIXTURE(sink_actor_fixture, "a transient failure is produced again "
                                      "after the backoff, once per round") {
  auto batch = elements_of("w", 3);
  caf::anon_send(aut, resolved(batch));
  run();
  settle(0, {{0, RdKafka::ERR__MSG_TIMED_OUT},
             {2, RdKafka::ERR_NOT_ENOUGH_REPLICAS}});
  CHECK(got->positions().size() == 1);
  CHECK(producer->groups.size() == 1); // waits for the backoff
  advance(199ms);
  CHECK(producer->groups.size() == 1);
  advance(1ms);
  REQUIRE(producer->groups.size() == 2);
  CHECK(producer->groups[1].records.size() == 2); // both in one group
  CHECK(producer->groups[1].records[0].topic == out_topic);
  settle(1);
  CHECK(got->positions() == positions_of(batch));
  CHECK(status().reproduced == 2);
  CHECK(status().dead_letters == 0);
}

TEST_CASE_FIXTURE(sink_actor_fixture, "records produce() refused at once are "
                                      "settled like the broker's failures") {
  producer->produce_answer = RdKafka::ERR__QUEUE_FULL;
  auto batch = elements_of("w", 2);
  caf::anon_send(aut, resolved(batch));
  run();
  producer->produce_answer = 0;
  settle(0);
  CHECK(got->positions().empty());
  CHECK(status().produce_errors == 2);
  advance(200ms);
  REQUIRE(producer->groups.size() == 2);
  settle(1);
  CHECK(got->positions() == positions_of(batch));
}

TEST_CASE_FIXTURE(sink_actor_fixture, "a batch without one length per element "
                                      "goes to the dead letters whole") {
  auto batch = elements_of("w", 3);
  caf::anon_send(aut, resolved_batch{batch, {1, 2}});
  run();
  REQUIRE(producer->groups.size() == 1);
  for (auto& r : producer->groups[0].records)
    CHECK(r.topic == dlq_topic);
  settle(0);
  CHECK(got->positions() == positions_of(batch));
  CHECK(status().outputs == 0);
}

TEST_CASE_FIXTURE(sink_actor_fixture, "a fatal producer error, or a refused "
                                      "dead letter, stops the node, and "
                                      "nothing is acknowledged") {
  SUBCASE("fatal") {
    caf::anon_send(aut, resolved(elements_of("w", 2)));
    run();
    producer->fatal = "idempotence lost";
    settle(0, {{0, RdKafka::ERR__FATAL}, {1, RdKafka::ERR__FATAL}});
    REQUIRE(got->fatal_errors().size() == 1);
    CHECK(contains(got->fatal_errors()[0], "idempotence lost"));
  }
  SUBCASE("dead letter refused") {
    caf::anon_send(aut, failed_batch{elements_of("w", 2), "bad input"});
    run();
    settle(0, {{0, RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED},
               {1, RdKafka::ERR_TOPIC_AUTHORIZATION_FAILED}});
    REQUIRE(got->fatal_errors().size() == 1);
    CHECK(contains(got->fatal_errors()[0], "refused a dead letter"));
  }
  CHECK(got->positions().empty());
  // After the fatal error, later failures produce nothing more.
  advance(1s);
  CHECK(producer->groups.size() == 1);
}


} // TEST_SUITE
