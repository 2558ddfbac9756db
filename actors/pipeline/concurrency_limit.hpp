// How many resolveBatch calls the rpc-caller keeps in flight: a limit that
// adapts to the RPC service, between a floor (1 unless --rpc-min-inflight)
// and --rpc-max-inflight. Pure and deterministic: no CAF, no clock of its
// own; the rpc-caller passes every time in.
//
// The algorithm: a latency gradient against the service's no-load latency
// (Envoy's adaptive concurrency "gradient controller", itself after
// Netflix's GradientLimit), with a multiplicative cut on overload answers
// (AIMD) and a floor under what counts as a rise (CoDel's target).
//
// - The no-load latency (baseline): the median latency of a few calls made
//   with the limit held at the floor, so that they do not queue behind our
//   own calls. Measured at start, and again every `baseline_every` while
//   a decrease holds the limit below the max (a baseline that went stale
//   low would keep it there; at the max, or below it only for want of
//   load, there is nothing to correct). A window faster than the baseline
//   lowers it at once.
// - Once the first baseline is measured it starts at `initial` (the
//   rpc-caller's: 16, the fixed bound it replaces) and grows from there; a
//   service that cannot take that shows it within a window or two.
//   Starting at 1 (TCP's slow start) cost a 1.4 s backlog run against a
//   20 ms service 27% of its throughput.
// - Windows: the mean latency of at least max(`window`, limit) successful
//   calls started since the limit last changed (calls of an older limit
//   judge nothing). The mean, not the minimum: batches differ in size and
//   content, and a minimum is biased low (Netflix's note on Gradient2).
// - Flat: a window within max(baseline * `tolerance`, baseline +
//   `allowance`). The limit grows by sqrt(limit) (Envoy's headroom, Netflix's
//   queue size), unless less than half of it was used (a limit that is not
//   used is not tested). Rising: the limit times threshold / mean, at most
//   halved per window (Gradient's clamp against outliers).
// - RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED (the service says it is
//   overloaded, or it is): the limit times `backoff` (0.5), once per round:
//   answers to calls started before the last cut are not counted again.
//
// Why this and not the others, for a batched RPC stage:
// - Gradient2 compares with a long-term average of the latency itself, so
//   the baseline follows the queueing our own calls cause: against a
//   service that is saturated (latency proportional to calls in flight) the
//   limit keeps creeping up to the max. A baseline measured without our load
//   (Vegas' and Envoy's minRTT) does not creep.
// - Vegas' queue estimate limit * (1 - noload / latency) reads every rise
//   of latency as queueing. On the fast in-process resolver, latency rises
//   from 0.36 ms at 1 call to 2.1 ms at 16 (calls in flight over calls/s
//   of the node's backlog run at batch 10, two cores shared by node and
//   resolver) while throughput still rises 22% from 8 to 16 calls: Vegas,
//   and a plain gradient, would cut that to a few calls. The `allowance`
//   (10 ms) says that queueing worth milliseconds is noise, not overload,
//   which is the same judgement as CoDel's 5 ms target for a standing queue.
// - AIMD alone reacts only to errors: a service that slows down under load
//   without refusing gets no relief until deadlines pass (5 s).
// - Envoy holds the limit at its floor for a measurement every minute; here
//   only while a decrease holds it below the max (see above), so a fast
//   service keeps every slot.
// Known limitation: the mean latency of a window does not weigh batch
// sizes; under a backlog batches are full, and the allowance absorbs the
// rest.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rpcbatch {

class concurrency_limit {
public:
  using clock = std::chrono::steady_clock;
  using time_point = clock::time_point;
  using duration = clock::duration;

  struct config {
    /// The limit stays within [min, max]; min == max pins it (no
    /// measurements, no adaptation).
    std::size_t min = 1;
    std::size_t max = 16;
    /// Where it starts once the first baseline is measured (0: the max).
    std::size_t initial = 0;
    /// A window's mean latency counts as flat within max(baseline *
    /// tolerance, baseline + allowance).
    double tolerance = 1.5;
    duration allowance = std::chrono::milliseconds(10);
    /// Successful calls per window at least (and at least the limit).
    std::size_t window = 8;
    /// Calls made at the floor whose median is the baseline, and how long a
    /// baseline holds while the limit is below the max.
    std::size_t baseline_calls = 5;
    duration baseline_every = std::chrono::seconds(60);
    /// What an overload answer leaves of the limit.
    double backoff = 0.5;
  };

  /// The defaults of config.
  concurrency_limit();

  explicit concurrency_limit(config cfg);

  /// Calls that may be in flight now.
  std::size_t current() const;

  /// A call started at `started` answered successfully at `now`;
  /// `inflight`: the calls in flight when it answered, itself included.
  void succeeded(time_point started, time_point now, std::size_t inflight);

  /// A call started at `started` was answered RESOURCE_EXHAUSTED or
  /// DEADLINE_EXCEEDED at `now`.
  void overloaded(time_point started, time_point now);

  const config& settings() const {
    return cfg_;
  }

  /// Times the limit went up or down (a change of the whole number).
  uint64_t increases() const {
    return increases_;
  }

  uint64_t decreases() const {
    return decreases_;
  }

  /// Baselines measured so far, the current one (0 before the first), the
  /// mean latency of the last window (0 before the first), and whether a
  /// measurement holds the limit at the floor now.
  uint64_t baselines() const {
    return baselines_;
  }

  duration baseline() const {
    return baseline_;
  }

  duration last_window() const {
    return last_window_;
  }

  bool measuring() const {
    return measuring_;
  }

private:
  bool pinned() const {
    return cfg_.min >= cfg_.max;
  }

  static std::size_t whole(double x);

  /// Sets the estimate and counts the change; a change starts a new window.
  void set(double estimate, time_point now);

  void start_window(time_point now);

  void end_window(time_point now);

  void start_measuring(time_point now);

  config cfg_;
  /// The limit as a real number; current() is its whole part.
  double estimate_;
  /// The limit to go back to after a measurement.
  double saved_;
  bool measuring_ = true;
  time_point measuring_since_ = time_point::min();
  std::vector<duration> measured_;
  duration baseline_{0};
  time_point next_baseline_ = time_point::max();
  /// The window: calls started from `window_start_` on.
  time_point window_start_ = time_point::min();
  duration window_sum_{0};
  std::size_t window_calls_ = 0;
  std::size_t window_busiest_ = 0;
  duration last_window_{0};
  /// Answers to calls started before the last decrease do not cut again.
  time_point last_decrease_ = time_point::min();
  /// Whether the limit went down since the last baseline.
  bool decreased_ = false;
  uint64_t increases_ = 0;
  uint64_t decreases_ = 0;
  uint64_t baselines_ = 0;
};

} // namespace rpcbatch
