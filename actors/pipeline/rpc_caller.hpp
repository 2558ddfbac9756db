// The rpc-caller: one resolveBatch per job with a deadline and a batch id
// that stays the same across the job's attempts, a bound on calls in flight
// (jobs beyond it wait here, and the source's credit window bounds how many
// can wait), and the dead-letter path for batches that can never succeed.
//
// Waiting jobs go oldest first: by the sequence number of the oldest record
// they carry words of (element::seq), so that under a backlog records
// finish in the order they were read and commits keep moving, instead of
// bucket after bucket as the batchers flushed them.
//
// A failing target makes jobs wait, never lose their words: a failed call
// is tried again after a capped exponential backoff with jitter, with no
// limit on attempts, and a circuit breaker (actors/pipeline/circuit_breaker.hpp)
// stops new calls once calls keep failing: while it is open, one probe at a
// time (the oldest waiting job) asks the target, spaced by a capped backoff,
// and the first answer closes it and lets every waiting job go. Only
// `give_up` (off by default) turns a long failure into dead letters.
//
// The bound on calls in flight adapts to the service (see
// actors/pipeline/concurrency_limit.hpp): it grows while latency stays flat, shrinks
// when latency rises, and halves on RESOURCE_EXHAUSTED and
// DEADLINE_EXCEEDED. A lower bound only delays calls: nothing in flight is
// stopped, and nothing goes to the dead letters for it.
//
// A revoke cancels what is not called yet: the elements of the revoked
// partitions' epochs leave the jobs that wait or back off (their new owner
// redoes them); calls in flight are answered as usual.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>

#include <caf/timespan.hpp>

#include "actors/pipeline/circuit_breaker.hpp"
#include "actors/pipeline/concurrency_limit.hpp"
#include "actors/observe/event_log.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

class rpc_transport;

struct rpc_caller_config {
  std::chrono::milliseconds deadline{5000};
  /// Calls in flight at most, and at least once the limit adapted down
  /// (equal: the limit stays at max_inflight), and where it starts once it
  /// measured the service's no-load latency (within the two). 64 at most:
  /// against the in-process resolver 64 gave a third more words/s than 16
  /// (batch 10 and 100), against one that takes 20 ms a call three times
  /// as many at batch 10; a service that cannot take them shows it in its
  /// latency or answers RESOURCE_EXHAUSTED, and the limit comes down. It
  /// starts at 16, the fixed bound it replaces, and grows while latency
  /// stays flat.
  std::size_t max_inflight = 64;
  std::size_t min_inflight = 1;
  std::size_t initial_inflight = 16;
  /// The adaptive limit's other settings (its min, max and initial value
  /// are the three above).
  concurrency_limit::config limit;
  /// A job that has been failing this long (since its first failed call,
  /// or since the breaker opened while it waited) goes to the dead-letter
  /// topic with its last error; 0 = never (the default: wait for as long
  /// as it takes).
  caf::timespan give_up{0};
  /// The backoff of a failed job, and the spacing of probes while the
  /// breaker is open: `backoff_base`, doubling up to `backoff_max`.
  caf::timespan backoff_base = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(5);
  /// Consecutive failed calls that open the circuit breaker (see
  /// circuit_breaker::config for why 5).
  uint32_t breaker_threshold = 5;
  /// A job whose calls failed this many times in a row, each time while
  /// the target answered other batches since its previous failure, fails
  /// because of its words, not the target (e.g. a word the server cannot
  /// take): it goes to the dead-letter topic instead of holding its
  /// partition's commit point and credit for ever (0: never). At a 30%
  /// random failure rate, 20 failures in a row happen once in 3e10 jobs.
  uint32_t failing_alone_limit = 20;
};

/// What a failed call means for its job.
enum class rpc_failure : uint8_t {
  /// The target is failing: the job waits and is tried again.
  target,
  /// The batch can never succeed: its words go to the dead-letter topic.
  permanent,
};

/// Classifies a gRPC status code other than OK.
/// - permanent: INVALID_ARGUMENT and OUT_OF_RANGE, the server's verdict on
///   these inputs, which asking again cannot change. A reply that does not
///   fit the request is permanent too (see element_lengths()).
/// - target: everything else. UNAVAILABLE (also when no connection can be
///   made), DEADLINE_EXCEEDED and RESOURCE_EXHAUSTED are transient by
///   nature. UNIMPLEMENTED, UNAUTHENTICATED, PERMISSION_DENIED, NOT_FOUND,
///   FAILED_PRECONDITION, INTERNAL, UNKNOWN, CANCELLED, ... say that the
///   target, or the way to it, is wrong or broken, not the words: a
///   misconfigured target must cost latency, not data, so these wait too
///   until someone fixes it (or `give_up` says otherwise).
rpc_failure classify_rpc_failure(int code);

