// rpcbatch-console: connects to a node's inspector over CAF's middleman
// (--connect=HOST:PORT, the node's --console-port) and shows its actors:
// one-shot commands, a live `watch` table, and an interactive prompt with
// line editing and history (GNU readline) when started without a command.
#pragma once

namespace rpcbatch {

/// Runs rpcbatch-console and returns its exit code: 0 done, 1 node not
/// reachable, an error answer or a refused control, 2 bad usage.
int run_console(int argc, char** argv);

} // namespace rpcbatch
