#include "actors/observe/console_gate.hpp"

#include <string>
#include <utility>

#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

std::size_t argument_size(const std::string& x) {
  return x.size();
}

template <class T>
std::size_t argument_size(const T&) {
  return 0;
}

using gate_pointer = console_actor::stateful_pointer<console_gate_state>;

/// Why a request with these arguments is refused; empty if it is not.
template <class... Ts>
std::string refusal(const console_gate_state& st, const Ts&... args) {
  if (st.in_flight >= st.cfg.max_in_flight)
    return "too many requests in flight (" + std::to_string(st.in_flight)
           + ")";
  for (auto size : {std::size_t{0}, argument_size(args)...})
    if (size > st.cfg.max_argument)
      return "an argument of " + std::to_string(size) + " bytes (at most "
             + std::to_string(st.cfg.max_argument) + ")";
  return {};
}

/// Passes `xs...` to the inspector and answers with its reply (of types
/// `Rs...`), unless the request is refused.
template <class... Rs, class... Ts>
caf::result<Rs...> pass_on(gate_pointer self, Ts... xs) {
  auto& st = self->state;
  if (auto why = refusal(st, xs...); !why.empty()) {
    // The first refusal and every hundredth: a flood must not flood the log.
    if (st.refused++ % 100 == 0)
      log::warn("console-gate", "refused a console request (",
                st.refused, " so far): ", why);
    return caf::make_error(caf::sec::invalid_argument, std::move(why));
  }
  ++st.in_flight;
  auto rp = self->template make_response_promise<Rs...>();
  self->request(st.inspector, st.cfg.timeout, std::move(xs)...)
    .then(
      [self, rp](Rs&... ys) mutable {
        --self->state.in_flight;
        rp.deliver(std::move(ys)...);
      },
      [self, rp](caf::error& err) mutable {
        --self->state.in_flight;
        rp.deliver(std::move(err));
      });
  return rp;
}

} // namespace

console_actor::behavior_type
console_gate(console_actor::stateful_pointer<console_gate_state> self,
             inspector_actor inspector, console_gate_config cfg) {
  self->state.cfg = cfg;
  self->state.inspector = std::move(inspector);
  // Anything else a peer sends (a forged fatal, drain, ack, attach...) is
  // no console request: counted, answered with an error, dropped.
  self->set_default_handler(
    [](caf::scheduled_actor* ptr,
       caf::message_view&) -> caf::result<caf::message> {
      auto& st = static_cast<decltype(self)>(ptr)->state;
      if (st.refused++ % 100 == 0)
        log::warn("console-gate", "refused a message that is no console "
                                  "request (", st.refused, " so far)");
      return caf::make_error(caf::sec::unexpected_message);
    });
  return {
    [=](nodes_atom a) { return pass_on<node_summaries>(self, a); },
    [=](actors_atom a) { return pass_on<actor_summaries>(self, a); },
    [=](status_atom a, std::string& name) {
      return pass_on<actor_summary>(self, a, std::move(name));
    },
    [=](events_atom a, event_query& query) {
      return pass_on<node_events>(self, a, query);
    },
    [=](metrics_atom a) { return pass_on<metric_families>(self, a); },
    [=](ready_atom a) { return pass_on<readiness_report>(self, a); },
    [=](control_atom a, std::string& command, std::string& argument,
        std::string& token) {
      return pass_on<control_outcome>(self, a, std::move(command),
                                      std::move(argument), std::move(token));
    },
  };
}

} // namespace rpcbatch
