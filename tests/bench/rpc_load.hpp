// A fixed number of resolveBatch calls with a bound on calls in flight, the
// way the rpc-caller issues them: one thread starts calls as callbacks free
// slots; no thread per call. Shared by the benchmarks.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <vector>

#include "services/adapters/rpc_client.hpp"

namespace rpcbatch::bench {

struct rpc_load_result {
  double seconds = 0;
  std::size_t failed = 0;
  /// Call latencies in milliseconds, sorted.
  std::vector<double> latency_ms;

  double calls_per_second() const {
    return static_cast<double>(latency_ms.size()) / seconds;
  }

  double percentile_ms(double p) const {
    if (latency_ms.empty())
      return 0;
    auto i = static_cast<std::size_t>(p * static_cast<double>(
                                            latency_ms.size()));
    return latency_ms[std::min(i, latency_ms.size() - 1)];
  }
};

inline rpc_load_result run_rpc_load(rpc_client& client,
                                    const std::vector<std::string>& words,
                                    std::size_t calls, std::size_t inflight,
                                    std::chrono::milliseconds deadline) {
  using clock_type = std::chrono::steady_clock;
  rpc_load_result result;
  result.latency_ms.resize(calls);
  std::atomic<std::size_t> failed{0};
  std::mutex mtx;
  std::condition_variable slot_free;
  std::size_t running = 0;
  auto start = clock_type::now();
  for (std::size_t i = 0; i < calls; ++i) {
    {
      std::unique_lock<std::mutex> lock{mtx};
      slot_free.wait(lock, [&] { return running < inflight; });
      ++running;
    }
    auto sent = clock_type::now();
    // A batch id per call, of the size the rpc-caller sends.
    char id[40];
    std::snprintf(id, sizeof(id), "%016zx-%zx", calls, i);
    client.resolve_batch(words, deadline, id, [&, i, sent](rpc_result r) {
      check_batch_size(r, words.size());
      std::chrono::duration<double, std::milli> took = clock_type::now() - sent;
      result.latency_ms[i] = took.count();
      if (!r.ok() && failed.fetch_add(1) == 0)
        std::fprintf(stderr, "first failure: %s: %s\n", rpc_code_name(r.code),
                     r.error.c_str());
      std::lock_guard<std::mutex> guard{mtx};
      --running;
      slot_free.notify_one();
    });
  }
  {
    std::unique_lock<std::mutex> lock{mtx};
    slot_free.wait(lock, [&] { return running == 0; });
  }
  result.seconds
    = std::chrono::duration<double>(clock_type::now() - start).count();
  result.failed = failed.load();
  std::sort(result.latency_ms.begin(), result.latency_ms.end());
  return result;
}

/// `n` distinct words for a call.
inline std::vector<std::string> distinct_words(std::size_t n) {
  std::vector<std::string> words;
  for (std::size_t i = 0; i < n; ++i)
    words.push_back("word" + std::to_string(i));
  return words;
}

} // namespace rpcbatch::bench
