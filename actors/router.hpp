// The bucket router: bucket = (first byte of the word) % buckets, as the
// seed's to_buckets(); one batcher per bucket.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "messages/actors.hpp"

namespace rpcbatch {

/// The bucket of a (non-empty) word.
inline uint32_t bucket_of(std::string_view word, uint32_t buckets) {
  return static_cast<unsigned char>(word.front()) % buckets;
}

struct router_state {
  static inline const char* name = "router";
  std::vector<batcher_actor> batchers;
  std::vector<uint64_t> routed;
  uint64_t batches = 0;
  uint64_t end_of_windows = 0;
};

router_actor::behavior_type
router(router_actor::stateful_pointer<router_state> self,
       std::vector<batcher_actor> batchers);

} // namespace rpcbatch
