// The rpc-caller on the deterministic scheduler, without gRPC: a transport
// that records every call and that the test answers, and a sink that
// records what it gets. Plus the circuit breaker and the failure classes on
// their own.
#include "actors/pipeline/rpc_caller.hpp"

#include <doctest/doctest.h>

#include <map>
#include <random>
#include <regex>
#include <set>

#include "actors/pipeline/batcher.hpp"
#include "actors/observe/json.hpp"
#include "actors/observe/reporting.hpp"
#include "tests/support/fixture.hpp"
#include "services/adapters/rpc_client.hpp"

using namespace rpcbatch;
using namespace std::chrono_literals;

namespace {

using namespace rpcbatch::rpc_code;

/// Records every call; the test answers them (the callback sends the
/// rpc_reply, as rpc_client's completion thread does).
class mock_transport final : public rpc_transport {
public:
  struct call {
    std::vector<std::string> inputs;
    std::string batch_id;
    batch_callback cb;
    bool answered = false;
  };

  void resolve_batch(std::vector<std::string> inputs,
                     std::chrono::milliseconds, const std::string& batch_id,
                     batch_callback cb) override {
    calls.push_back(call{std::move(inputs), batch_id, std::move(cb)});
  }

  /// The indexes of the calls not answered yet.
  std::vector<std::size_t> open() const {
    std::vector<std::size_t> out;
    for (std::size_t i = 0; i < calls.size(); ++i)
      if (!calls[i].answered)
        out.push_back(i);
    return out;
  }

  void answer(std::size_t i, rpc_result r) {
    REQUIRE(i < calls.size());
    REQUIRE_FALSE(calls[i].answered);
    calls[i].answered = true;
    auto cb = std::move(calls[i].cb);
    cb(std::move(r));
  }

  std::vector<call> calls;
};

rpc_result failure(int code, std::string error = "down") {
  rpc_result r;
  r.code = code;
  r.error = std::move(error);
  return r;
}

rpc_result lengths(std::vector<int32_t> xs) {
  rpc_result r;
  r.lengths = std::move(xs);
  return r;
}

/// The right answer to a call: each input's length in code points.
rpc_result right_answer(const std::vector<std::string>& inputs) {
  rpc_result r;
  for (auto& w : inputs) {
    int32_t n = 0;
    for (unsigned char c : w)
      n += (c & 0xC0) != 0x80;
    r.lengths.push_back(n);
  }
  return r;
}

rpc_job make_job(std::initializer_list<const char*> words,
                 uint32_t bucket = 0) {
  std::vector<element> bag;
  int64_t offset = 0;
  for (auto w : words)
    bag.push_back(element{w, 0, offset++, 1000});
  return make_rpc_job(std::move(bag), bucket, flush_trigger::count);
}

sink_actor spawn_sink(caf::actor_system& sys,
                      test::recorded<resolved_batch> resolved,
                      test::recorded<failed_batch> failed) {
  return sys.spawn([resolved, failed]() -> sink_actor::behavior_type {
    return {
      [](source_actor&) {},
      [resolved](resolved_batch& b) { resolved->push_back(std::move(b)); },
      [failed](failed_batch& b) { failed->push_back(std::move(b)); },
      [](undelivered_batch&) {},
      [](retry_atom) {},
      [](status_atom) { return actor_status{}; },
    };
  });
}

struct rpc_caller_fixture : test::deterministic {
  std::shared_ptr<mock_transport> transport
    = std::make_shared<mock_transport>();
  test::recorded<resolved_batch> resolved
    = std::make_shared<std::vector<resolved_batch>>();
  test::recorded<failed_batch> failed
    = std::make_shared<std::vector<failed_batch>>();
  sink_actor sink = spawn_sink(sys, resolved, failed);
  /// A fixed limit of 16 calls in flight (min = max): the cases of the
  /// adaptive limit set min_inflight = 1.
  rpc_caller_config cfg = [] {
    rpc_caller_config c;
    c.max_inflight = 16;
    c.min_inflight = 16;
    return c;
  }();
  std::vector<caf::actor> spawned;

  ~rpc_caller_fixture() {
    // Pending callbacks hold the actor: drop them so that it can stop.
    transport->calls.clear();
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  }

  rpc_caller_actor make(std::shared_ptr<rpc_transport> t = nullptr) {
    auto aut = sys.spawn(rpc_caller, cfg, t ? t : transport, sink);
    spawned.push_back(caf::actor_cast<caf::actor>(aut));
    run();
    return aut;
  }

  void send(const rpc_caller_actor& aut, rpc_job job) {
    caf::anon_send(aut, std::move(job));
    run();
  }

  void answer(std::size_t call, rpc_result r) {
    transport->answer(call, std::move(r));
    run();
  }

  void fail(std::size_t call, int code = unavailable) {
    answer(call, failure(code));
  }

  void succeed(std::size_t call) {
    answer(call, right_answer(transport->calls.at(call).inputs));
  }

  /// Fails every call not answered yet; answers how many.
  std::size_t fail_open_calls(int code = unavailable) {
    auto open = transport->open();
    for (auto i : open)
      fail(i, code);
    return open.size();
  }

