#include "actors/pipeline/credit_window.hpp"

#include <algorithm>

namespace rpcbatch {

credit_window::credit_window(credit_window_config cfg)
  : cfg_(cfg), size_(cfg.max_words) {
  cfg_.min_words = std::clamp<int64_t>(cfg_.min_words, 1, cfg_.max_words);
  cfg_.samples = std::max<std::size_t>(cfg_.samples, 1);
  rates_.assign(cfg_.samples, 0.0);
  if (cfg_.target.count() > 0) {
    slow_start_ = true;
    size_ = cfg_.min_words;
  }
}

void credit_window::confirmed(uint64_t n) {
  confirmed_ += n;
  if (!slow_start_)
    return;
  towards_doubling_ += n;
  while (size_ < cfg_.max_words
         && towards_doubling_ >= static_cast<uint64_t>(size_ / 2)) {
    towards_doubling_ -= static_cast<uint64_t>(size_ / 2);
    resize(std::min(size_ * 2, cfg_.max_words));
  }
}

bool credit_window::update(time_point now) {
  using seconds = std::chrono::duration<double>;
  if (cfg_.target.count() <= 0 || !started_ || now - begin_ < cfg_.interval)
    return false;
  slow_start_ = false;
  auto elapsed = seconds(now - begin_).count();
  rates_[next_] = static_cast<double>(confirmed_) / elapsed;
  next_ = (next_ + 1) % rates_.size();
  rate_ = *std::max_element(rates_.begin(), rates_.end());
  auto wanted = static_cast<int64_t>(rate_ * seconds(cfg_.target).count());
  wanted = std::clamp(wanted, cfg_.min_words, cfg_.max_words);
  // While it does not limit, the input is slower than the pipeline: the
  // rate says nothing about the pipeline, so the window does not shrink.
  if (limited_ || wanted > size_)
    resize(wanted);
  begin_ = now;
  confirmed_ = 0;
  limited_ = false;
  return true;
}

void credit_window::resize(int64_t to) {
  if (to < size_)
    ++shrinks_;
  else if (to > size_)
    ++grows_;
  size_ = to;
}

} // namespace rpcbatch
