// The inspector on the deterministic scheduler: real batchers behind a
// directory of mock actors; what the console asks (actors, status, events,
// controls) and the Prometheus text. Plus the pure functions it uses.
#include "actors/inspector.hpp"

#include <regex>
#include <sstream>

#include <boost/json/parse.hpp>
#include <doctest/doctest.h>

#include "actors/batcher.hpp"
#include "actors/inspection.hpp"
#include "fixture.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

status_client spawn_mock(caf::actor_system& sys, actor_status status) {
  return sys.spawn([status]() -> status_client::behavior_type {
    return {[status](status_atom) { return status; }};
  });
}

/// The actors of a pipeline: mocks, but ten real batchers writing to a
/// recording rpc-caller.
struct inspector_fixture : test::deterministic {
  test::recorded<rpc_job> jobs = std::make_shared<std::vector<rpc_job>>();
  std::vector<batcher_actor> batchers;
  actor_list actors;
  actor_directory directory;
  std::vector<caf::actor> spawned;

  inspector_fixture() {
    auto recorder = jobs;
    auto rpc = sys.spawn([recorder]() -> rpc_caller_actor::behavior_type {
      return {
        [recorder](rpc_job& job) { recorder->push_back(std::move(job)); },
        [](rpc_job&, batcher_actor&) {},
        [](rpc_reply&) {},
        [](retry_atom, uint64_t) {},
        [](tick_atom) {},
        [](status_atom) { return actor_status{0, rpc_caller_status{}}; },
      };
    });
    source_status src;
    src.records = 5;
    src.words = 40;
    router_status rtr;
    rtr.batches = 5;
    actors.push_back(
      {"sink", "sink", "", spawn_mock(sys, {0, sink_status{}})});
    actors.push_back({"rpc-caller", "rpc-caller", "", rpc});
    actors.push_back({"source", "source", "", spawn_mock(sys, {0, src})});
    actors.push_back({"tokenizer", "tokenizer", "",
                      spawn_mock(sys, {0, tokenizer_status{5, 40}})});
    actors.push_back({"router", "router", "", spawn_mock(sys, {0, rtr})});
    for (uint32_t k = 0; k < 10; ++k) {
      batcher_config cfg;
      cfg.bucket = k;
      cfg.batch_size = 10;
      cfg.max_wait = 4s;
      batchers.push_back(sys.spawn(batcher, cfg, rpc, sink_actor{}));
      actors.push_back({"batcher-" + std::to_string(k), "batcher", "",
                        batchers.back(), static_cast<int32_t>(k)});
    }
    auto list = actors;
    directory = sys.spawn([list]() -> actor_directory::behavior_type {
      return {[list](actors_atom) { return list; }};
    });
    for (auto& e : actors)
      spawned.push_back(caf::actor_cast<caf::actor>(e.handle));
    spawned.push_back(caf::actor_cast<caf::actor>(directory));
    run();
  }

  ~inspector_fixture() {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  inspector_actor make(bool control = false, std::string token = {}) {
    inspector_config cfg;
    cfg.control = control;
    cfg.control_token = std::move(token);
    cfg.sample_interval = 1s;
    auto aut = sys.spawn(inspector, cfg,
                         inspector_targets{directory, {}, {}});
    spawned.push_back(caf::actor_cast<caf::actor>(aut));
    run();
    return aut;
  }

  template <class... Ts>
  boost::json::value ask_json(const inspector_actor& aut, Ts... xs) {
    return boost::json::parse(ask<std::string>(aut, xs...));
  }

  void put(uint32_t bucket, std::initializer_list<const char*> words) {
    word_batch b;
    int64_t offset = 0;
    for (auto w : words)
      b.elements.push_back(element{w, 0, offset++, 1000});
    caf::anon_send(batchers.at(bucket), std::move(b));
    run();
  }
};

/// An actor of a sample.
observed actor(std::string name, std::string role, actor_status status,
               std::string node = "", int32_t bucket = -1) {
  return {directory_entry{std::move(name), std::move(role), std::move(node),
                          {}, bucket},
          std::move(status)};
}

/// A sample of one rpc-caller whose breaker is `breaker`, opened `opens`
/// times.
status_map breaker_sample(const char* breaker, uint64_t opens) {
  rpc_caller_status st;
  st.breaker = breaker;
  st.breaker_opens = opens;
  return {{"rpc-caller", actor("rpc-caller", "rpc-caller", {0, st})}};
}

bool has_event(const boost::json::value& events, const std::string& kind,
               const std::string& actor, const std::string& detail) {
  for (auto& e : events.as_array()) {
    auto& o = e.as_object();
    if (o.at("kind").as_string() == kind && o.at("actor").as_string() == actor
        && o.at("detail").as_string() == detail)
      return true;
  }
  return false;
}

} // namespace