  rpc_caller_status status(const rpc_caller_actor& aut) {
    return test::status_as<rpc_caller_status>(
      ask<actor_status>(aut, status_atom::value));
  }

  std::string breaker(const rpc_caller_actor& aut) {
    return status(aut).breaker;
  }
};

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A word of partition `partition` (epoch 1) from the record numbered
/// `seq` by the source.
element word_of(const char* word, int32_t partition, uint64_t seq) {
  element e;
  e.word = word;
  e.partition = partition;
  e.offset = static_cast<int64_t>(seq);
  e.epoch = 1;
  e.seq = seq;
  return e;
}

rpc_job job_of(std::vector<element> elements, uint32_t bucket) {
  return make_rpc_job(std::move(elements), bucket, flush_trigger::count);
}

/// A batcher that records the word answers it gets.
batcher_actor spawn_answers_batcher(caf::actor_system& sys,
                                    test::recorded<word_answers> got) {
  return sys.spawn([got]() -> batcher_actor::behavior_type {
    return {
      [](word_batch&) {},
      [](flush_atom, uint64_t) {},
      [](end_of_window_atom) { return uint64_t{0}; },
      [](cancel_atom, std::vector<partition_epoch>&) { return uint64_t{0}; },
      [got](word_answers& a) { got->push_back(std::move(a)); },
      [](status_atom) { return actor_status{}; },
    };
  });
}

} // namespace

TEST_SUITE("rpc-caller") {

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: a job is one call with its unique words, "
                  "answered per element") {
  auto aut = make();
  send(aut, make_job({"a", "bb", "a", "h\xc3\xa9llo"}));
  REQUIRE(transport->calls.size() == 1);
  CHECK(transport->calls[0].inputs
        == std::vector<std::string>{"a", "bb", "h\xc3\xa9llo"});
  auto st = status(aut);
  CHECK(st.words_waiting == 4);
  CHECK(st.jobs_waiting == 1);
  CHECK(st.inflight == 1);
  succeed(0);
  REQUIRE(resolved->size() == 1);
  CHECK(resolved->at(0).lengths == std::vector<int32_t>{1, 2, 1, 5});
  CHECK(resolved->at(0).elements.size() == 4);
  CHECK(failed->empty());
  st = status(aut);
  CHECK(st.words_waiting == 0);
  CHECK(st.jobs_waiting == 0);
  CHECK(st.breaker == "closed");
  CHECK(st.ok_calls == 1);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: transient failures are retried with backoff "
                  "beyond the old attempt limit and nothing is dead-lettered") {
  cfg.breaker_threshold = 1000; // the backoff alone
  auto aut = make();
  send(aut, make_job({"x", "yy"}));
  const int codes[] = {unavailable, deadline_exceeded, resource_exhausted,
                       unimplemented, internal};
  for (int attempt = 1; attempt <= 20; ++attempt) {
    CAPTURE(attempt);
    REQUIRE(transport->calls.size() == static_cast<std::size_t>(attempt));
    fail(transport->calls.size() - 1, codes[attempt % 5]);
    // Equal jitter: the retry comes between half the backoff and all of it
    // (100 ms doubling up to 5 s).
    auto doubled = 100ms * (1 << std::min(attempt - 1, 10));
    auto full = std::min<caf::timespan>(doubled, 5s);
    advance(full / 2 - 1ns);
    CHECK(transport->calls.size() == static_cast<std::size_t>(attempt));
    advance(full / 2 + 1ns);
    CHECK(transport->calls.size() == static_cast<std::size_t>(attempt + 1));
  }
  CHECK(failed->empty());
  succeed(transport->calls.size() - 1);
  REQUIRE(resolved->size() == 1);
  CHECK(resolved->at(0).lengths == std::vector<int32_t>{1, 2});
  auto st = status(aut);
  CHECK(st.calls == 21);
  CHECK(st.retries == 20);
  CHECK(st.dead_letter_jobs == 0);
  CHECK(st.breaker_opens == 0);
  CHECK(st.errors_by_code.at("UNIMPLEMENTED") == 4);
}

TEST_CASE("rpc-caller: a job needs one word index per element, each naming "
          "one of its words") {
  auto job = make_job({"a", "bb", "a"});
  CHECK(malformed_job(job).empty());
  std::vector<int32_t> out;
  std::string error;
  REQUIRE(element_lengths(job, {1, 2}, out, error));
  CHECK(out == std::vector<int32_t>{1, 2, 1});
  // An index past the words (a peer's job): no answer, nothing read past
  // the lengths.
  auto beyond = job;
  beyond.word_index[1] = 2;
  CHECK(malformed_job(beyond) == "word index 2 of 2 words");
  CHECK_FALSE(element_lengths(beyond, {1, 2}, out, error));
  CHECK(error == "malformed job: word index 2 of 2 words");
  auto none = job;
  none.words.clear();
  CHECK_FALSE(malformed_job(none).empty());
  CHECK_FALSE(element_lengths(none, {}, out, error));
  auto fewer = job;
  fewer.word_index.pop_back();
  CHECK(malformed_job(fewer) == "2 word indexes for 3 elements");
  CHECK_FALSE(element_lengths(fewer, {1, 2}, out, error));
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: a malformed job is never called: its elements "
                  "are dead letters at once") {
  auto aut = make();
  auto bad = make_job({"x", "yy"});
  bad.word_index[0] = 7;
  send(aut, bad);
  CHECK(transport->calls.empty());
  REQUIRE(failed->size() == 1);
  CHECK(failed->at(0).elements.size() == 2);
  CHECK(failed->at(0).reason == "malformed job: word index 7 of 2 words");
  CHECK(status(aut).dead_letter_jobs == 1);
  CHECK(status(aut).words_waiting == 0);
  // The next job goes as usual.
  send(aut, make_job({"z"}));
  REQUIRE(transport->calls.size() == 1);
  succeed(0);
  REQUIRE(resolved->size() == 1);
  CHECK(resolved->at(0).lengths == std::vector<int32_t>{1});
}

