// rpcbatch-bench-rpc: the raw resolveBatch rate of rpc_client, with a fixed
// number of calls in flight. One thread issues calls as callbacks free slots,
// the way the rpc-caller actor will; no thread is created per call.
#include "actors/adapters/cli.hpp"
#include "services/resolver_service.hpp"
#include "actors/adapters/rpc_client.hpp"
#include "tests/bench/rpc_load.hpp"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: rpcbatch-bench-rpc [options]

Measures resolveBatch calls/s, inputs/s and call latency (p50, p99).

options:
  --target=HOST:PORT  the RpcService (default: an in-process resolver)
  --batch=N           inputs per call (default 100)
  --calls=N           calls to make (default 20000)
  --inflight=N        calls in flight at once (default 64)
  --deadline-ms=N     deadline of each call (default 10000)
)";

int run(const rpcbatch::command_line& cl) {
  cl.allow_only({"target", "batch", "calls", "inflight", "deadline-ms"});
  auto batch = static_cast<std::size_t>(cl.integer("batch", 100, 0, 1000000));
  auto calls = static_cast<std::size_t>(cl.integer("calls", 20000, 1, 1e9));
  auto inflight = static_cast<std::size_t>(cl.integer("inflight", 64, 1, 1e6));
  std::chrono::milliseconds deadline{
    cl.integer("deadline-ms", 10000, 1, 3600000)};
  std::unique_ptr<rpcbatch::resolver_server> local;
  auto target = cl.text("target", "");
  if (target.empty()) {
    rpcbatch::resolver_options opts;
    opts.listen = "127.0.0.1:0";
    local = std::make_unique<rpcbatch::resolver_server>(opts);
    local->start();
    target = local->address();
  } else {
    rpcbatch::split_host_port(target);
  }
  auto words = rpcbatch::bench::distinct_words(batch);

  rpcbatch::rpc_client client{target};
  if (!client.wait_connected(std::chrono::seconds{10})) {
    std::fprintf(stderr, "cannot reach RpcService at %s\n", target.c_str());
    return 1;
  }
  auto r = rpcbatch::bench::run_rpc_load(client, words, calls, inflight,
                                         deadline);
  std::printf("rpc bench: target=%s%s batch=%zu calls=%zu inflight=%zu\n",
              target.c_str(), local ? " (in-process)" : "", batch, calls,
              inflight);
  std::printf("calls/s=%.0f inputs/s=%.0f p50_ms=%.3f p99_ms=%.3f failed=%zu"
              " elapsed_s=%.2f\n",
              r.calls_per_second(),
              r.calls_per_second() * static_cast<double>(batch),
              r.percentile_ms(0.50), r.percentile_ms(0.99), r.failed,
              r.seconds);
  return r.failed == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  return rpcbatch::run_tool(argc, argv, usage, run);
}
