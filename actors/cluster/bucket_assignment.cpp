#include "actors/cluster/bucket_assignment.hpp"

#include <algorithm>
#include <map>

namespace rpcbatch {

namespace {

uint64_t fnv1a(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : text) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

uint64_t mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

} // namespace

uint64_t rendezvous_score(const std::string& node, uint32_t bucket) {
  return mix(fnv1a(node) ^ mix(bucket));
}

std::vector<std::string>
assign_buckets(uint32_t buckets, const std::vector<std::string>& nodes,
               const std::vector<std::string>& previous) {
  std::vector<std::string> owner(buckets);
  if (nodes.empty())
    return owner;
  auto n = static_cast<uint32_t>(nodes.size());
  auto low = buckets / n;
  // How many nodes may hold one bucket more than `low`.
  auto high_slots = buckets % n;
  std::map<std::string, std::vector<uint32_t>> held;
  for (auto& node : nodes)
    held[node];
  for (uint32_t b = 0; b < buckets && b < previous.size(); ++b)
    if (held.count(previous[b]) > 0) {
      owner[b] = previous[b];
      held[previous[b]].push_back(b);
    }
  // Release what a node holds beyond its share, its lowest-ranked buckets
  // first; nodes are visited in name order, so the result is deterministic.
  auto release_to = [&](const std::string& node, std::size_t keep) {
    auto& mine = held[node];
    std::sort(mine.begin(), mine.end(), [&](uint32_t x, uint32_t y) {
      return rendezvous_score(node, x) > rendezvous_score(node, y);
    });
    while (mine.size() > keep) {
      owner[mine.back()].clear();
      mine.pop_back();
    }
  };
  uint32_t at_high = 0;
  for (auto& [node, mine] : held) {
    if (mine.size() > low && at_high < high_slots) {
      ++at_high;
      release_to(node, low + 1);
    } else {
      release_to(node, low);
    }
  }
  // Orphans go to the best-ranked node that is below its share.
  for (uint32_t b = 0; b < buckets; ++b) {
    if (!owner[b].empty())
      continue;
    const std::string* best = nullptr;
    for (auto& [node, mine] : held) {
      auto room = mine.size() < low
                  || (mine.size() == low && at_high < high_slots);
      if (!room)
        continue;
      if (best == nullptr
          || rendezvous_score(node, b) > rendezvous_score(*best, b))
        best = &node;
    }
    owner[b] = *best;
    auto& mine = held[*best];
    mine.push_back(b);
    if (mine.size() == low + 1)
      ++at_high;
  }
  return owner;
}

} // namespace rpcbatch
