// A deterministic CAF fixture: the testing scheduler, virtual time, and
// helpers that run every mailbox between steps (no sleeps, no threads).
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/scheduler/test_coordinator.hpp>

#include "actors/observe/inspection.hpp"
#include "messages/type_ids.hpp"

namespace rpcbatch::test {

inline caf::actor_system_config& testing_config(caf::actor_system_config& cfg) {
  cfg.set("scheduler.policy", caf::atom("testing"));
  register_message_types(cfg);
  return cfg;
}

struct deterministic {
  caf::actor_system_config cfg;
  caf::actor_system sys{testing_config(cfg)};
  caf::scheduler::test_coordinator& sched
    = dynamic_cast<caf::scheduler::test_coordinator&>(sys.scheduler());

  /// Fires what is left on the clock so that no actor stays alive waiting
  /// for a timer (the actor system waits for every actor on shutdown).
  ~deterministic() {
    run();
    while (sched.has_pending_timeout()) {
      sched.trigger_timeouts();
      run();
    }
  }

  /// Runs every mailbox until all are empty.
  void run() {
    sched.run();
  }

  /// Moves virtual time on by `d`, firing each due timer in turn and running
  /// every mailbox after each, so that consequences are seen in order.
  void advance(caf::timespan d) {
    run();
    sched.advance_time(d);
    run();
  }

  /// Sends `xs...` as a request to `dest` and returns the answer (run()
  /// included). Fails the test if there is none.
  template <class R, class Handle, class... Ts>
  R ask(const Handle& dest, Ts... xs) {
    auto result = std::make_shared<std::optional<R>>();
    sys.spawn([=](caf::event_based_actor* self) {
      self->request(dest, caf::infinite, xs...)
        .then([=](R& r) { *result = std::move(r); });
    });
    run();
    if (!*result)
      throw std::runtime_error("no answer");
    return std::move(**result);
  }
};

/// The status of kind T in an actor's answer (throws if it is another
/// kind).
template <class T>
T status_as(const actor_status& status) {
  return caf::get<T>(status.of);
}

/// A batch of `ws` from partition 0, at offsets from `offset` on.
inline word_batch words(std::initializer_list<const char*> ws,
                        int64_t offset = 0) {
  word_batch b;
  for (auto w : ws)
    b.elements.push_back(element{w, 0, offset++, 1000});
  return b;
}

/// A batcher that takes everything and answers end of window with 0.
inline batcher_actor spawn_idle_batcher(caf::actor_system& sys) {
  return sys.spawn([]() -> batcher_actor::behavior_type {
    return {
      [](word_batch&) {},
      [](flush_atom, uint64_t) {},
      [](end_of_window_atom) { return uint64_t{0}; },
      [](cancel_atom, std::vector<partition_epoch>&) {
        return uint64_t{0};
      },
      [](word_answers&) {},
      [](status_atom) { return actor_status{}; },
    };
  });
}

/// A router that takes everything, answers an end of window and a cancel
/// with 0 and routes nothing (for a source under test).
inline router_actor spawn_idle_router(caf::actor_system& sys) {
  return sys.spawn([]() -> router_actor::behavior_type {
    return {
      [](word_batch&) {},
      [](std::vector<batcher_actor>&) {},
      [](handover_atom, std::vector<batcher_actor>&) {},
      [](lost_atom, caf::node_id&, std::vector<batcher_actor>&) {},
      [](std::vector<partition_progress>&) {},
      [](source_actor&) {},
      [](end_of_window_atom) { return uint64_t{0}; },
      [](cancel_atom, std::vector<partition_epoch>&) { return uint64_t{0}; },
      [](status_atom) { return actor_status{}; },
    };
  });
}

/// A sink that takes everything and does nothing with it.
inline sink_actor spawn_idle_sink(caf::actor_system& sys) {
  return sys.spawn([]() -> sink_actor::behavior_type {
    return {
      [](source_actor&) {},
      [](resolved_batch&) {},
      [](failed_batch&) {},
      [](undelivered_batch&) {},
      [](retry_atom) {},
      [](status_atom) { return actor_status{}; },
    };
  });
}

/// Records every message of one type that an actor of interface `Handle`
/// receives; answers everything else with defaults.
template <class T>
using recorded = std::shared_ptr<std::vector<T>>;

} // namespace rpcbatch::test
