// Which node owns which bucket when batchers run on several CAF nodes: a
// balanced assignment (every node holds floor or ceil of buckets/nodes) that
// moves as few buckets as possible when nodes leave or join. Buckets whose
// node stays keep it unless that node holds more than its share; the others
// go, in bucket order, to the node that ranks highest for them (rendezvous
// hashing) among those below their share. Deterministic: the same previous
// assignment and node set give the same result, whatever the order of nodes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rpcbatch {

/// The rendezvous score of `node` for `bucket` (higher ranks first).
uint64_t rendezvous_score(const std::string& node, uint32_t bucket);

/// Owner of every bucket (a name from `nodes`; empty when there is no node).
/// `previous` holds the owners before (empty names for none; missing
/// entries count as none).
std::vector<std::string>
assign_buckets(uint32_t buckets, const std::vector<std::string>& nodes,
               const std::vector<std::string>& previous = {});

} // namespace rpcbatch
