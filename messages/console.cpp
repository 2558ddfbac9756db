#include "messages/console.hpp"

namespace rpcbatch {

namespace {

constexpr const char* kind_names[] = {
  "flush",          "rpc_error", "retry",       "dead_letter",
  "breaker_open",   "breaker_closed", "limit",  "rebalance",
  "credit",         "resend",    "cancel",      "node_joined",
  "node_lost",      "bucket_moved", "control",  "events_dropped",
};

constexpr auto kind_count = sizeof(kind_names) / sizeof(kind_names[0]);

static_assert(kind_count
                == static_cast<std::size_t>(event_kind::events_dropped) + 1,
              "a name for every event kind");

} // namespace

const char* to_string(event_kind x) {
  auto i = static_cast<std::size_t>(x);
  return i < kind_count ? kind_names[i] : "unknown";
}

bool from_string(std::string_view name, event_kind& x) {
  for (std::size_t i = 0; i < kind_count; ++i)
    if (name == kind_names[i]) {
      x = static_cast<event_kind>(i);
      return true;
    }
  return false;
}

const std::vector<event_kind>& all_event_kinds() {
  static const std::vector<event_kind> kinds = [] {
    std::vector<event_kind> out;
    for (std::size_t i = 0; i < kind_count; ++i)
      out.push_back(static_cast<event_kind>(i));
    return out;
  }();
  return kinds;
}

} // namespace rpcbatch
