// Status answers: every actor describes its state as a typed value
// (messages/status.hpp), which the inspector collects; JSON is made only
// where it is shown (actors/observe/json.hpp).
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <caf/duration.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/observe/countdown.hpp"
#include "actors/observe/event_log.hpp"
#include "messages/actors.hpp"
#include "messages/status.hpp"

namespace rpcbatch {

/// An actor's status with its mailbox's length. Call it from the actor's
/// own handler: the mailbox is not safe to read elsewhere.
template <class Self, class Status>
actor_status status_of(Self* self, Status detail) {
  return {self->mailbox().size(), std::move(detail), {}};
}

/// The same with the actor's recent events.
template <class Self, class Status>
actor_status status_of(Self* self, Status detail, const event_log& events) {
  return {self->mailbox().size(), std::move(detail), events.recent()};
}

/// Whether the message at hand came from the actor itself (one of its own
/// timers). Periodic ticks re-arm themselves only then: a tick from anyone
/// else, a peer included, cannot start another timer chain.
template <class Self>
bool from_itself(Self* self) {
  return self->current_sender() != nullptr
         && self->current_sender().get() == self->ctrl();
}

/// An actor of a directory and the status it answered.
struct observed {
  directory_entry entry;
  actor_status status;
};

/// The statuses of a set of actors, by name.
using status_map = std::map<std::string, observed>;

/// The statuses of the actors of one role.
std::vector<const observed*> of_role(const status_map& status,
                                     std::string_view role);

/// Asks every actor for its status and calls `done` with the answers;
/// actors that do not answer in time are left out: 5 s for the actors of
/// this node, `remote_timeout` for those a directory names on another
/// node (a batcher node's), so that a sick node holds nobody up.
/// Requests to actors of this node go at high priority: a status answers
/// before the data queued in the actor's mailbox, however much of it there
/// is. Two limits of CAF 0.17.6: it drops the priority of a request whose
/// timeout is a std::chrono duration (so the timeout is a caf::duration),
/// and the answer to a high-priority request never arrives from another
/// node (so those go at normal priority).
template <class Self>
void collect_status(Self* self, const actor_list& actors,
                    std::function<void(status_map)> done,
                    caf::timespan remote_timeout = std::chrono::seconds(5)) {
  auto result = std::make_shared<status_map>();
  auto left = countdown::start(actors.size(), [result, done] {
    done(std::move(*result));
  });
  for (auto& entry : actors) {
    auto answered = [result, left, entry](actor_status& status) {
      (*result)[entry.name] = observed{entry, std::move(status)};
      left->settle();
    };
    auto failed = [left](caf::error&) { left->settle(); };
    caf::duration timeout{entry.node.empty() ? caf::timespan{std::chrono::seconds(5)}
                                             : remote_timeout};
    if (entry.handle.node() == self->node())
      self->template request<caf::message_priority::high>(entry.handle,
                                                          timeout,
                                                          status_atom::value)
        .then(answered, failed);
    else
      self->request(entry.handle, timeout, status_atom::value)
        .then(answered, failed);
  }
}

} // namespace rpcbatch