TEST_CASE("rpc-caller: only INVALID_ARGUMENT and OUT_OF_RANGE are permanent") {
  for (int code = 1; code <= 16; ++code) {
    CAPTURE(code);
    auto expected = code == invalid_argument || code == out_of_range
                      ? rpc_failure::permanent
                      : rpc_failure::target;
    CHECK(classify_rpc_failure(code) == expected);
  }
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: the breaker opens after the threshold, lets "
                  "one probe out at a time and closes on its success") {
  auto aut = make();
  for (int i = 0; i < 8; ++i)
    send(aut, make_job({"w"}, static_cast<uint32_t>(i)));
  REQUIRE(transport->calls.size() == 8);
  // Four failures in a row: still closed.
  for (std::size_t i = 0; i < 4; ++i)
    fail(i);
  CHECK(breaker(aut) == "closed");
  // The fifth opens it.
  fail(4);
  auto st = status(aut);
  CHECK(st.breaker == "open");
  CHECK(st.breaker_opens == 1);
  // Calls in flight that fail now wait; none goes to the dead letters.
  for (std::size_t i = 5; i < 8; ++i)
    fail(i);
  CHECK(failed->empty());
  CHECK(status(aut).breaker_opens == 1);
  CHECK(status(aut).jobs_waiting == 8);
  CHECK(status(aut).words_waiting == 8);
  // The first probe 100 ms after opening: the backoffs of the first four
  // jobs run out before it, and start nothing.
  advance(100ms - 1ns);
  CHECK(transport->calls.size() == 8);
  CHECK(status(aut).breaker_open_ms == 99);
  advance(1ns);
  REQUIRE(transport->calls.size() == 9);
  // The probe is the oldest job.
  CHECK(transport->calls[8].batch_id == transport->calls[0].batch_id);
  CHECK(breaker(aut) == "half_open");
  // One probe at a time, however long it takes.
  advance(60s);
  CHECK(transport->calls.size() == 9);
  // A failed probe: the next one after twice the delay.
  fail(8);
  CHECK(breaker(aut) == "open");
  advance(200ms - 1ns);
  CHECK(transport->calls.size() == 9);
  advance(1ns);
  REQUIRE(transport->calls.size() == 10);
  // Probes go round the waiting jobs: the next one.
  CHECK(transport->calls[9].batch_id == transport->calls[1].batch_id);
  // Its success closes the breaker and every waiting job goes at once.
  succeed(9);
  st = status(aut);
  CHECK(st.breaker == "closed");
  CHECK(st.breaker_open_ms == 0);
  // Each opening and the closing are events, one per occurrence.
  std::map<std::string, int> kinds;
  for (auto& e : ask<actor_status>(aut, status_atom::value).events)
    ++kinds[to_string(e.kind)];
  CHECK(kinds["rpc_error"] == 9);
  CHECK(kinds["breaker_open"] == 1);
  CHECK(kinds["breaker_closed"] == 1);
  CHECK(kinds["dead_letter"] == 0);
  REQUIRE(transport->calls.size() == 17);
  std::set<std::string> ids;
  for (std::size_t i = 10; i < 17; ++i)
    ids.insert(transport->calls[i].batch_id);
  for (std::size_t i = 0; i < 8; ++i)
    CHECK(ids.count(transport->calls[i].batch_id) == (i == 1 ? 0 : 1));
  for (std::size_t i = 10; i < 17; ++i)
    succeed(i);
  CHECK(resolved->size() == 8);
  CHECK(failed->empty());
  st = status(aut);
  CHECK(st.words_waiting == 0);
  CHECK(st.retries == 9);
  CHECK(st.probes == 2);
  // Nothing else was called meanwhile.
  advance(60s);
  CHECK(transport->calls.size() == 17);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: jobs that arrive while the breaker is open wait "
                  "for the probe") {
  cfg.breaker_threshold = 1;
  auto aut = make();
  send(aut, make_job({"first"}));
  fail(0);
  REQUIRE(breaker(aut) == "open");
  send(aut, make_job({"second"}));
  send(aut, make_job({"third"}));
  CHECK(transport->calls.size() == 1);
  advance(100ms);
  REQUIRE(transport->calls.size() == 2);
  CHECK(transport->calls[1].inputs == std::vector<std::string>{"first"});
  succeed(1);
  REQUIRE(transport->calls.size() == 4);
  CHECK(transport->calls[2].inputs == std::vector<std::string>{"second"});
  CHECK(transport->calls[3].inputs == std::vector<std::string>{"third"});
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: a call in flight that succeeds while the "
                  "breaker is open closes it") {
  cfg.breaker_threshold = 2;
  auto aut = make();
  for (int i = 0; i < 3; ++i)
    send(aut, make_job({"w"}));
  fail(0);
  fail(1);
  REQUIRE(breaker(aut) == "open");
  succeed(2);
  CHECK(breaker(aut) == "closed");
  // The job that failed while it was open goes at once; the one that failed
  // before goes after its backoff.
  CHECK(transport->calls.size() == 4);
  advance(100ms);
  CHECK(transport->calls.size() == 5);
  CHECK(status(aut).breaker_opens == 1);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: INVALID_ARGUMENT, OUT_OF_RANGE and replies "
                  "that do not fit go to the dead letters at once") {
  auto aut = make();
  for (auto w : {"one", "two", "three", "four", "five", "six"})
    send(aut, make_job({w, "ab"}));
  send(aut, make_job({"h\xc3\xa9llo"})); // 6 bytes, 5 code points
  REQUIRE(transport->calls.size() == 7);
  answer(0, failure(invalid_argument, "word 'one' rejected"));
  answer(1, failure(out_of_range, "too long"));
  answer(2, lengths({5}));         // one length for two words
  answer(3, lengths({4, -1}));     // negative
  answer(4, lengths({4, 3}));      // "ab" has 2 bytes
  answer(5, lengths({3, 2}));      // right
  answer(6, lengths({6}));         // longer than the word in code points
  REQUIRE(failed->size() == 6);
  auto reason = [&](std::size_t i) { return failed->at(i).reason; };
  CHECK(reason(0) == "INVALID_ARGUMENT: word 'one' rejected");
  CHECK(reason(1) == "OUT_OF_RANGE: too long");
  CHECK(reason(2) == "resolveBatch answered 1 lengths for 2 words");
  CHECK(contains(reason(3), "length -1 for a word of 2 code point(s)"));
  CHECK(contains(reason(4), "length 3 for a word of 2 code point(s) ('ab')"));
  CHECK(contains(reason(5), "length 6 for a word of 5 code point(s)"));
  for (std::size_t i = 0; i < 5; ++i)
    CHECK(failed->at(i).elements.size() == 2);
  REQUIRE(resolved->size() == 1);
  CHECK(resolved->at(0).lengths == std::vector<int32_t>{3, 2});
  // No retry, no waiting, and the breaker stays closed: the target answered.
  advance(60s);
  CHECK(transport->calls.size() == 7);
  auto st = status(aut);
  CHECK(st.permanent_failures == 6);
  CHECK(st.dead_letter_jobs == 6);
  CHECK(st.retries == 0);
  CHECK(st.breaker == "closed");
  CHECK(st.words_waiting == 0);
  auto& errors = st.errors_by_code;
  CHECK(errors.at("BAD_REPLY") == 4);
  CHECK(errors.at("INVALID_ARGUMENT") == 1);
  CHECK(errors.at("OUT_OF_RANGE") == 1);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: give_up dead-letters a job that keeps failing "
                  "once it has failed that long") {
  cfg.give_up = 10s;
  auto aut = make();
  send(aut, make_job({"doomed"}));
  fail(0, deadline_exceeded); // failing from now on
  // Every call fails at once: backoff, then the breaker opens and probes.
  for (int step = 0; step < 999; ++step) {
    advance(10ms);
    fail_open_calls();
  }
  advance(10ms - 1ns);
  fail_open_calls();
  CHECK(failed->empty());
  CHECK(transport->calls.size() > 8);
  advance(1ns);
  fail_open_calls();
  REQUIRE(failed->size() == 1);
  // The last error: the probes failed with UNAVAILABLE.
  CHECK(contains(failed->at(0).reason, "UNAVAILABLE: down"));
  CHECK(contains(failed->at(0).reason, "after 10000 ms of failure"));
  CHECK(failed->at(0).elements.at(0).word == "doomed");
  auto st = status(aut);
  CHECK(st.given_up_jobs == 1);
  CHECK(st.dead_letter_jobs == 1);
  CHECK(st.permanent_failures == 0);
  CHECK(st.jobs_waiting == 0);
  auto calls = transport->calls.size();
  advance(60s);
  CHECK(transport->calls.size() == calls);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: give_up dead-letters jobs that only waited "
                  "while the breaker was open, never called") {
  cfg.give_up = 10s;
  cfg.breaker_threshold = 1;
  cfg.max_inflight = 1;
  auto aut = make();
  send(aut, make_job({"probe"}));
  send(aut, make_job({"queued"})); // behind the in-flight bound
  fail(0);                         // opens the breaker: "queued" fails too
  REQUIRE(breaker(aut) == "open");
  advance(2s);
  // The probe (the oldest job) went after 100 ms and hangs.
  REQUIRE(transport->calls.size() == 2);
  CHECK(transport->calls[1].inputs == std::vector<std::string>{"probe"});
  send(aut, make_job({"late"})); // arrives while the breaker is open
  advance(8s - 1ns);
  CHECK(failed->empty());
  advance(1ns);
  REQUIRE(failed->size() == 1);
  CHECK(failed->at(0).elements.at(0).word == "queued");
  CHECK(contains(failed->at(0).reason, "UNAVAILABLE: down"));
  advance(2s - 1ns);
  CHECK(failed->size() == 1);
  advance(1ns);
  REQUIRE(failed->size() == 2);
  CHECK(failed->at(1).elements.at(0).word == "late");
  // The probe in flight is judged by its answer: failing since the start.
  CHECK(status(aut).jobs_waiting == 1);
  fail(1);
  REQUIRE(failed->size() == 3);
  CHECK(failed->at(2).elements.at(0).word == "probe");
  CHECK(status(aut).given_up_jobs == 3);
  // Neither waiting job was ever called.
  CHECK(transport->calls.size() == 2);
  for (auto& c : transport->calls)
    CHECK(c.inputs == std::vector<std::string>{"probe"});
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: a job that only waited is not failing once "
                  "the breaker closed") {
  cfg.give_up = 10s;
  cfg.breaker_threshold = 1;
  cfg.max_inflight = 1;
  auto aut = make();
  send(aut, make_job({"a"}));
  send(aut, make_job({"b"}));
  send(aut, make_job({"c"}));
  fail(0);
  advance(9s); // the probe (a) hangs
  REQUIRE(transport->calls.size() == 2);
  succeed(1); // closes; b goes, c waits for the free slot
  REQUIRE(transport->calls.size() == 3);
  advance(5s); // b hangs; c waited 14 s, but only 9 s of them for failure
  CHECK(failed->empty());
  succeed(2);
  succeed(3);
  CHECK(resolved->size() == 3);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: a job keeps its batch id across retries, jobs "
                  "and rpc-callers differ") {
  cfg.breaker_threshold = 1000;
  auto aut = make();
  send(aut, make_job({"a"}));
  send(aut, make_job({"b"}));
  for (int i = 0; i < 3; ++i) {
    fail_open_calls();
    advance(5s);
  }
  REQUIRE(transport->calls.size() == 8);
  std::set<std::string> of_a;
  std::set<std::string> of_b;
  for (auto& c : transport->calls)
    (c.inputs[0] == "a" ? of_a : of_b).insert(c.batch_id);
  REQUIRE(of_a.size() == 1);
  REQUIRE(of_b.size() == 1);
  auto id_a = *of_a.begin();
  auto id_b = *of_b.begin();
  CHECK(id_a != id_b);
  std::regex shape{"([0-9a-f]{16})-([0-9a-f]+)"};
  std::smatch a;
  std::smatch b;
  REQUIRE(std::regex_match(id_a, a, shape));
  REQUIRE(std::regex_match(id_b, b, shape));
  CHECK(a[1] == b[1]); // the rpc-caller's prefix
  CHECK(a[2] != b[2]); // the job number
  // Another rpc-caller (another node) numbers its jobs from 1 too, under its
  // own random prefix.
  auto other = std::make_shared<mock_transport>();
  auto aut2 = make(other);
  send(aut2, make_job({"a"}));
  REQUIRE(other->calls.size() == 1);
  auto id_c = other->calls[0].batch_id;
  std::smatch c;
  REQUIRE(std::regex_match(id_c, c, shape));
  CHECK(c[1] != a[1]);
  CHECK(id_c != id_a);
  other->calls.clear();
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: status has the breaker and what waits") {
  cfg.breaker_threshold = 1;
  auto aut = make();
  auto json = status_object(ask<actor_status>(aut, status_atom::value));
  for (auto name :
       {"breaker", "breaker_opens", "breaker_open_ms", "words_waiting",
        "jobs_waiting", "given_up_jobs", "permanent_failures", "calls",
        "ok_calls", "failed_calls", "retries", "dead_letter_jobs",
        "inflight", "max_inflight", "waiting", "backing_off",
        "words_requested", "elements_resolved", "errors_by_code"})
    CHECK_MESSAGE(json.contains(name), name);
  send(aut, make_job({"a", "b", "a"}));
  send(aut, make_job({"c"}));
  fail(0);
  advance(50ms);
  auto st = status(aut);
  CHECK(st.breaker == "open");
  CHECK(st.breaker_open_ms == 50);
  CHECK(st.words_waiting == 4);
  CHECK(st.jobs_waiting == 2);
  CHECK(st.inflight == 1);
  CHECK(st.waiting == 1);
  std::vector<std::string> kinds;
  for (auto& e : ask<actor_status>(aut, status_atom::value).events)
    kinds.push_back(to_string(e.kind));
  CHECK(kinds == std::vector<std::string>{"rpc_error", "breaker_open", "retry"});
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: one job that always fails cannot keep the "
                  "breaker open: probes go round the waiting jobs") {
  cfg.breaker_threshold = 1;
  cfg.max_inflight = 1;
  auto aut = make();
  send(aut, make_job({"bad"}));
  send(aut, make_job({"good"}));
  fail(0); // opens the breaker
  // The first probe is the oldest job; after it failed, the next one.
  advance(100ms);
  REQUIRE(transport->calls.size() == 2);
  CHECK(transport->calls[1].inputs == std::vector<std::string>{"bad"});
  fail(1);
  advance(200ms);
  REQUIRE(transport->calls.size() == 3);
  CHECK(transport->calls[2].inputs == std::vector<std::string>{"good"});
  succeed(2);
  CHECK(breaker(aut) == "closed");
  CHECK(resolved->size() == 1);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: a job that keeps failing while the target "
                  "answers other batches goes to the dead-letter topic") {
  cfg.failing_alone_limit = 3;
  auto aut = make();
  send(aut, make_job({"poison"}));
  // Each failure of the poison job follows an answer to another batch.
  for (int round = 0; round < 3; ++round) {
    CHECK(failed->empty());
    send(aut, make_job({"fine"}));
    auto open = transport->open();
    REQUIRE(open.size() == 2);
    succeed(open[1]);
    fail(open[0], internal);
    advance(10s); // its backoff
  }
  REQUIRE(failed->size() == 1);
  CHECK(failed->at(0).elements.at(0).word == "poison");
  CHECK(contains(failed->at(0).reason,
                 "failed 3 times in a row while the target answered other "
                 "batches: INTERNAL"));
  CHECK(status(aut).failed_alone_jobs == 1);
  CHECK(breaker(aut) == "closed");
  CHECK(resolved->size() == 3);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: failures while nothing else is answered are "
                  "an outage, not the job's fault") {
  cfg.failing_alone_limit = 3;
  auto aut = make();
  send(aut, make_job({"w"}));
  for (int i = 0; i < 10; ++i) {
    fail_open_calls();
    advance(60s);
  }
  CHECK(failed->empty());
  CHECK(status(aut).failed_alone_jobs == 0);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: waiting jobs go oldest first, by the oldest "
                  "record they carry words of, whatever their bucket") {
  cfg.max_inflight = 1;
  auto aut = make();
  send(aut, job_of({word_of("first", 0, 1)}, 0)); // called at once
  // Flushed bucket after bucket, as under a backlog.
  send(aut, job_of({word_of("b90", 0, 90), word_of("b20", 1, 20)}, 1));
  send(aut, job_of({word_of("c50", 0, 50)}, 2));
  send(aut, job_of({word_of("d10", 1, 10), word_of("d80", 0, 80)}, 3));
  send(aut, job_of({word_of("e30", 1, 30)}, 4));
  REQUIRE(transport->calls.size() == 1);
  for (std::size_t i = 0; i < 5; ++i)
    succeed(i);
  REQUIRE(transport->calls.size() == 5);
  using words = std::vector<std::string>;
  CHECK(transport->calls[1].inputs == words{"d10", "d80"});
  CHECK(transport->calls[2].inputs == words{"b90", "b20"});
  CHECK(transport->calls[3].inputs == words{"e30"});
  CHECK(transport->calls[4].inputs == words{"c50"});
  CHECK(resolved->size() == 5);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: a job back from its backoff takes its place "
                  "in line by its age") {
  cfg.max_inflight = 1;
  cfg.breaker_threshold = 1000;
  auto aut = make();
  send(aut, job_of({word_of("old", 0, 5)}, 0));
  send(aut, job_of({word_of("mid", 0, 10)}, 1));
  send(aut, job_of({word_of("new", 0, 20)}, 2));
  fail(0); // "old" backs off, "mid" goes
  REQUIRE(transport->calls.size() == 2);
  CHECK(transport->calls[1].inputs == std::vector<std::string>{"mid"});
  advance(1s); // "old" waits again, before "new"
  CHECK(transport->calls.size() == 2);
  succeed(1);
  REQUIRE(transport->calls.size() == 3);
  CHECK(transport->calls[2].inputs == std::vector<std::string>{"old"});
  succeed(2);
  REQUIRE(transport->calls.size() == 4);
  CHECK(transport->calls[3].inputs == std::vector<std::string>{"new"});
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: the limit on calls in flight is in the status, "
                  "grows to the max while latency is flat and halves on "
                  "RESOURCE_EXHAUSTED without losing a job") {
  cfg.max_inflight = 8;
  cfg.min_inflight = 1;
  cfg.initial_inflight = 1; // from the floor up
  cfg.breaker_threshold = 1000;
  auto aut = make();
  auto st = status(aut);
  CHECK(st.inflight_limit == 1);
  CHECK(st.limit_measuring);
  CHECK(st.max_inflight == 8);
  CHECK(st.min_inflight == 1);
  auto json = status_object(ask<actor_status>(aut, status_atom::value));
  for (auto name : {"inflight_limit", "min_inflight", "limit_increases",
                    "limit_decreases", "limit_measuring",
                    "baseline_latency_us", "window_latency_us", "cancelled",
                    "cancelled_jobs"})
    CHECK_MESSAGE(json.contains(name), name);
  for (int i = 0; i < 300; ++i)
    send(aut, make_job({"w"}));
  CHECK(transport->open().size() == 1);
  // A backlog against a service that answers every call in 2 ms.
  for (int round = 0; round < 100 && status(aut).inflight_limit < 8;
       ++round) {
    advance(2ms);
    for (auto i : transport->open())
      succeed(i);
  }
  st = status(aut);
  CHECK(st.inflight_limit == 8);
  CHECK(st.inflight == 8);
  CHECK_FALSE(st.limit_measuring);
  CHECK(st.limit_increases > 0);
  CHECK(st.limit_decreases == 0);
  CHECK(st.baseline_latency_us == 2000);
  CHECK(st.window_latency_us == 2000);
  CHECK(transport->calls.size() < 150);
  // The service is overloaded: the limit halves. The calls in flight go on.
  auto open = transport->open();
  REQUIRE(open.size() == 8);
  advance(2ms);
  answer(open[0], failure(resource_exhausted, "busy"));
  st = status(aut);
  CHECK(st.inflight_limit == 4);
  CHECK(st.limit_decreases == 1);
  CHECK(st.inflight == 7);
  CHECK(transport->open().size() == 7);
  // Its other calls of that round say the same: one cut per round.
  for (std::size_t k = 1; k < 8; ++k)
    answer(open[k], failure(resource_exhausted, "busy"));
  st = status(aut);
  CHECK(st.inflight_limit == 4);
  CHECK(st.limit_decreases == 1);
  CHECK(transport->open().size() == 4);
  bool event = false;
  for (auto& e : ask<actor_status>(aut, status_atom::value).events)
    event = event
            || (e.kind == event_kind::limit
                && contains(e.detail, "8 -> 4: RESOURCE_EXHAUSTED"));
  CHECK(event);
  // Only delayed: every job is answered in the end, none dead-lettered.
  for (int round = 0; round < 1000 && status(aut).words_waiting > 0;
       ++round) {
    advance(2ms);
    for (auto i : transport->open())
      succeed(i);
  }
  CHECK(failed->empty());
  CHECK(resolved->size() == 300);
  CHECK(status(aut).words_waiting == 0);
}

