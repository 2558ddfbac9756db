// Waiting for SIGINT/SIGTERM without async-signal hazards: block both signals
// in every thread (call before starting any thread), then sigwait.
#pragma once

#include <chrono>

namespace rpcbatch {

/// Blocks SIGINT and SIGTERM for the calling thread and every thread it
/// starts afterwards. Call first thing in main().
void block_stop_signals();

/// Waits for SIGINT or SIGTERM; returns the signal number.
int wait_stop_signal();

/// Like wait_stop_signal, but gives up after `timeout`; returns 0 then.
int wait_stop_signal_for(std::chrono::milliseconds timeout);

} // namespace rpcbatch
