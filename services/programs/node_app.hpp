// rpcbatch-node: one run of a node in its role, from the options
// (services/programs/node_options.hpp) to the drain, with the embedded
// development environment when no Kafka is given.
#pragma once

namespace rpcbatch {

/// Runs rpcbatch-node and returns its exit code: 0 after a complete drain,
/// 1 after a fatal error, 2 for bad options, 3 if the drain gave up waiting.
int run_node(int argc, char** argv);

} // namespace rpcbatch
