// rpcbatch-bench-rpc: the raw resolveBatch rate of rpc_client, with a fixed
// number of calls in flight. One thread issues calls as callbacks free slots,
// the way the rpc-caller actor will; no thread is created per call.
#include "services/cli.hpp"
#include "services/resolver_service.hpp"
#include "services/rpc_client.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace {

using clock_type = std::chrono::steady_clock;

constexpr const char* usage = R"(usage: rpcbatch-bench-rpc [options]

Measures resolveBatch calls/s, inputs/s and call latency (p50, p99).

options:
  --target=HOST:PORT  the RpcService (default: an in-process resolver)
  --batch=N           inputs per call (default 100)
  --calls=N           calls to make (default 20000)
  --inflight=N        calls in flight at once (default 64)
  --deadline-ms=N     deadline of each call (default 10000)
)";

double percentile_ms(std::vector<double>& sorted_ms, double p) {
  if (sorted_ms.empty())
    return 0;
  auto i = static_cast<std::size_t>(p * static_cast<double>(sorted_ms.size()));
  return sorted_ms[std::min(i, sorted_ms.size() - 1)];
}

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
  std::vector<std::string> words;
  for (std::size_t i = 0; i < batch; ++i)
    words.push_back("word" + std::to_string(i));

  rpcbatch::rpc_client client{target};
  if (!client.wait_connected(std::chrono::seconds{10})) {
    std::fprintf(stderr, "cannot reach RpcService at %s\n", target.c_str());
    return 1;
  }
  std::vector<double> latency_ms(calls);
  std::atomic<std::size_t> failed{0};
  std::mutex mtx;
  std::condition_variable slot_free;
  std::size_t running = 0;
  auto start = clock_type::now();
  for (std::size_t i = 0; i < calls; ++i) {
    {
      std::unique_lock<std::mutex> lock{mtx};
      slot_free.wait(lock, [&] { return running < inflight; });
      ++running;
    }
    auto sent = clock_type::now();
    client.resolve_batch(words, deadline, [&, i, sent](rpcbatch::rpc_result r) {
      std::chrono::duration<double, std::milli> took = clock_type::now() - sent;
      latency_ms[i] = took.count();
      if (!r.ok() && failed.fetch_add(1) == 0)
        std::fprintf(stderr, "first failure: %s: %s\n",
                     rpcbatch::rpc_code_name(r.code), r.error.c_str());
      std::lock_guard<std::mutex> guard{mtx};
      --running;
      slot_free.notify_one();
    });
  }
  {
    std::unique_lock<std::mutex> lock{mtx};
    slot_free.wait(lock, [&] { return running == 0; });
  }
  std::chrono::duration<double> elapsed = clock_type::now() - start;
  std::sort(latency_ms.begin(), latency_ms.end());
  auto secs = elapsed.count();
  std::printf("rpc bench: target=%s%s batch=%zu calls=%zu inflight=%zu\n",
              target.c_str(), local ? " (in-process)" : "", batch, calls,
              inflight);
  std::printf("calls/s=%.0f inputs/s=%.0f p50_ms=%.3f p99_ms=%.3f failed=%zu"
              " elapsed_s=%.2f\n",
              static_cast<double>(calls) / secs,
              static_cast<double>(calls * batch) / secs,
              percentile_ms(latency_ms, 0.50), percentile_ms(latency_ms, 0.99),
              failed.load(), secs);
  return failed.load() == 0 ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  return rpcbatch::run_tool(argc, argv, usage, run);
}