TEST_SUITE("inspector") {

TEST_CASE_FIXTURE(inspector_fixture, "inspector: actors lists every actor") {
  auto aut = make();
  auto answer = ask_json(aut, actors_atom::value);
  std::set<std::string> names;
  for (auto& a : answer.as_array()) {
    names.insert(std::string{a.at("name").as_string()});
    CHECK(a.as_object().contains("mailbox"));
    CHECK(a.as_object().contains("summary"));
  }
  std::set<std::string> expected{"source", "tokenizer", "router",
                                 "rpc-caller", "sink"};
  for (int k = 0; k < 10; ++k)
    expected.insert("batcher-" + std::to_string(k));
  CHECK(names == expected);
}

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: status of a batcher shows its bag and counter") {
  auto aut = make();
  put(3, {"apple", "avocado", "apple"});
  auto st = ask_json(aut, status_atom::value, std::string{"batcher-3"});
  REQUIRE(st.is_object());
  CHECK(st.at("bag_size").to_number<int>() == 3);
  CHECK(st.at("counter").to_number<int>() == 3);
  CHECK(st.at("bucket").to_number<int>() == 3);
  CHECK(st.at("timer_armed").as_bool());
  CHECK(st.at("mailbox").to_number<int>() == 0);
  auto missing = ask_json(aut, status_atom::value, std::string{"batcher-42"});
  CHECK(missing.as_object().contains("error"));
}

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: events show a timer flush after max_wait") {
  auto aut = make();
  put(3, {"apple"});
  for (int i = 0; i < 3; ++i)
    advance(1s);
  auto events = ask_json(aut, events_atom::value, uint32_t{100});
  CHECK_FALSE(has_event(events, "flush", "batcher-3", "trigger timer"));
  CHECK(jobs->empty());
  // max_wait (4 s) passes; the next sample sees the flush.
  advance(1s);
  advance(1s);
  REQUIRE(jobs->size() == 1);
  events = ask_json(aut, events_atom::value, uint32_t{100});
  CHECK(has_event(events, "flush", "batcher-3", "trigger timer"));
  // A count flush is an event too; the ring answers the last N.
  put(5, {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"});
  advance(1s);
  events = ask_json(aut, events_atom::value, uint32_t{1});
  REQUIRE(events.as_array().size() == 1);
  CHECK(has_event(events, "flush", "batcher-5", "trigger count"));
}

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: controls are refused unless allowed") {
  auto refusing = make(false);
  put(3, {"apple", "avocado"});
  for (auto cmd : {"flush", "pause", "resume", "drain"}) {
    auto answer = ask_json(refusing, control_atom::value, std::string{cmd},
                           std::string{"batcher-3"}, std::string{});
    auto err = answer.as_object().if_contains("error");
    REQUIRE(err != nullptr);
    CHECK(std::string{err->as_string()}.find("refused") != std::string::npos);
  }
  CHECK(jobs->empty());
  auto allowing = make(true);
  auto answer = ask_json(allowing, control_atom::value, std::string{"flush"},
                         std::string{"batcher-3"}, std::string{});
  CHECK(answer.at("ok").as_bool());
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).trigger
        == static_cast<uint8_t>(flush_trigger::end_of_window));
  CHECK(jobs->at(0).elements.size() == 2);
  // No consumer and no node here: pause and drain say so.
  CHECK(ask_json(allowing, control_atom::value, std::string{"pause"},
                 std::string{}, std::string{})
          .as_object()
          .contains("error"));
  auto events = ask_json(allowing, events_atom::value, uint32_t{10});
  CHECK(has_event(events, "control", "console",
                  "flush batcher-3: flushed 2 element(s)"));
}

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: metrics are Prometheus text with the batchers' "
                  "bags") {
  auto aut = make();
  put(7, {"x", "y"});
  auto text = ask<std::string>(aut, metrics_atom::value);
  std::regex sample{R"(^[a-zA-Z_:][a-zA-Z0-9_:]*)"
                    R"((\{[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")"
                    R"((,[a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*")*\})?)"
                    R"( ([-+0-9.eE]+|[-+]Inf|NaN)$)"};
  std::istringstream in{text};
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("# ", 0) == 0)
      continue;
    CHECK_MESSAGE(std::regex_match(line, sample), line);
    ++samples;
  }
  CHECK(samples > 20);
  CHECK(text.find("rpcbatch_batcher_bag_size{actor=\"batcher-7\","
                  "node=\"local\"} 2\n")
        != std::string::npos);
  CHECK(text.find("rpcbatch_words_total 40\n") != std::string::npos);
}

