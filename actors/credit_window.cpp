#include "actors/credit_window.hpp"

#include <algorithm>

namespace rpcbatch {

credit_window::credit_window(credit_window_config cfg, time_point now)
  : cfg_(cfg), size_(cfg.max_words), started_(now) {
  cfg_.min_words = std::clamp<int64_t>(cfg_.min_words, 1, cfg_.max_words);
  cfg_.samples = std::max<std::size_t>(cfg_.samples, 1);
  rates_.assign(cfg_.samples, 0.0);
}

bool credit_window::update(time_point now) {
  using seconds = std::chrono::duration<double>;
  if (cfg_.target.count() <= 0 || now - started_ < cfg_.interval)
    return false;
  auto elapsed = seconds(now - started_).count();
  rates_[next_] = static_cast<double>(confirmed_) / elapsed;
  next_ = (next_ + 1) % rates_.size();
  rate_ = *std::max_element(rates_.begin(), rates_.end());
  auto wanted = static_cast<int64_t>(rate_ * seconds(cfg_.target).count());
  wanted = std::clamp(wanted, cfg_.min_words, cfg_.max_words);
  auto before = size_;
  // While it does not limit, the input is slower than the pipeline: the
  // rate says nothing about the pipeline, so the window does not shrink.
  if (limited_ || wanted > size_)
    resize(wanted);
  started_ = now;
  confirmed_ = 0;
  limited_ = false;
  return size_ != before;
}

void credit_window::resize(int64_t to) {
  if (to < size_)
    ++shrinks_;
  else if (to > size_)
    ++grows_;
  size_ = to;
}

} // namespace rpcbatch
