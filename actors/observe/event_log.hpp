// An actor's recent events, each recorded when it happens with its own time
// (a flush with its trigger and size, an RPC error, a retry, the breaker
// opening, a revoke, ...). The log is a bounded ring that travels with the
// actor's status; the inspector takes the events it has not seen yet by
// their sequence numbers, so an actor on another node needs no further
// wiring, and an actor with more events between two samples than the ring
// holds shows how many were left out.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "messages/status.hpp"

namespace rpcbatch {

/// Milliseconds since the epoch.
inline int64_t unix_ms_now() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

class event_log {
public:
  /// How many events the ring keeps.
  static constexpr std::size_t capacity = 128;

  /// Records an event that happens now.
  void add(event_kind kind, std::string detail, uint64_t count = 1) {
    actor_event e{++last_, unix_ms_now(), kind, std::move(detail),
                  count};
    if (ring_.size() < capacity)
      ring_.push_back(std::move(e));
    else
      ring_[(last_ - 1) % capacity] = std::move(e);
  }

  /// The events the ring holds, oldest first.
  std::vector<actor_event> recent() const {
    std::vector<actor_event> out;
    out.reserve(ring_.size());
    auto first = ring_.size() < capacity ? 0 : last_ % capacity;
    for (std::size_t i = 0; i < ring_.size(); ++i)
      out.push_back(ring_[(first + i) % ring_.size()]);
    return out;
  }

private:
  std::vector<actor_event> ring_;
  uint64_t last_ = 0;
};

} // namespace rpcbatch