TEST_CASE("inspection: events between two samples") {
  batcher_status b1;
  b1.flushes.count = 2;
  b1.flushes.timer = 1;
  rpc_caller_status rpc1;
  rpc1.failed_calls = 1;
  rpc1.retries = 1;
  rpc1.errors_by_code = {{"UNAVAILABLE", 1}};
  source_status src1;
  src1.assigned = {0, 1};
  status_map before{
    {"batcher-1@a:1", actor("batcher-1@a:1", "batcher", {0, b1}, "a:1", 1)},
    {"rpc-caller", actor("rpc-caller", "rpc-caller", {0, rpc1})},
    {"source", actor("source", "source", {0, src1})},
    {"router", actor("router", "router", {0, router_status{}})}};
  auto b2 = b1;
  b2.flushes.timer = 3;
  auto rpc2 = rpc1;
  rpc2.failed_calls = 3;
  rpc2.retries = 2;
  rpc2.errors_by_code = {{"UNAVAILABLE", 3}};
  auto src2 = src1;
  src2.assigned = {0};
  src2.revokes = 1;
  router_status rtr2;
  rtr2.resent = 120;
  status_map after{
    {"batcher-1@b:2", actor("batcher-1@b:2", "batcher", {0, b2}, "b:2", 1)},
    {"rpc-caller", actor("rpc-caller", "rpc-caller", {0, rpc2})},
    {"source", actor("source", "source", {0, src2})},
    {"router", actor("router", "router", {0, rtr2})}};
  auto events = diff_events(before, after);
  boost::json::array all;
  for (auto& e : events)
    all.push_back(e);
  boost::json::value v = all;
  CHECK(has_event(v, "flush", "batcher-1@b:2", "trigger timer"));
  CHECK(has_event(v, "rpc_error", "rpc-caller", "UNAVAILABLE x2"));
  CHECK(has_event(v, "retry", "rpc-caller", "calls retried"));
  CHECK(has_event(v, "rebalance", "source", "partitions revoked"));
  CHECK(has_event(v, "rebalance", "source", "assigned [0]"));
  CHECK(has_event(v, "rebalance", "batcher-1", "moved from a:1 to b:2"));
  CHECK(has_event(v, "resend", "router",
                  "unconfirmed words of a lost batcher node sent to new "
                  "owners"));
}

