// Status answers: every actor describes its state as one JSON object.
#pragma once

#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace rpcbatch {

/// Serialises a status object.
std::string status_json(const boost::json::object& obj);

/// Serialises a status object with the actor's mailbox size added. Call it
/// from the actor's own handler: the mailbox is not safe to read elsewhere.
template <class Self>
std::string status_json(Self* self, boost::json::object obj) {
  obj["mailbox"] = self->mailbox().size();
  return status_json(obj);
}

/// Whether the message at hand came from the actor itself (one of its own
/// timers). Periodic ticks re-arm themselves only then: a tick from anyone
/// else, a peer included, cannot start another timer chain.
template <class Self>
bool from_itself(Self* self) {
  return self->current_sender() != nullptr
         && self->current_sender().get() == self->ctrl();
}

/// Parses a status answer (null if it is not JSON).
boost::json::value parse_status(const std::string& text);

} // namespace rpcbatch