TEST_CASE_FIXTURE(rpc_caller_fixture,
                  "rpc-caller: cancel drops the revoked partitions' elements "
                  "of jobs waiting or backing off, forgets jobs left empty "
                  "and leaves calls in flight alone") {
  cfg.max_inflight = 2;
  cfg.min_inflight = 2;
  auto aut = make();
  auto answers = std::make_shared<std::vector<word_answers>>();
  auto batcher = spawn_answers_batcher(sys, answers);
  spawned.push_back(caf::actor_cast<caf::actor>(batcher));
  // In flight: a (partition 0) and e (partition 1); backing off: b.
  send(aut, job_of({word_of("a", 0, 1), word_of("aa", 0, 2)}, 0));
  send(aut, job_of({word_of("b", 0, 3)}, 1));
  fail(1);
  send(aut, job_of({word_of("e", 1, 4)}, 2));
  REQUIRE(transport->calls.size() == 3);
  // Waiting: a job of both partitions, one of partition 1, and one of
  // partition 0 whose batcher (its cache) waits for its words.
  send(aut, job_of({word_of("x", 0, 10), word_of("y", 1, 20),
                    word_of("x", 0, 11)},
                   3));
  send(aut, job_of({word_of("f", 1, 15)}, 4));
  caf::anon_send(aut, job_of({word_of("d1", 0, 5), word_of("d2", 0, 6)}, 5),
                 batcher);
  run();
  REQUIRE(status(aut).waiting == 3);
  auto dropped = ask<uint64_t>(
    aut, cancel_atom::value,
    std::vector<partition_epoch>{{0, 1}, {7, 1}});
  CHECK(dropped == 5); // b, both x, d1 and d2
  auto st = status(aut);
  CHECK(st.cancelled == 5);
  CHECK(st.cancelled_jobs == 2);
  CHECK(st.jobs_waiting == 4);
  CHECK(st.waiting == 2);
  CHECK(st.backing_off == 0);
  CHECK(st.inflight == 2);
  CHECK(st.words_waiting == 5); // a, aa, e, y, f
  REQUIRE(answers->size() == 1);
  CHECK(answers->at(0).words == std::vector<std::string>{"d1", "d2"});
  CHECK(answers->at(0).failed);
  CHECK(answers->at(0).lengths.empty());
  // Nothing more to drop.
  CHECK(ask<uint64_t>(aut, cancel_atom::value,
                      std::vector<partition_epoch>{{0, 1}})
        == 0);
  // The forgotten job's retry finds nothing.
  advance(10s);
  CHECK(transport->calls.size() == 3);
  // The call in flight is answered in full.
  succeed(0);
  REQUIRE(resolved->size() == 1);
  CHECK(resolved->at(0).elements.size() == 2);
  // f goes before what is left of the x/y job: its oldest word is gone.
  REQUIRE(transport->calls.size() == 4);
  CHECK(transport->calls[3].inputs == std::vector<std::string>{"f"});
  succeed(2);
  REQUIRE(transport->calls.size() == 5);
  // The job keeps its words; its element is answered.
  CHECK(transport->calls[4].inputs == std::vector<std::string>{"x", "y"});
  succeed(4);
  REQUIRE(resolved->size() == 3);
  CHECK(resolved->at(2).elements.size() == 1);
  CHECK(resolved->at(2).elements.at(0).word == "y");
  CHECK(resolved->at(2).lengths == std::vector<int32_t>{1});
  succeed(3);
  CHECK(resolved->size() == 4);
  CHECK(failed->empty());
  st = status(aut);
  CHECK(st.jobs_waiting == 0);
  CHECK(st.words_waiting == 0);
  CHECK(transport->calls.size() == 5);
}