struct rpc_caller_state {
  static inline const char* name = "rpc-caller";

  using time_point = caf::actor_clock::time_point;

  /// Where a job is: ready to call, called, or waiting for its backoff.
  enum class phase : uint8_t { waiting, inflight, backing_off };

  /// A waiting job's place in line: the sequence number of the oldest
  /// record it carries words of (lower: older), then its id.
  using waiting_key = std::pair<uint64_t, uint64_t>;

  struct job_entry {
    rpc_job job;
    /// The lowest element::seq of its elements, computed here (jobs come
    /// from other nodes too).
    uint64_t oldest = 0;
    /// The x-rpcbatch-batch-id of every attempt.
    std::string batch_id;
    phase at = phase::waiting;
    int attempts = 0;
    /// When the call in flight started.
    time_point started;
    /// Whether the job is failing, and since when (see give_up).
    bool failing = false;
    time_point failing_since;
    /// Whether a call of this job failed (not only the breaker held it).
    bool failed_call = false;
    std::string last_error;
    /// Failed calls in a row while other batches got answers (see
    /// failing_alone_limit), and the answers counted at its last failure.
    uint32_t failed_alone = 0;
    uint64_t answers_seen = 0;
    /// The batcher that wants the answers to the job's words (its cache),
    /// or null.
    batcher_actor answers_to;
  };

  rpc_caller_config cfg;
  std::shared_ptr<rpc_transport> transport;
  sink_actor sink;
  circuit_breaker breaker;
  /// How many calls may be in flight now.
  concurrency_limit limit;
  std::mt19937_64 rng{std::random_device{}()};
  /// Random per rpc-caller, so that batch ids differ across rpc-callers
  /// and nodes: "<prefix>-<job number>" in hex.
  uint64_t batch_prefix = 0;
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, job_entry> jobs;
  /// Jobs ready to call, oldest first (see waiting_key).
  std::set<waiting_key> waiting;
  /// Failing jobs by the time they are given up (only with give_up).
  std::set<std::pair<time_point, uint64_t>> give_up_at;
  std::size_t inflight = 0;
  std::size_t backing_off = 0;
  /// Elements of every job not yet answered.
  uint64_t words_waiting = 0;
  /// The job whose call is the breaker's probe (0: none), and the place in
  /// line of the last one that was: probes go round the waiting jobs, so
  /// that one job that always fails cannot keep the breaker open.
  uint64_t probe_job = 0;
  waiting_key last_probe{0, 0};
  /// Calls the target answered (results or verdicts on the words).
  uint64_t answers = 0;
  /// The pending wake-up (tick) for the next probe or give-up.
  bool wakeup_armed = false;
  time_point wakeup_at;
  /// The last error of a call that blamed the target.
  std::string last_error;
  /// The counters, in the struct that reports them: status() copies them
  /// and adds the gauges.
  rpc_caller_status counters = fresh_counters();
  /// Errors, retries, dead letters and the breaker as they happen.
  event_log events;

  /// No counts yet, and the upper bounds (microseconds) of the latency
  /// buckets of successful calls.
  static rpc_caller_status fresh_counters() {
    rpc_caller_status out;
    out.latency = latency_buckets::with_bounds(
      {500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
       1000000, 5000000});
    return out;
  }
};

/// The node passes its rpc_client as the transport; tests pass their own.
rpc_caller_actor::behavior_type
rpc_caller(rpc_caller_actor::stateful_pointer<rpc_caller_state> self,
           rpc_caller_config cfg, std::shared_ptr<rpc_transport> transport,
           sink_actor sink);

/// Why a job cannot be answered (empty if it can): it needs one word index
/// per element, each naming one of its words. Jobs come from batchers on
/// other nodes too; the rpc-caller checks each as it arrives.
std::string malformed_job(const rpc_job& job);

/// The answers of a job's elements, or an error text if the reply does not
/// fit the job: a length per unique word, in order, none negative and none
/// above the word's size in bytes (lengths count code points). A malformed
/// job (see malformed_job()) has no answer either.
bool element_lengths(const rpc_job& job, const std::vector<int32_t>& lengths,
                     std::vector<int32_t>& out, std::string& error);

} // namespace rpcbatch
