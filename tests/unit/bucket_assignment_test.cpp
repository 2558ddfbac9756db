#include "actors/cluster/bucket_assignment.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>

using namespace rpcbatch;

namespace {

std::map<std::string, int> loads(const std::vector<std::string>& owner) {
  std::map<std::string, int> n;
  for (auto& o : owner)
    ++n[o];
  return n;
}

int moved(const std::vector<std::string>& before,
          const std::vector<std::string>& after) {
  int n = 0;
  for (std::size_t b = 0; b < before.size(); ++b)
    n += before[b] != after[b];
  return n;
}

std::vector<std::string> names(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i)
    out.push_back("127.0.0.1:" + std::to_string(4000 + i));
  return out;
}

} // namespace

TEST_CASE("bucket assignment is balanced") {
  for (uint32_t buckets : {1u, 3u, 10u, 64u})
    for (int n = 1; n <= 6; ++n) {
      CAPTURE(buckets);
      CAPTURE(n);
      auto owner = assign_buckets(buckets, names(n));
      REQUIRE(owner.size() == buckets);
      auto l = loads(owner);
      CHECK(l.count("") == 0);
      int lo = static_cast<int>(buckets) / n;
      for (auto& [node, count] : l)
        CHECK((count == lo || count == lo + 1));
      CHECK(static_cast<int>(l.size()) == std::min<int>(n, buckets));
    }
}

TEST_CASE("bucket assignment does not depend on the order of nodes") {
  auto a = names(4);
  auto b = a;
  std::reverse(b.begin(), b.end());
  CHECK(assign_buckets(10, a) == assign_buckets(10, b));
}

TEST_CASE("a node that leaves gives up only its own buckets") {
  for (int n = 2; n <= 5; ++n) {
    CAPTURE(n);
    auto nodes = names(n);
    auto before = assign_buckets(10, nodes);
    auto gone = nodes[1];
    nodes.erase(nodes.begin() + 1);
    auto after = assign_buckets(10, nodes, before);
    auto lost = loads(before)[gone];
    CHECK(moved(before, after) == lost);
    for (std::size_t b = 0; b < before.size(); ++b)
      if (before[b] != gone)
        CHECK(after[b] == before[b]);
    CHECK(loads(after).count(gone) == 0);
  }
}

TEST_CASE("a node that joins takes its share and nothing else moves") {
  for (int n = 1; n <= 4; ++n) {
    CAPTURE(n);
    auto nodes = names(n);
    auto before = assign_buckets(10, nodes);
    nodes.push_back("127.0.0.1:5999");
    auto after = assign_buckets(10, nodes, before);
    auto taken = loads(after)["127.0.0.1:5999"];
    CHECK(taken == 10 / (n + 1));
    CHECK(moved(before, after) == taken);
  }
}

TEST_CASE("no node, no owner") {
  auto owner = assign_buckets(10, {});
  CHECK(std::all_of(owner.begin(), owner.end(),
                    [](const std::string& o) { return o.empty(); }));
  // Everything comes back when a node appears.
  auto again = assign_buckets(10, names(1), owner);
  CHECK(loads(again)[names(1)[0]] == 10);
}
