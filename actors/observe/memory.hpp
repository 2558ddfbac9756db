// What the process uses, for summaries and metrics.
#pragma once

#include <cstdint>

namespace rpcbatch {

/// Peak resident set size of this process in bytes (VmHWM; 0 if unknown).
/// Unlike getrusage, it starts afresh at exec.
uint64_t peak_rss_bytes();

} // namespace rpcbatch
