#include "actors/observe/histogram.hpp"

#include <cmath>

namespace rpcbatch {

namespace {

constexpr double growth = 1.09;

} // namespace

int latency_histogram::index_of(int64_t ms) {
  if (ms <= 1)
    return 0;
  auto i = static_cast<int>(std::ceil(std::log(static_cast<double>(ms))
                                      / std::log(growth)));
  return i < buckets ? i : buckets - 1;
}

int64_t latency_histogram::upper_bound(int i) {
  return static_cast<int64_t>(std::floor(std::pow(growth, i)));
}

void latency_histogram::record(int64_t ms) {
  counts_[index_of(ms)].fetch_add(1, std::memory_order_relaxed);
}

uint64_t latency_histogram::count() const {
  uint64_t n = 0;
  for (auto& c : counts_)
    n += c.load(std::memory_order_relaxed);
  return n;
}

int64_t latency_histogram::quantile(double q) const {
  auto n = count();
  if (n == 0)
    return 0;
  auto rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(n)));
  if (rank == 0)
    rank = 1;
  uint64_t seen = 0;
  for (int i = 0; i < buckets; ++i) {
    seen += counts_[i].load(std::memory_order_relaxed);
    if (seen >= rank)
      return upper_bound(i);
  }
  return upper_bound(buckets - 1);
}

} // namespace rpcbatch
