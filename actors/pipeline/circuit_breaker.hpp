// The rpc-caller's circuit breaker as a plain state machine: the caller
// passes the time in, so that it is tested without actors or clocks.
//
//   closed ──(threshold failures in a row)──► open
//   open ──(probe due, the caller starts one call)──► half_open
//   half_open ──(the probe fails)──► open, next probe later (backoff)
//   any ──(a call gets an answer)──► closed
#pragma once

#include <cstdint>

#include <caf/actor_clock.hpp>
#include <caf/timespan.hpp>

namespace rpcbatch {

class circuit_breaker {
public:
  using time_point = caf::actor_clock::time_point;

  enum class state : uint8_t { closed, open, half_open };

  struct config {
    /// Consecutive failures that open the breaker. Five: a real outage
    /// fails every call and opens it within the first calls in flight,
    /// while at an independent fail rate of 30% five in a row happen on
    /// one call in 400 (0.3^5), and then the next success closes it again.
    uint32_t threshold = 5;
    /// The delay before the first probe; it doubles after each failed
    /// probe up to `probe_max`.
    caf::timespan probe_base = std::chrono::milliseconds(100);
    caf::timespan probe_max = std::chrono::seconds(5);
  };

  circuit_breaker();

  explicit circuit_breaker(config cfg);

  state current() const {
    return state_;
  }

  bool closed() const {
    return state_ == state::closed;
  }

  /// Whether a call may start now as the probe: the breaker is open, the
  /// probe's time has come and no probe is in flight.
  bool probe_due(time_point now) const;

  /// The caller started the probe: half open until it answers.
  void probe_started();

  /// When the next probe may start (while open).
  time_point next_probe() const {
    return next_probe_;
  }

  /// A call got an answer from the target: closes the breaker. True if it
  /// was open or half open.
  bool success();

  /// A call failed because of the target; `probe` tells whether it was the
  /// probe. Closed: counts towards the threshold; half open, if it was the
  /// probe: open again, the next probe after a longer delay; otherwise
  /// nothing changes (calls that were in flight when it opened). True if
  /// this failure opened the breaker.
  bool failure(time_point now, bool probe);

  /// How long the current open period has lasted (0 while closed).
  caf::timespan open_for(time_point now) const;

  /// How often the breaker opened.
  uint64_t opens() const {
    return opens_;
  }

  /// Probes that failed in the current open period.
  uint32_t failed_probes() const {
    return failed_probes_;
  }

private:
  void schedule_probe(time_point now);

  config cfg_;
  state state_ = state::closed;
  uint32_t consecutive_ = 0;
  uint32_t failed_probes_ = 0;
  uint64_t opens_ = 0;
  time_point opened_at_;
  time_point next_probe_;
};

/// "closed", "open" or "half_open".
const char* to_string(circuit_breaker::state x);

} // namespace rpcbatch
