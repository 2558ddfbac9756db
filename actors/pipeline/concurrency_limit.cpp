#include "actors/pipeline/concurrency_limit.hpp"

#include <algorithm>
#include <cmath>

namespace rpcbatch {

concurrency_limit::concurrency_limit() : concurrency_limit(config{}) {
  // nop
}

concurrency_limit::concurrency_limit(config cfg) : cfg_(cfg) {
  cfg_.max = std::max<std::size_t>(cfg_.max, 1);
  cfg_.min = std::clamp<std::size_t>(cfg_.min, 1, cfg_.max);
  cfg_.window = std::max<std::size_t>(cfg_.window, 1);
  cfg_.baseline_calls = std::max<std::size_t>(cfg_.baseline_calls, 1);
  cfg_.backoff = std::clamp(cfg_.backoff, 0.0, 1.0);
  cfg_.tolerance = std::max(cfg_.tolerance, 1.0);
  if (cfg_.initial == 0)
    cfg_.initial = cfg_.max;
  cfg_.initial = std::clamp(cfg_.initial, cfg_.min, cfg_.max);
  estimate_ = static_cast<double>(cfg_.initial);
  saved_ = estimate_;
  // The first baseline before anything else.
  measuring_ = !pinned();
}

std::size_t concurrency_limit::whole(double x) {
  return static_cast<std::size_t>(std::floor(x));
}

std::size_t concurrency_limit::current() const {
  if (measuring_)
    return cfg_.min;
  return std::clamp(whole(estimate_), cfg_.min, cfg_.max);
}

void concurrency_limit::set(double estimate, time_point now) {
  estimate = std::clamp(estimate, static_cast<double>(cfg_.min),
                        static_cast<double>(cfg_.max));
  auto before = whole(estimate_);
  auto after = whole(estimate);
  estimate_ = estimate;
  if (after > before) {
    ++increases_;
  } else if (after < before) {
    ++decreases_;
    last_decrease_ = now;
    decreased_ = true;
  }
  if (after != before)
    start_window(now);
}

void concurrency_limit::start_window(time_point now) {
  window_start_ = now;
  window_sum_ = duration{0};
  window_calls_ = 0;
  window_busiest_ = 0;
}

void concurrency_limit::start_measuring(time_point now) {
  measuring_ = true;
  measuring_since_ = now;
  measured_.clear();
  saved_ = estimate_;
  decreased_ = false;
}

void concurrency_limit::succeeded(time_point started, time_point now,
                                  std::size_t inflight) {
  if (pinned())
    return;
  auto latency = std::max(now - started, duration{0});
  if (measuring_) {
    // Only calls started while the limit held at the floor.
    if (started < measuring_since_)
      return;
    measured_.push_back(latency);
    if (measured_.size() < cfg_.baseline_calls)
      return;
    auto mid = measured_.begin() + measured_.size() / 2;
    std::nth_element(measured_.begin(), mid, measured_.end());
    baseline_ = *mid;
    ++baselines_;
    measuring_ = false;
    next_baseline_ = now + cfg_.baseline_every;
    // Back to the limit before the measurement; the floor held meanwhile
    // is no change of the limit's estimate.
    estimate_ = saved_;
    start_window(now);
    return;
  }
  if (started < window_start_)
    return;
  window_sum_ += latency;
  ++window_calls_;
  window_busiest_ = std::max(window_busiest_, inflight);
  if (window_calls_ >= std::max(cfg_.window, current()))
    end_window(now);
  if (!measuring_ && decreased_ && now >= next_baseline_
      && current() < cfg_.max)
    start_measuring(now);
}

void concurrency_limit::end_window(time_point now) {
  auto mean = window_sum_ / static_cast<long>(window_calls_);
  auto busiest = window_busiest_;
  last_window_ = mean;
  start_window(now);
  // The service got faster than the baseline says.
  if (mean < baseline_)
    baseline_ = mean;
  auto threshold = std::max(
    std::chrono::duration_cast<duration>(baseline_ * cfg_.tolerance),
    baseline_ + cfg_.allowance);
  if (mean > threshold) {
    auto gradient = std::max(0.5, static_cast<double>(threshold.count())
                                    / static_cast<double>(mean.count()));
    set(estimate_ * gradient, now);
  } else if (busiest * 2 >= current()) {
    set(estimate_ + std::sqrt(estimate_), now);
  }
}

void concurrency_limit::overloaded(time_point started, time_point now) {
  if (pinned() || started < last_decrease_)
    return;
  if (measuring_) {
    // The measurement goes on at the floor; what it returns to is cut.
    auto before = whole(saved_);
    saved_ = std::max(static_cast<double>(cfg_.min), saved_ * cfg_.backoff);
    if (whole(saved_) < before) {
      ++decreases_;
      decreased_ = true;
    }
    last_decrease_ = now;
    return;
  }
  auto before = decreases_;
  set(estimate_ * cfg_.backoff, now);
  // At the floor already: still one round before the next cut counts.
  if (decreases_ == before)
    last_decrease_ = now;
}

} // namespace rpcbatch
