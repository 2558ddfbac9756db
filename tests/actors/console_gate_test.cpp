// The console gate, message by message on the deterministic scheduler: what
// it passes to the inspector and back, what it refuses (arguments too long,
// too many requests in flight, messages of no console request), and that a
// refusal is an error answer, never a stall.
#include "tests/support/fixture.hpp"

#include <doctest/doctest.h>

#include "actors/observe/console_gate.hpp"

using namespace rpcbatch;
using namespace rpcbatch::test;

namespace {

/// What the inspector mock saw: each request, in order.
using seen_requests = std::shared_ptr<std::vector<std::string>>;

struct gate_fixture : deterministic {
  seen_requests seen = std::make_shared<std::vector<std::string>>();
  inspector_actor inspector;
  console_actor aut;

  gate_fixture() {
    // An inspector that records each request and answers the Nth only when
    // told to (a message N, answer...).
    auto seen = this->seen;
    inspector = caf::actor_cast<inspector_actor>(
      sys.spawn([seen](caf::event_based_actor* self) -> caf::behavior {
        auto held = std::make_shared<std::vector<caf::response_promise>>();
        auto hold = [=](std::string what) {
          seen->push_back(std::move(what));
          held->push_back(self->make_response_promise());
        };
        return {
          [=](uint32_t n, node_summaries& x) { (*held)[n].deliver(x); },
          [=](uint32_t n, actor_summary& x) { (*held)[n].deliver(x); },
          [=](uint32_t n, readiness_report& x) { (*held)[n].deliver(x); },
          [=](uint32_t n, control_outcome& x) { (*held)[n].deliver(x); },
          [=](nodes_atom) { hold("nodes"); },
          [=](status_atom, std::string& name) { hold("status " + name); },
          [=](ready_atom) { hold("ready"); },
          [=](control_atom, std::string& c, std::string& a, std::string& t) {
            hold("control " + c + " " + a + " " + t);
          },
        };
      }));
    console_gate_config cfg;
    cfg.max_in_flight = 2;
    cfg.max_argument = 8;
    aut = sys.spawn(console_gate, inspector, cfg);
    run();
  }

  ~gate_fixture() {
    caf::anon_send_exit(aut, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
  }

  /// Sends `xs...` to the gate from a fresh actor; the answer (as text,
  /// or the error) lands in the returned slot once given.
  template <class R, class... Ts>
  std::shared_ptr<std::string> send(Ts... xs) {
    auto answer = std::make_shared<std::string>();
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(caf::actor_cast<caf::actor>(aut), caf::infinite, xs...)
        .then([=](R& x) { *answer = "answer: " + text(x); },
              [=](caf::error& err) { *answer = "error: " + to_string(err); });
    });
    run();
    return answer;
  }

  /// A request of no console type (answered with an error).
  template <class... Ts>
  std::shared_ptr<std::string> send_other(Ts... xs) {
    return send<bool>(xs...);
  }

  static std::string text(const node_summaries& x) {
    return x.empty() ? "no node" : x.front().node;
  }
  static std::string text(const actor_summary& x) {
    return x.name;
  }
  static std::string text(const readiness_report& x) {
    return (x.ready ? "yes " : "no ")
           + (x.reasons.empty() ? "" : x.reasons.front());
  }
  static std::string text(const control_outcome& x) {
    return x.detail;
  }
  static std::string text(bool x) {
    return x ? "true" : "false";
  }

  static node_summaries nodes_named(std::string name) {
    node_summary n;
    n.node = std::move(name);
    return {n};
  }

  /// The inspector answers its `n`th request with `xs...`.
  template <class... Ts>
  void answer(uint32_t n, Ts... xs) {
    caf::anon_send(caf::actor_cast<caf::actor>(inspector), n, std::move(xs)...);
    run();
  }

  uint64_t refused() {
    return gate_state().refused;
  }

  console_gate_state& gate_state() {
    auto ptr = caf::actor_cast<caf::abstract_actor*>(aut);
    using impl = console_actor::stateful_pointer<console_gate_state>;
    return dynamic_cast<impl>(ptr)->state;
  }
};

} // namespace

TEST_SUITE("console gate") {

TEST_CASE_FIXTURE(gate_fixture, "passes requests on and answers what comes "
                                "back") {
  auto nodes = send<node_summaries>(nodes_atom::value);
  auto ready = send<readiness_report>(ready_atom::value);
  CHECK(*seen == std::vector<std::string>{"nodes", "ready"});
  CHECK(nodes->empty()); // held by the inspector
  answer(0, nodes_named("local"));
  answer(1, readiness_report{true, {"ok"}});
  CHECK(*nodes == "answer: local");
  CHECK(*ready == "answer: yes ok");
  CHECK(gate_state().in_flight == 0);
  CHECK(refused() == 0);
}

TEST_CASE_FIXTURE(gate_fixture, "an argument too long is refused with an "
                                "error, not passed on") {
  auto fine = send<actor_summary>(status_atom::value, std::string{"sink"});
  auto long_name = send<actor_summary>(status_atom::value,
                                       std::string(9, 'x'));
  auto long_token = send<control_outcome>(control_atom::value,
                                          std::string{"drain"}, std::string{},
                                          std::string(100, 't'));
  CHECK(*seen == std::vector<std::string>{"status sink"});
  CHECK(long_name->find("error: ") == 0);
  CHECK(long_name->find("9 bytes") != std::string::npos);
  CHECK(long_token->find("error: ") == 0);
  CHECK(refused() == 2);
  actor_summary sink;
  sink.name = "sink";
  answer(0, sink);
  CHECK(*fine == "answer: sink");
}

TEST_CASE_FIXTURE(gate_fixture, "requests beyond the bound in flight are "
                                "refused at once, and accepted again once "
                                "answers came") {
  auto a = send<node_summaries>(nodes_atom::value);
  auto b = send<node_summaries>(nodes_atom::value);
  auto c = send<node_summaries>(nodes_atom::value);
  CHECK(seen->size() == 2);
  CHECK(c->find("too many requests in flight") != std::string::npos);
  answer(0, node_summaries{});
  answer(1, node_summaries{});
  CHECK(*a == "answer: no node");
  CHECK(*b == "answer: no node");
  auto d = send<node_summaries>(nodes_atom::value);
  CHECK(seen->size() == 3);
  CHECK(refused() == 1);
  answer(2, node_summaries{});
  CHECK(*d == "answer: no node");
}

TEST_CASE_FIXTURE(gate_fixture, "a message that is no console request is "
                                "answered with an error and counted; the "
                                "gate goes on") {
  auto fatal = send_other(fatal_atom::value, std::string{"forged"});
  auto drain = send_other(drain_atom::value);
  CHECK(fatal->find("error: ") == 0);
  CHECK(drain->find("error: ") == 0);
  CHECK(seen->empty());
  CHECK(refused() == 2);
  auto nodes = send<node_summaries>(nodes_atom::value);
  CHECK(seen->size() == 1);
}

TEST_CASE_FIXTURE(gate_fixture, "an inspector that does not answer is an "
                                "error after the timeout, and one that is "
                                "gone at once") {
  auto nodes = send<node_summaries>(nodes_atom::value);
  CHECK(nodes->empty());
  advance(console_gate_config{}.timeout);
  CHECK(nodes->find("error: ") == 0);
  CHECK(gate_state().in_flight == 0);
  caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
  run();
  auto again = send<node_summaries>(nodes_atom::value);
  CHECK(again->find("error: ") == 0);
  CHECK(gate_state().in_flight == 0);
}

} // TEST_SUITE
