// JSON at the edges (the console's --json and `status`, the run's summary
// line): the JSON of any value with an inspect() list, each field under
// the name of its `field` annotation.
#pragma once

#include <map>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <caf/meta/type_name.hpp>
#include <caf/variant.hpp>

#include "messages/console.hpp"
#include "messages/status.hpp"

namespace rpcbatch {

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
struct is_std_pair : std::false_type {};
template <class A, class B>
struct is_std_pair<std::pair<A, B>> : std::true_type {};
template <class T>
struct is_caf_variant : std::false_type {};
template <class... Ts>
struct is_caf_variant<caf::variant<Ts...>> : std::true_type {};

/// The JSON of a value: numbers, booleans, text, enums (their names),
/// vectors and pairs (arrays), maps (objects) and structs with an inspect()
/// list of named fields (objects).
template <class T>
boost::json::value to_json(const T& x) {
  if constexpr (std::is_arithmetic_v<T>) {
    return boost::json::value(x);
  } else if constexpr (std::is_enum_v<T>) {
    return boost::json::value(to_string(x));
  } else if constexpr (std::is_same_v<T, std::string>) {
    return boost::json::value(x);
  } else if constexpr (is_std_pair<T>::value) {
    return boost::json::array{to_json(x.first), to_json(x.second)};
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

/// A value's JSON, serialised.
template <class T>
std::string json_text(const T& x) {
  return boost::json::serialize(to_json(x));
}

/// An actor's status as one JSON object: its fields and "mailbox" (its
/// events are the inspector's events).
inline boost::json::object status_object(const actor_status& x) {
  auto out = to_json(actor_status{x.mailbox, x.of, {}}).as_object();
  out.erase("events");
  return out;
}

} // namespace rpcbatch
