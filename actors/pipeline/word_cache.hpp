// A batcher's result cache: word -> length, at most `capacity` entries,
// the least recently used one evicted first, each valid for `ttl` after it
// was stored (0: for ever). The resolver contract is a pure function of the
// word, so an answer once given holds; the TTL is for resolvers whose
// answers may change (a new model, a new dictionary).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace rpcbatch {

class word_cache {
public:
  using clock = std::chrono::steady_clock;

  word_cache(std::size_t capacity, clock::duration ttl)
    : capacity_(capacity), ttl_(ttl) {
    // nop
  }

  /// The word's answer if it is cached and fresh at `now` (and makes it the
  /// most recently used); counts a hit or a miss.
  std::optional<int32_t> find(const std::string& word, clock::time_point now);

  /// Stores (or refreshes) the word's answer, evicting the least recently
  /// used entry when full.
  void put(const std::string& word, int32_t length, clock::time_point now);

  std::size_t size() const {
    return index_.size();
  }

  std::size_t capacity() const {
    return capacity_;
  }

  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t expirations = 0;

private:
  struct entry {
    std::string word;
    int32_t length;
    clock::time_point stored;
  };
  using list = std::list<entry>;

  std::size_t capacity_;
  clock::duration ttl_;
  /// Most recently used first.
  list lru_;
  std::unordered_map<std::string_view, list::iterator> index_;
};

} // namespace rpcbatch
