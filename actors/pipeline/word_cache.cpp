#include "actors/pipeline/word_cache.hpp"

namespace rpcbatch {

std::optional<int32_t> word_cache::find(const std::string& word,
                                        clock::time_point now) {
  auto i = index_.find(word);
  if (i == index_.end()) {
    ++misses;
    return std::nullopt;
  }
  auto at = i->second;
  if (ttl_.count() > 0 && now - at->stored >= ttl_) {
    ++expirations;
    ++misses;
    index_.erase(i);
    lru_.erase(at);
    return std::nullopt;
  }
  ++hits;
  lru_.splice(lru_.begin(), lru_, at);
  return at->length;
}

void word_cache::put(const std::string& word, int32_t length,
                     clock::time_point now) {
  if (capacity_ == 0)
    return;
  if (auto i = index_.find(word); i != index_.end()) {
    i->second->length = length;
    i->second->stored = now;
    lru_.splice(lru_.begin(), lru_, i->second);
    return;
  }
  if (index_.size() >= capacity_) {
    index_.erase(lru_.back().word);
    lru_.pop_back();
    ++evictions;
  }
  lru_.push_front(entry{word, length, now});
  index_.emplace(lru_.front().word, lru_.begin());
}

} // namespace rpcbatch