TEST_CASE("circuit breaker: opens after the threshold of failures in a row") {
  circuit_breaker b{{3, 100ms, 5s}};
  circuit_breaker::time_point t{1h};
  CHECK_FALSE(b.failure(t, false));
  CHECK_FALSE(b.failure(t, false));
  CHECK_FALSE(b.success()); // was closed: resets the count
  CHECK_FALSE(b.failure(t, false));
  CHECK_FALSE(b.failure(t, false));
  CHECK(b.closed());
  CHECK(b.failure(t, false));
  CHECK(b.current() == circuit_breaker::state::open);
  CHECK(b.opens() == 1);
  // Failures of calls that were in flight change nothing.
  CHECK_FALSE(b.failure(t + 1ms, false));
  CHECK(b.next_probe() == t + 100ms);
  CHECK(b.open_for(t + 70ms) == 70ms);
  CHECK(b.success());
  CHECK(b.closed());
  CHECK(b.open_for(t + 80ms) == 0ns);
}

TEST_CASE("circuit breaker: one probe at a time, spaced by a capped "
          "backoff") {
  circuit_breaker b{{1, 100ms, 1s}};
  circuit_breaker::time_point t{1h};
  REQUIRE(b.failure(t, false));
  for (auto expected : {100ms, 200ms, 400ms, 800ms, 1000ms, 1000ms}) {
    CAPTURE(expected.count());
    CHECK(b.next_probe() - t == caf::timespan{expected});
    CHECK_FALSE(b.probe_due(t + expected - 1ns));
    t += expected;
    REQUIRE(b.probe_due(t));
    b.probe_started();
    CHECK(b.current() == circuit_breaker::state::half_open);
    CHECK_FALSE(b.probe_due(t + 1h));
    // Other calls failing meanwhile do not count as the probe.
    CHECK_FALSE(b.failure(t, false));
    CHECK(b.current() == circuit_breaker::state::half_open);
    CHECK_FALSE(b.failure(t, true));
    CHECK(b.current() == circuit_breaker::state::open);
  }
  CHECK(b.opens() == 1);
  CHECK(b.failed_probes() == 6);
  b.probe_started();
  CHECK(b.success());
  CHECK(b.closed());
  // Opening again starts from the first delay.
  REQUIRE(b.failure(t, false));
  CHECK(b.next_probe() - t == caf::timespan{100ms});
  CHECK(b.opens() == 2);
}

