#include "actors/pipeline/circuit_breaker.hpp"

#include <algorithm>

namespace rpcbatch {

circuit_breaker::circuit_breaker() : circuit_breaker(config{}) {
  // nop
}

circuit_breaker::circuit_breaker(config cfg) : cfg_(cfg) {
  cfg_.threshold = std::max<uint32_t>(cfg_.threshold, 1);
}

bool circuit_breaker::probe_due(time_point now) const {
  return state_ == state::open && now >= next_probe_;
}

void circuit_breaker::probe_started() {
  if (state_ == state::open)
    state_ = state::half_open;
}

bool circuit_breaker::success() {
  auto was_open = state_ != state::closed;
  state_ = state::closed;
  consecutive_ = 0;
  failed_probes_ = 0;
  return was_open;
}

bool circuit_breaker::failure(time_point now, bool probe) {
  switch (state_) {
    case state::closed:
      if (++consecutive_ < cfg_.threshold)
        return false;
      state_ = state::open;
      ++opens_;
      opened_at_ = now;
      failed_probes_ = 0;
      schedule_probe(now);
      return true;
    case state::half_open:
      if (probe) {
        state_ = state::open;
        ++failed_probes_;
        schedule_probe(now);
      }
      return false;
    case state::open:
      return false;
  }
  return false;
}

caf::timespan circuit_breaker::open_for(time_point now) const {
  if (state_ == state::closed)
    return caf::timespan{0};
  return std::chrono::duration_cast<caf::timespan>(now - opened_at_);
}

void circuit_breaker::schedule_probe(time_point now) {
  // No jitter: one probe at a time per rpc-caller is no thundering herd.
  auto delay = cfg_.probe_base;
  for (uint32_t i = 0; i < failed_probes_ && delay < cfg_.probe_max; ++i)
    delay *= 2;
  next_probe_ = now + std::min(delay, cfg_.probe_max);
}

const char* to_string(circuit_breaker::state x) {
  switch (x) {
    case circuit_breaker::state::closed:
      return "closed";
    case circuit_breaker::state::open:
      return "open";
    case circuit_breaker::state::half_open:
      return "half_open";
  }
  return "closed";
}

} // namespace rpcbatch
