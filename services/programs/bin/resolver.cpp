// rpcbatch-resolver: the RpcService server (the seed's server.py) as a
// process, with injected latency and failures for tests and benchmarks.
#include "services/adapters/log.hpp"
#include "services/config/program.hpp"
#include "services/tools/resolver_service.hpp"
#include "services/programs/signals.hpp"

#include <iostream>
#include <stdexcept>

namespace {

constexpr const char* usage = R"(usage: rpcbatch-resolver [options]

Serves RpcService (resolve, resolveBatch): the length of each input in
Unicode code points. Stops on SIGINT or SIGTERM and prints a summary.
)";

struct resolver_config : rpcbatch::program_config {
  rpcbatch::resolver_options opts;

  resolver_config() : program_config("rpcbatch-resolver", usage) {
    add_options()
      .add(opts.listen, "listen",
           "address to bind, HOST:PORT (port 0 picks a free port, printed in "
           "the \"listening on\" line)")
      .add(opts.latency_ms, "latency-ms", "delay every answer by this many ms")
      .add(opts.fail_rate, "fail-rate",
           "answer this fraction of calls with UNAVAILABLE (0..1)")
      .add(opts.reject_word, "reject-word",
           "answer every call with this word among its inputs with "
           "INVALID_ARGUMENT (a batch that can never succeed)")
      .add(opts.verbose, "verbose",
           "log every request (with the batch id of resolveBatch)")
      .add(opts.tls_certificate, "tls-certificate",
           "serve TLS with this certificate (PEM, with --tls-key)")
      .add(opts.tls_key, "tls-key", "the key of --tls-certificate (PEM)")
      .add(opts.tls_client_cafile, "tls-client-cafile",
           "with TLS, require client certificates of this CA (PEM)");
  }
};

int run(const resolver_config& cfg) {
  auto& opts = cfg.opts;
  rpcbatch::split_host_port(opts.listen);
  rpcbatch::check_range("latency-ms", opts.latency_ms, 0, 3600000);
  rpcbatch::check_range("fail-rate", opts.fail_rate, 0.0, 1.0);
  if (opts.tls_certificate.empty() != opts.tls_key.empty())
    throw rpcbatch::cli_error("--tls-certificate and --tls-key go together");
  rpcbatch::resolver_server server{opts};
  try {
    server.start();
  } catch (const std::runtime_error& e) {
    std::cerr << cfg.name() << ": " << e.what() << std::endl;
    return 1;
  }
  std::cout << "rpcbatch-resolver listening on " << server.address()
            << std::endl;
  auto sig = rpcbatch::wait_stop_signal();
  rpcbatch::log::info("resolver", "stopping on signal ", sig);
  server.stop();
  auto n = server.counts();
  std::cout << "resolver summary: resolve_calls=" << n.resolve_calls
            << " resolve_batch_calls=" << n.batch_calls
            << " inputs=" << n.inputs << " failed_calls=" << n.failed_calls
            << " rejected_calls=" << n.rejected_calls << std::endl;
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  rpcbatch::block_stop_signals();
  resolver_config cfg;
  return rpcbatch::run_program(cfg, argc, argv, [&] { return run(cfg); });
}
