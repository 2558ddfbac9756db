// rpcbatch-bench-rpc: the raw resolveBatch rate of rpc_client, with a fixed
// number of calls in flight. One thread issues calls as callbacks free slots,
// the way the rpc-caller actor will; no thread is created per call.
#include "services/adapters/rpc_client.hpp"
#include "services/config/program.hpp"
#include "services/tools/resolver_service.hpp"
#include "tests/bench/rpc_load.hpp"

#include <cstdio>
#include <memory>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: rpcbatch-bench-rpc [options]

Measures resolveBatch calls/s, inputs/s and call latency (p50, p99).
)";

struct bench_config : rpcbatch::program_config {
  std::string target;
  std::size_t batch = 100;
  std::size_t calls = 20000;
  std::size_t inflight = 64;
  std::size_t deadline_ms = 10000;

  bench_config() : program_config("rpcbatch-bench-rpc", usage) {
    add_options()
      .add(target, "target",
           "the RpcService, HOST:PORT (default: an in-process resolver)")
      .add(batch, "batch", "inputs per call")
      .add(calls, "calls", "calls to make")
      .add(inflight, "inflight", "calls in flight at once")
      .add(deadline_ms, "deadline-ms", "deadline of each call");
  }
};

int run(const bench_config& cfg) {
  using rpcbatch::check_range;
  auto batch = cfg.batch;
  auto calls = cfg.calls;
  auto inflight = cfg.inflight;
  check_range("batch", batch, std::size_t{0}, std::size_t{1000000});
  check_range("calls", calls, std::size_t{1}, std::size_t{1000000000});
  check_range("inflight", inflight, std::size_t{1}, std::size_t{1000000});
  check_range("deadline-ms", cfg.deadline_ms, std::size_t{1},
              std::size_t{3600000});
  std::chrono::milliseconds deadline{cfg.deadline_ms};
  std::unique_ptr<rpcbatch::resolver_server> local;
  auto target = cfg.target;
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
  bench_config cfg;
  return rpcbatch::run_program(cfg, argc, argv, [&] { return run(cfg); });
}