TEST_CASE("circuit breaker: a fail rate of 30% does not keep it open") {
  // Spread failures never make five in a row.
  circuit_breaker spread;
  circuit_breaker::time_point t{1h};
  const bool pattern[] = {true,  false, false, true,  false,
                          false, false, true,  false, false};
  for (int i = 0; i < 1000; ++i) {
    if (pattern[i % 10])
      spread.failure(t, false);
    else
      spread.success();
    CHECK(spread.closed());
  }
  CHECK(spread.opens() == 0);
  // Random failures: five in a row are rare, and the next success (a call
  // in flight or the probe) closes it at once.
  circuit_breaker b;
  std::mt19937_64 rng{42};
  std::bernoulli_distribution fails{0.3};
  int calls = 0;
  int open_ms = 0;
  for (int i = 0; i < 100000; ++i) {
    t += 1ms;
    if (!b.closed()) {
      ++open_ms;
      if (!b.probe_due(t))
        continue;
      b.probe_started();
    }
    ++calls;
    if (fails(rng)) {
      b.failure(t, b.current() == circuit_breaker::state::half_open);
    } else {
      b.success();
      CHECK(b.closed());
    }
  }
  CHECK(b.opens() > 0);
  CHECK(b.opens() < calls / 200); // 0.3^5 = 1 in 412
  // One call at a time is the worst case: with calls in flight, the first
  // of them to succeed closes it without waiting for a probe.
  MESSAGE(b.opens(), " opens in ", calls, " calls one at a time; open ",
          open_ms, " of 100000 ms");
}

TEST_CASE("circuit breaker: state names") {
  CHECK(std::string{to_string(circuit_breaker::state::closed)} == "closed");
  CHECK(std::string{to_string(circuit_breaker::state::open)} == "open");
  CHECK(std::string{to_string(circuit_breaker::state::half_open)}
        == "half_open");
}

} // TEST_SUITE


TEST_CASE("rpc-caller: the latency histogram counts a call in the first "
          "bucket whose bound it does not pass, and above every bound in "
          "the last") {
  auto h = latency_buckets::with_bounds({500, 1000});
  REQUIRE(h.counts.size() == 3);
  h.record(0);
  h.record(500);
  h.record(501);
  h.record(7000);
  CHECK(h.counts == std::vector<uint64_t>{2, 1, 1});
  CHECK(h.sum_us == 8001);
  CHECK(h.max_us == 7000);
}
