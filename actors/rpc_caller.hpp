// The rpc-caller: owns the gRPC channel; one resolveBatch per job with a
// deadline, retries with exponential backoff and jitter on transient codes,
// a bound on calls in flight (jobs beyond it wait here, and the source's
// credit window bounds how many can wait), and the dead-letter path.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>

#include <caf/timespan.hpp>

#include "messages/actors.hpp"

namespace rpcbatch {

class rpc_client;

struct rpc_caller_config {
  std::chrono::milliseconds deadline{5000};
  std::size_t max_inflight = 16;
  /// Attempts per job before it goes to the dead-letter topic.
  int max_attempts = 8;
  caf::timespan backoff_base = std::chrono::milliseconds(100);
  caf::timespan backoff_max = std::chrono::seconds(5);
};

struct rpc_caller_state {
  static inline const char* name = "rpc-caller";

  /// Upper bounds (microseconds) of the call latency histogram's buckets;
  /// one more bucket counts the calls above the last bound.
  static constexpr std::array<uint64_t, 12> latency_bounds_us
    = {500,    1000,   2500,   5000,    10000,   25000,
       50000,  100000, 250000, 500000, 1000000, 5000000};

  struct job_entry {
    rpc_job job;
    int attempts = 0;
    caf::actor_clock::time_point started;
  };

  rpc_caller_config cfg;
  std::shared_ptr<rpc_client> client;
  sink_actor sink;
  uint64_t next_id = 1;
  std::unordered_map<uint64_t, job_entry> jobs;
  /// Jobs ready to call, waiting for a free slot.
  std::deque<uint64_t> waiting;
  std::size_t inflight = 0;
  std::size_t backing_off = 0;
  std::mt19937_64 rng{std::random_device{}()};
  uint64_t calls = 0;
  uint64_t ok_calls = 0;
  uint64_t failed_calls = 0;
  uint64_t retries = 0;
  uint64_t dead_letter_jobs = 0;
  uint64_t words_requested = 0;
  uint64_t elements_resolved = 0;
  std::map<std::string, uint64_t> errors_by_code;
  /// Call latency in microseconds, summed over successful calls.
  uint64_t latency_us_sum = 0;
  uint64_t latency_us_max = 0;
  std::array<uint64_t, latency_bounds_us.size() + 1> latency_counts{};
};

rpc_caller_actor::behavior_type
rpc_caller(rpc_caller_actor::stateful_pointer<rpc_caller_state> self,
           rpc_caller_config cfg, std::shared_ptr<rpc_client> client,
           sink_actor sink);

/// The answers of a job's elements, or an error text if the reply does not
/// fit the job (a length per unique word, in order).
bool answer_elements(const rpc_job& job, const std::vector<int32_t>& lengths,
                     std::vector<int32_t>& out, std::string& error);

} // namespace rpcbatch
