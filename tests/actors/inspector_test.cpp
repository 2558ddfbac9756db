// The inspector on the deterministic scheduler: real batchers behind a
// directory of mock actors; what the console asks (actors, status, events,
// controls, metrics) as typed answers, and a batcher node that does not
// answer. Plus the pure functions it uses.
#include "actors/observe/inspector.hpp"

#include <optional>
#include <regex>
#include <sstream>

#include <doctest/doctest.h>

#include "actors/pipeline/batcher.hpp"
#include "actors/observe/inspection.hpp"
#include "tests/support/fixture.hpp"

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
        [](cancel_atom, std::vector<partition_epoch>&) {
          return uint64_t{0};
        },
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
                         inspector_targets{directory, {}});
    spawned.push_back(caf::actor_cast<caf::actor>(aut));
    run();
    return aut;
  }

  node_events events(const inspector_actor& aut, uint32_t n) {
    return ask<node_events>(aut, events_atom::value, event_query{n});
  }

  control_outcome control(const inspector_actor& aut, std::string cmd,
                          std::string arg, std::string token = {}) {
    return ask<control_outcome>(aut, control_atom::value, std::move(cmd),
                                std::move(arg), std::move(token));
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

bool has_event(const node_events& events, event_kind kind,
               const std::string& actor, const std::string& detail) {
  for (auto& e : events)
    if (e.kind == kind && e.actor == actor && e.detail == detail)
      return true;
  return false;
}

/// An actor that takes status and actor-list requests and never answers
/// (a batcher node behind a dropped link, or stopped).
status_client spawn_silent(caf::actor_system& sys) {
  return caf::actor_cast<status_client>(
    sys.spawn([](caf::event_based_actor* self) -> caf::behavior {
      return {
        [self](status_atom) {
          return self->make_response_promise<actor_status>();
        },
        [self](actors_atom) {
          return self->make_response_promise<actor_list>();
        },
      };
    }));
}

} // namespace

