// The source's credit window, bounded in time as well as in words: what is
// in flight should be confirmed within `target` at the rate words are being
// confirmed now, so the window is that rate times the target (Little's law:
// in flight = throughput x time in flight), between a floor and the
// configured most.
//
// Why this rule and not a latency gradient (Netflix's Gradient2, Envoy's
// adaptive concurrency) or AIMD: those find the concurrency at which a
// service's latency starts to grow, for requests that each take the same
// time. The words in this window do not: a word waits in a bag for its
// batch, then in the RPC queue, and its time in flight is mostly the queue
// the window itself builds. What the window must bound is what a crash, a
// revoke or a slow service costs, in time: the bandwidth-delay product
// (TCP Vegas, BBR) states exactly that. It also keeps today's throughput
// when the service is fast: rate x target is then far above the most.
//
// The rate is the highest of the last few intervals' confirmation rates (a
// max filter, as BBR's bandwidth estimate), so that a short pause in
// confirmations (a batch timer, a produce round trip) does not shrink the
// window; after `samples` intervals without confirmations (an outage) it
// falls to the floor. The window shrinks only while it limits (words waited
// for credit): an input slower than the pipeline says nothing about how
// fast the pipeline is.
//
// Before the first rate is known, the window starts at the floor and
// doubles whenever half of it was confirmed (TCP's slow start): a fast
// pipeline reaches the most within a few round trips, a slow one is never
// given more than about twice what it can confirm in the target time.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace rpcbatch {

struct credit_window_config {
  /// The most words in flight (--max-inflight-words).
  int64_t max_words = 100000;
  /// The least: enough words for every bucket to fill a batch.
  int64_t min_words = 1000;
  /// What is in flight should be confirmed within this long (0: the window
  /// stays at max_words).
  std::chrono::nanoseconds target = std::chrono::seconds(2);
  /// How often the rate is measured, and over how many intervals its
  /// highest value is taken.
  std::chrono::nanoseconds interval = std::chrono::milliseconds(250);
  std::size_t samples = 8;
};

class credit_window {
public:
  using time_point = std::chrono::steady_clock::time_point;

  credit_window() = default;

  explicit credit_window(credit_window_config cfg);

  /// Words that may be in flight now.
  int64_t size() const {
    return size_;
  }

  /// The confirmation rate the window follows, words per second.
  double rate() const {
    return rate_;
  }

  /// How often the window shrank and grew.
  uint64_t shrinks() const {
    return shrinks_;
  }

  uint64_t grows() const {
    return grows_;
  }

  const credit_window_config& config() const {
    return cfg_;
  }

  /// Words went in: the first ones start the first interval.
  void sent(time_point now) {
    if (!started_) {
      started_ = true;
      begin_ = now;
    }
  }

  /// `n` words were confirmed.
  void confirmed(uint64_t n);

  /// The window was spent while words waited for it.
  void limited() {
    limited_ = true;
  }

  /// Ends the interval if it is over: measures the rate and sets the size.
  /// Answers whether an interval ended.
  bool update(time_point now);

private:
  void resize(int64_t to);

  credit_window_config cfg_;
  int64_t size_ = 0;
  double rate_ = 0;
  /// Whether words went in, and since when the interval runs.
  bool started_ = false;
  time_point begin_;
  uint64_t confirmed_ = 0;
  /// Slow start: before the first rate, and the words confirmed towards
  /// the next doubling.
  bool slow_start_ = false;
  uint64_t towards_doubling_ = 0;
  bool limited_ = false;
  /// The last intervals' rates (a ring of cfg_.samples).
  std::vector<double> rates_;
  std::size_t next_ = 0;
  uint64_t shrinks_ = 0;
  uint64_t grows_ = 0;
};

} // namespace rpcbatch
