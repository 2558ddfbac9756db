// Status answers: every actor describes its state as a typed value
// (messages/status.hpp); the inspector turns it into JSON for the console
// and the HTTP endpoints with the field names of its inspect() list.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>
#include <caf/duration.hpp>
#include <caf/meta/type_name.hpp>

#include "actors/observe/countdown.hpp"
#include "actors/observe/event_log.hpp"
#include "messages/actors.hpp"
#include "messages/status.hpp"

namespace rpcbatch {

/// Serialises a JSON object.
std::string status_json(const boost::json::object& obj);

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

/// Writes the fields of an inspect() list into a JSON object, each under
/// the name of the `field` annotation before it.
class json_writer {
public:
  using result_type = void;
  static constexpr bool reads_state = true;
  static constexpr bool writes_state = false;

  explicit json_writer(boost::json::object& out) : out_(out) {
    // nop
  }

  template <class... Ts>
  void operator()(Ts&&... xs) {
    (put(xs), ...);
  }

private:
  void put(const caf::meta::type_name_t&) {
    // nop
  }

  void put(const field& f) {
    key_ = f.name;
  }

  template <class T>
  void put(const T& x);

  boost::json::object& out_;
  const char* key_ = "";
};

template <class T>
struct is_std_vector : std::false_type {};
template <class T>
struct is_std_vector<std::vector<T>> : std::true_type {};
template <class T>
struct is_std_map : std::false_type {};
template <class K, class V>
struct is_std_map<std::map<K, V>> : std::true_type {};
template <class T>
struct is_caf_variant : std::false_type {};
template <class... Ts>
struct is_caf_variant<caf::variant<Ts...>> : std::true_type {};

/// The JSON of a value: numbers, booleans, text, vectors (arrays), maps
/// (objects) and structs with an inspect() list of named fields (objects).
template <class T>
boost::json::value to_json(const T& x) {
  if constexpr (std::is_arithmetic_v<T>) {
    return boost::json::value(x);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return boost::json::value(x);
  } else if constexpr (is_std_vector<T>::value) {
    boost::json::array out;
    for (auto& e : x)
      out.push_back(to_json(e));
    return out;
  } else if constexpr (is_std_map<T>::value) {
    boost::json::object out;
    for (auto& [k, v] : x) {
      if constexpr (std::is_same_v<std::decay_t<decltype(k)>, std::string>)
        out[k] = to_json(v);
      else
        out[std::to_string(k)] = to_json(v);
    }
    return out;
  } else {
    boost::json::object out;
    json_writer w{out};
    inspect(w, const_cast<T&>(x));
    return out;
  }
}

template <class T>
void json_writer::put(const T& x) {
  if constexpr (is_caf_variant<T>::value) {
    caf::visit(
      [this](auto& alternative) {
        auto fields = to_json(alternative);
        for (auto& [k, v] : fields.as_object())
          out_[k] = v;
      },
      x);
  } else {
    out_[key_] = to_json(x);
  }
}

/// An actor's status as one JSON object: its fields and "mailbox" (its
/// events are the inspector's events).
inline boost::json::object status_object(const actor_status& x) {
  auto out = to_json(actor_status{x.mailbox, x.of, {}}).as_object();
  out.erase("events");
  return out;
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
/// actors that do not answer within 5 s are left out.
/// Requests to actors of this node go at high priority: a status answers
/// before the data queued in the actor's mailbox, however much of it there
/// is. Two limits of CAF 0.17.6: it drops the priority of a request whose
/// timeout is a std::chrono duration (so the timeout is a caf::duration),
/// and the answer to a high-priority request never arrives from another
/// node (so those go at normal priority).
template <class Self>
void collect_status(Self* self, const actor_list& actors,
                    std::function<void(status_map)> done) {
  auto result = std::make_shared<status_map>();
  auto left = countdown::start(actors.size(), [result, done] {
    done(std::move(*result));
  });
  caf::duration timeout{std::chrono::seconds(5)};
  for (auto& entry : actors) {
    auto answered = [result, left, entry](actor_status& status) {
      (*result)[entry.name] = observed{entry, std::move(status)};
      left->settle();
    };
    auto failed = [left](caf::error&) { left->settle(); };
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
