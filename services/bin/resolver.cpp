// rpcbatch-resolver: the RpcService server (the seed's server.py) as a
// process, with injected latency and failures for tests and benchmarks.
#include "actors/adapters/cli.hpp"
#include "actors/adapters/log.hpp"
#include "services/resolver_service.hpp"
#include "services/signals.hpp"

#include <iostream>
#include <stdexcept>

namespace {

constexpr const char* usage = R"(usage: rpcbatch-resolver [options]

Serves RpcService (resolve, resolveBatch): the length of each input in
Unicode code points. Stops on SIGINT or SIGTERM and prints a summary.

options:
  --listen=HOST:PORT  address to bind (default 127.0.0.1:50051; port 0 picks
                      a free port, printed in the "listening on" line)
  --latency-ms=N      delay every answer by N ms (default 0)
  --fail-rate=P       answer this fraction of calls with UNAVAILABLE (0..1)
  --reject-word=WORD  answer every call with WORD among its inputs with
                      INVALID_ARGUMENT (a batch that can never succeed)
  --verbose           log every request (with the batch id of resolveBatch)
  --tls-certificate=PEM, --tls-key=PEM
                      serve TLS with this certificate and key
  --tls-client-cafile=PEM
                      with TLS, require client certificates of this CA
)";

int run(const rpcbatch::command_line& cl) {
  cl.allow_only(
    {"listen", "latency-ms", "fail-rate", "reject-word", "verbose",
     "tls-certificate", "tls-key", "tls-client-cafile"});
  if (!cl.positional().empty())
    throw rpcbatch::cli_error("unexpected argument '" + cl.positional()[0]
                              + "'");
  rpcbatch::resolver_options opts;
  opts.listen = cl.text("listen", opts.listen);
  rpcbatch::split_host_port(opts.listen);
  opts.latency_ms = static_cast<int>(cl.integer("latency-ms", 0, 0, 3600000));
  opts.fail_rate = cl.real("fail-rate", 0, 0, 1);
  opts.reject_word = cl.text("reject-word", "");
  opts.verbose = cl.flag("verbose");
  opts.tls_certificate = cl.text("tls-certificate", "");
  opts.tls_key = cl.text("tls-key", "");
  opts.tls_client_cafile = cl.text("tls-client-cafile", "");
  if (opts.tls_certificate.empty() != opts.tls_key.empty())
    throw rpcbatch::cli_error("--tls-certificate and --tls-key go together");
  rpcbatch::resolver_server server{opts};
  try {
    server.start();
  } catch (const std::runtime_error& e) {
    std::cerr << cl.program() << ": " << e.what() << std::endl;
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
  return rpcbatch::run_tool(argc, argv, usage, run);
}
