// A lock-free latency histogram with logarithmic buckets (about 9% wide),
// from 1 ms to ~3 hours; cheap enough for every output record.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

namespace rpcbatch {

class latency_histogram {
public:
  static constexpr int buckets = 192;

  /// Records one observation in milliseconds (negative counts as 0).
  void record(int64_t ms);

  uint64_t count() const;

  /// The value below which `q` (0..1) of the observations fall, in ms
  /// (upper bound of the bucket); 0 when empty.
  int64_t quantile(double q) const;

  /// Upper bound of bucket `i` in ms.
  static int64_t upper_bound(int i);

  uint64_t bucket_count(int i) const {
    return counts_[i].load(std::memory_order_relaxed);
  }

private:
  static int index_of(int64_t ms);
  std::array<std::atomic<uint64_t>, buckets> counts_{};
};

} // namespace rpcbatch
