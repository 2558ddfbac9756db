// The RpcService server (package chapter3) as a reusable class: the
// rpcbatch-resolver binary, the tests and the node's embedded default all
// start it in-process. It answers the length of each input in Unicode code
// points, like the seed's Python server. Calls are served by gRPC's
// asynchronous API from a completion-queue thread (one per 4 hardware
// threads), so no thread is held per call, not even while an answer is
// delayed.
// gRPC headers stay in the .cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "services/adapters/rpc_client.hpp"

namespace rpcbatch {

struct resolver_options {
  /// HOST:PORT to bind; port 0 picks a free port (see start()).
  std::string listen = default_rpc_address;
  /// Delays every answer by this many milliseconds.
  int latency_ms = 0;
  /// Fraction of calls answered with UNAVAILABLE, in [0, 1].
  double fail_rate = 0;
  /// Logs every request, like the seed's server (with the batch id of
  /// each resolveBatch, see batch_id_key in services/adapters/rpc_client.hpp).
  bool verbose = false;
  /// A call with this input is answered INVALID_ARGUMENT, whatever the
  /// other inputs (empty: none): a batch that can never succeed, for tests.
  std::string reject_word{};
  /// TLS: the server's certificate and key (PEM files; empty: plain text),
  /// and a CA whose certificate every client must present (empty: any
  /// client).
  std::string tls_certificate{};
  std::string tls_key{};
  std::string tls_client_cafile{};
};

/// Calls received since start, failed ones included; `inputs` counts the
/// inputs resolved by successful calls, `failed_calls` the calls answered
/// with an injected error, `rejected_calls` those answered INVALID_ARGUMENT
/// for the reject word, `max_batch` the most inputs of one resolveBatch
/// call (failed ones included).
struct resolver_counts {
  uint64_t resolve_calls = 0;
  uint64_t batch_calls = 0;
  uint64_t inputs = 0;
  uint64_t failed_calls = 0;
  uint64_t rejected_calls = 0;
  uint64_t max_batch = 0;
};

class resolver_server {
public:
  explicit resolver_server(resolver_options opts);

  /// Stops the server if it runs.
  ~resolver_server();

  resolver_server(const resolver_server&) = delete;
  resolver_server& operator=(const resolver_server&) = delete;

  /// Binds and starts serving; returns the bound port. Throws
  /// std::runtime_error if the address cannot be bound or if already started.
  int start();

  /// The listen address with the bound port, e.g. "127.0.0.1:41234".
  std::string address() const;

  /// Answers the calls still waiting for their delay, then shuts down.
  /// Idempotent.
  void stop();

  resolver_counts counts() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace rpcbatch
