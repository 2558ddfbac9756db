// The console gate: the only actor a console port offers. It lives in an
// actor system of its own, whose middleman knows no other actor of the node,
// so that a peer on the console port (any holder of a certificate of the CA,
// with TLS) can reach nothing but these requests: not the node, the source,
// the sink, the router or the batchers, whatever actor ids it tries. It
// checks the sizes of what it is given, keeps a bound on the requests it has
// in flight, and passes each request to the inspector in the node's actor
// system, answering with what comes back.
#pragma once

#include <cstddef>
#include <cstdint>

#include <caf/timespan.hpp>

#include "messages/actors.hpp"

namespace rpcbatch {

struct console_gate_config {
  /// Requests passed on and not answered yet; more are refused at once.
  std::size_t max_in_flight = 16;
  /// The longest actor name, control, argument or token accepted (bytes).
  std::size_t max_argument = 4096;
  /// How long the inspector may take for an answer.
  caf::timespan timeout = std::chrono::seconds(15);
};

struct console_gate_state {
  static inline const char* name = "console-gate";
  console_gate_config cfg;
  inspector_actor inspector;
  std::size_t in_flight = 0;
  /// Requests refused: too many in flight, or an argument too long.
  uint64_t refused = 0;
};

console_actor::behavior_type
console_gate(console_actor::stateful_pointer<console_gate_state> self,
             inspector_actor inspector, console_gate_config cfg = {});

} // namespace rpcbatch