TEST_CASE("inspection: the circuit breaker in summaries, events and "
          "metrics") {
  rpc_caller_status open;
  open.inflight = 1;
  open.max_inflight = 16;
  open.waiting = 30;
  open.calls = 9;
  open.failed_calls = 6;
  open.retries = 6;
  open.breaker = "open";
  open.breaker_opens = 1;
  open.breaker_open_ms = 1200;
  open.words_waiting = 340;
  auto line = summary_line({0, open});
  CHECK(line.find(", breaker open 1200 ms, 340 words waiting")
        != std::string::npos);
  rpc_caller_status closed;
  closed.breaker = "closed";
  closed.breaker_opens = 1;
  line = summary_line({0, closed});
  const std::string tail = ", breaker closed";
  REQUIRE(line.size() >= tail.size());
  CHECK(line.substr(line.size() - tail.size()) == tail);
  auto events = [](const status_map& before, const status_map& after) {
    boost::json::array all;
    for (auto& e : diff_events(before, after))
      all.push_back(e);
    boost::json::value v = std::move(all);
    return v;
  };
  auto none = breaker_sample("closed", 0);
  auto opened = breaker_sample("open", 1);
  auto shut = breaker_sample("closed", 1);
  auto again = breaker_sample("closed", 2);
  const std::string open_text = "circuit breaker open: calls wait for the "
                                "RPC target";
  const std::string closed_text = "circuit breaker closed: waiting calls go";
  auto v = events(none, opened);
  CHECK(has_event(v, "breaker_open", "rpc-caller", open_text));
  CHECK_FALSE(has_event(v, "breaker_closed", "rpc-caller", closed_text));
  v = events(opened, shut);
  CHECK_FALSE(has_event(v, "breaker_open", "rpc-caller", open_text));
  CHECK(has_event(v, "breaker_closed", "rpc-caller", closed_text));
  v = events(shut, again); // opened and closed between two samples
  CHECK(has_event(v, "breaker_open", "rpc-caller", open_text));
  CHECK(has_event(v, "breaker_closed", "rpc-caller", closed_text));
  CHECK(events(opened, opened).as_array().empty());
  rpc_caller_status here;
  here.breaker = "half_open";
  here.breaker_opens = 2;
  here.words_waiting = 340;
  rpc_caller_status there;
  there.breaker = "closed";
  there.breaker_opens = 1;
  there.words_waiting = 10;
  const std::string remote = "10.0.0.2:4250/ingest-1/rpc-caller";
  auto text = prometheus_text(
    {{"rpc-caller", actor("rpc-caller", "rpc-caller", {0, here})},
     {remote, actor(remote, "rpc-caller", {0, there}, "10.0.0.2:4250")}},
    1);
  for (auto expected :
       {"# TYPE rpcbatch_rpc_breaker_open gauge\n",
        "rpcbatch_rpc_breaker_open{actor=\"rpc-caller\",node=\"local\"} 1\n",
        "rpcbatch_rpc_breaker_open{actor=\"10.0.0.2:4250/ingest-1/rpc-caller\","
        "node=\"10.0.0.2:4250\"} 0\n",
        "# TYPE rpcbatch_rpc_words_waiting gauge\n",
        "rpcbatch_rpc_words_waiting 350\n",
        "# TYPE rpcbatch_rpc_breaker_opens_total counter\n",
        "rpcbatch_rpc_breaker_opens_total 3\n"})
    CHECK_MESSAGE(text.find(expected) != std::string::npos, expected);
}

} // TEST_SUITE

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: ticks from others start no timer chain") {
  auto aut = make();
  auto timers = sched.clock().schedule().size();
  for (int i = 0; i < 5; ++i)
    caf::anon_send(aut, tick_atom::value);
  run();
  CHECK(sched.clock().schedule().size() == timers);
}

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: with a control token, controls carry it") {
  auto aut = make(true, "s3cret-token");
  put(3, {"apple", "avocado"});
  for (auto token : {"", "s3cret", "s3cret-tokeN", "s3cret-token-and-more"}) {
    auto answer = ask_json(aut, control_atom::value, std::string{"flush"},
                           std::string{"batcher-3"}, std::string{token});
    auto err = answer.as_object().if_contains("error");
    REQUIRE_MESSAGE(err != nullptr, token);
    CHECK(std::string{err->as_string()}.find("control token")
          != std::string::npos);
  }
  CHECK(jobs->empty());
  CHECK(test::status_as<inspector_status>(
          ask<actor_status>(aut, status_atom::value))
          .controls_refused
        == 4);
  auto answer = ask_json(aut, control_atom::value, std::string{"flush"},
                         std::string{"batcher-3"},
                         std::string{"s3cret-token"});
  CHECK(answer.at("ok").as_bool());
  CHECK(jobs->size() == 1);
}