TEST_SUITE("inspector") {

TEST_CASE_FIXTURE(inspector_fixture, "inspector: actors lists every actor") {
  auto aut = make();
  auto answer = ask<actor_summaries>(aut, actors_atom::value);
  std::set<std::string> names;
  for (auto& a : answer) {
    names.insert(a.name);
    CHECK(a.answering);
    CHECK_FALSE(a.summary.empty());
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
  auto a = ask<actor_summary>(aut, status_atom::value,
                              std::string{"batcher-3"});
  CHECK(a.role == "batcher");
  CHECK(a.node == "local");
  auto st = test::status_as<batcher_status>(a.status);
  CHECK(st.bag_size == 3);
  CHECK(st.counter == 3);
  CHECK(st.bucket == 3);
  CHECK(st.timer_armed);
  CHECK(a.status.mailbox == 0);
  CHECK_THROWS(ask<actor_summary>(aut, status_atom::value,
                                  std::string{"batcher-42"}));
}

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: events show a timer flush after max_wait") {
  auto aut = make();
  put(3, {"apple"});
  for (int i = 0; i < 3; ++i)
    advance(1s);
  auto got = events(aut, 100);
  CHECK_FALSE(has_event(got, event_kind::flush, "batcher-3",
                        "trigger timer, size 1"));
  CHECK(jobs->empty());
  // max_wait (4 s) passes; the next sample sees the flush.
  advance(1s);
  advance(1s);
  REQUIRE(jobs->size() == 1);
  got = events(aut, 100);
  CHECK(has_event(got, event_kind::flush, "batcher-3", "trigger timer, size 1"));
  // A count flush is an event too; the ring answers the last N.
  put(5, {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"});
  advance(1s);
  got = events(aut, 1);
  REQUIRE(got.size() == 1);
  CHECK(has_event(got, event_kind::flush, "batcher-5",
                  "trigger count, size 10"));
}

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: controls are refused unless allowed") {
  auto refusing = make(false);
  put(3, {"apple", "avocado"});
  for (auto cmd : {"flush", "pause", "resume", "drain"}) {
    auto answer = control(refusing, cmd, "batcher-3");
    CHECK_FALSE(answer.ok);
    CHECK(answer.detail.find("refused") != std::string::npos);
  }
  CHECK(jobs->empty());
  auto allowing = make(true);
  auto answer = control(allowing, "flush", "batcher-3");
  CHECK(answer.ok);
  REQUIRE(jobs->size() == 1);
  CHECK(jobs->at(0).trigger
        == static_cast<uint8_t>(flush_trigger::end_of_window));
  CHECK(jobs->at(0).elements.size() == 2);
  // No source answers pause here (the mock has no such handler), and
  // there is no node to drain.
  CHECK_FALSE(control(allowing, "pause", "").ok);
  CHECK_FALSE(control(allowing, "drain", "").ok);
  CHECK(has_event(events(allowing, 10), event_kind::control, "console",
                  "flush batcher-3: flushed 2 element(s)"));
}

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: metrics are Prometheus text with the batchers' "
                  "bags") {
  auto aut = make();
  put(7, {"x", "y"});
  auto text = prometheus_text(ask<metric_families>(aut, metrics_atom::value));
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

TEST_CASE_FIXTURE(inspector_fixture,
                  "inspector: a batcher node that does not answer holds no "
                  "query up: it is shown as not answering, and counted") {
  auto host = spawn_silent(sys);
  auto far_batcher = spawn_silent(sys);
  spawned.push_back(caf::actor_cast<caf::actor>(host));
  spawned.push_back(caf::actor_cast<caf::actor>(far_batcher));
  auto list = actors;
  list.push_back({"batcher-host@far:1", "batcher-host", "far:1", host});
  list.push_back({"batcher-0@far:1", "batcher", "far:1", far_batcher, 0});
  auto dir = sys.spawn([list]() -> actor_directory::behavior_type {
    return {[list](actors_atom) { return list; }};
  });
  spawned.push_back(caf::actor_cast<caf::actor>(dir));
  inspector_config cfg;
  cfg.sample_interval = caf::timespan{0};
  cfg.remote_budget = 800ms;
  auto aut = sys.spawn(inspector, cfg, inspector_targets{dir, {}});
  spawned.push_back(caf::actor_cast<caf::actor>(aut));
  run();
  auto nodes = std::make_shared<std::optional<node_summaries>>();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(aut, caf::infinite, nodes_atom::value)
      .then([=](node_summaries& x) { *nodes = std::move(x); });
  });
  run();
  // Every local actor answered at once; the query waits for the far node
  // no longer than the remote budget.
  CHECK_FALSE(nodes->has_value());
  advance(400ms);
  CHECK_FALSE(nodes->has_value());
  advance(400ms);
  REQUIRE(nodes->has_value());
  auto& got = **nodes;
  REQUIRE(got.size() == 2);
  CHECK(got[0].node == "local");
  CHECK(got[0].unanswered == 1);
  CHECK(got[1].node == "far:1");
  CHECK_FALSE(got[1].answering);
  // The actors: the far batcher is listed as not answering.
  auto listed = std::make_shared<std::optional<actor_summaries>>();
  sys.spawn([=](caf::event_based_actor* self) {
    self->request(aut, caf::infinite, actors_atom::value)
      .then([=](actor_summaries& x) { *listed = std::move(x); });
  });
  advance(400ms); // the host's time is up
  advance(400ms); // and the far batcher's
  REQUIRE(listed->has_value());
  bool seen = false;
  for (auto& a : **listed)
    if (a.name == "batcher-0@far:1") {
      seen = true;
      CHECK_FALSE(a.answering);
      CHECK(a.summary.find("not answering") != std::string::npos);
    } else if (a.node == "local") {
      CHECK(a.answering);
    }
  CHECK(seen);
  CHECK(test::status_as<inspector_status>(
          ask<actor_status>(aut, status_atom::value))
          .unanswered
        == 2);
}

TEST_CASE("inspection: events are taken once each, with their own times, "
          "and a gap says how many the actor's ring left out") {
  auto ev = [](uint64_t seq, int64_t at, std::string detail) {
    return actor_event{seq, at, event_kind::flush, std::move(detail), 1};
  };
  actor_status st{0, batcher_status{}, {ev(1, 1000, "a"), ev(2, 1500, "b")}};
  uint64_t seen = 0;
  auto got = take_events("batcher-1", st, seen);
  REQUIRE(got.size() == 2);
  CHECK(got[0].detail == "a");
  CHECK(got[0].unix_ms == 1000);
  CHECK(got[1].unix_ms == 1500);
  CHECK(got[1].actor == "batcher-1");
  CHECK(seen == 2);
  // The same ring again: nothing new.
  CHECK(take_events("batcher-1", st, seen).empty());
  // Events 3 to 5 fell out of the ring before the next sample.
  st.events = {ev(6, 3000, "f"), ev(7, 3100, "g")};
  got = take_events("batcher-1", st, seen);
  REQUIRE(got.size() == 3);
  CHECK(got[0].kind == event_kind::events_dropped);
  CHECK(got[0].count == 3);
  CHECK(got[1].detail == "f");
  CHECK(seen == 7);
  // A new actor under the same name counts from 1 again.
  st.events = {ev(1, 4000, "new")};
  got = take_events("batcher-1", st, seen);
  REQUIRE(got.size() == 1);
  CHECK(got[0].detail == "new");
}

TEST_CASE("inspection: a status from another node gives no more events "
          "than a ring holds, and no detail longer than 1 KiB") {
  actor_status st{0, batcher_status{}, {}};
  for (uint64_t i = 1; i <= 5000; ++i)
    st.events.push_back(
      {i, 1000, event_kind::flush, std::string(4096, 'x'), 1});
  uint64_t seen = 0;
  auto got = take_events("batcher-1", st, seen);
  // The ones left out are one events_dropped event.
  REQUIRE(got.size() == event_log::capacity + 1);
  CHECK(got[0].kind == event_kind::events_dropped);
  CHECK(got[1].detail.size() == 1024);
  CHECK(seen == 5000);
}

TEST_CASE("inspection: the last events, of one kind or of all") {
  std::deque<node_event> ring;
  event_kind kinds[] = {event_kind::flush, event_kind::rpc_error,
                        event_kind::flush, event_kind::retry,
                        event_kind::flush};
  for (int i = 0; i < 5; ++i) {
    node_event e;
    e.kind = kinds[i];
    e.actor = "a";
    e.detail = std::to_string(i);
    ring.push_back(e);
  }
  auto details = [&](uint32_t n, std::optional<event_kind> kind) {
    event_query q{n, !kind, kind.value_or(event_kind::flush)};
    std::string out;
    for (auto& e : last_events(ring, q))
      out += e.detail;
    return out;
  };
  CHECK(details(10, std::nullopt) == "01234");
  CHECK(details(2, std::nullopt) == "34");
  // The last two flushes, though a retry came between them.
  CHECK(details(2, event_kind::flush) == "24");
  CHECK(details(10, event_kind::rpc_error) == "1");
  CHECK(details(10, event_kind::breaker_open).empty());
}

TEST_CASE("inspection: event kinds by name, and a kind from another node "
          "out of range") {
  for (auto k : all_event_kinds()) {
    event_kind back = event_kind::flush;
    REQUIRE(from_string(to_string(k), back));
    CHECK(back == k);
  }
  event_kind x = event_kind::flush;
  CHECK_FALSE(from_string("node_down", x));
  CHECK(std::string{to_string(static_cast<event_kind>(200))} == "unknown");
}

TEST_CASE("inspection: the circuit breaker in summaries and metrics") {
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
  rpc_caller_status here;
  here.breaker = "half_open";
  here.breaker_opens = 2;
  here.words_waiting = 340;
  rpc_caller_status there;
  there.breaker = "closed";
  there.breaker_opens = 1;
  there.words_waiting = 10;
  const std::string remote = "10.0.0.2:4250/ingest-1/rpc-caller";
  auto text = prometheus_text(metrics_of(
    {{"rpc-caller", actor("rpc-caller", "rpc-caller", {0, here})},
     {remote, actor(remote, "rpc-caller", {0, there}, "10.0.0.2:4250")}},
    1));
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

TEST_CASE("inspection: the adaptive limit on calls in flight in summaries "
          "and metrics") {
  rpc_caller_status here;
  here.inflight = 3;
  here.inflight_limit = 4;
  here.max_inflight = 16;
  here.limit_decreases = 2;
  here.breaker = "closed";
  auto line = summary_line({0, here});
  CHECK(line.find("in flight 3/4 of 16, waiting") == 0);
  here.limit_measuring = true;
  CHECK(summary_line({0, here}).find("in flight 3/4 of 16 (measuring "
                                     "latency), waiting")
        == 0);
  rpc_caller_status there;
  there.inflight_limit = 16;
  there.limit_decreases = 1;
  auto text = prometheus_text(metrics_of(
    {{"rpc-caller", actor("rpc-caller", "rpc-caller", {0, here})},
     {"b/rpc-caller", actor("b/rpc-caller", "rpc-caller", {0, there}, "b")}},
    1));
  for (auto expected :
       {"# TYPE rpcbatch_rpc_inflight_limit gauge\n",
        "rpcbatch_rpc_inflight_limit 20\n",
        "# TYPE rpcbatch_rpc_inflight_limit_decreases_total counter\n",
        "rpcbatch_rpc_inflight_limit_decreases_total 3\n"})
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
    auto answer = control(aut, "flush", "batcher-3", token);
    CHECK_FALSE_MESSAGE(answer.ok, token);
    CHECK(answer.detail.find("control token") != std::string::npos);
  }
  CHECK(jobs->empty());
  CHECK(test::status_as<inspector_status>(
          ask<actor_status>(aut, status_atom::value))
          .controls_refused
        == 4);
  CHECK(control(aut, "flush", "batcher-3", "s3cret-token").ok);
  CHECK(jobs->size() == 1);
}
