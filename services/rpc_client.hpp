// An asynchronous RpcService client: calls return at once and their callback
// runs later on the client's completion thread, so that no caller (the
// rpc-caller actor above all) ever blocks on the network. gRPC headers stay
// in the .cpp.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace rpcbatch {

/// The outcome of one call: `code` 0 with one length per input in request
/// order, or a gRPC status code with `error` and no lengths.
struct rpc_result {
  int code = 0; // a grpc::StatusCode value, 0 = OK
  std::string error;
  std::vector<int32_t> lengths;

  bool ok() const {
    return code == 0;
  }
};

/// True for the codes worth a retry: UNAVAILABLE, DEADLINE_EXCEEDED and
/// RESOURCE_EXHAUSTED.
bool rpc_retryable(int code);

/// The name of a gRPC status code ("OK", "UNAVAILABLE", ...); "UNKNOWN_CODE"
/// for values outside the gRPC range.
const char* rpc_code_name(int code);

/// Checks that a resolveBatch answer has one length per input: leaves a
/// matching result alone and turns a mismatch into an INTERNAL error.
void check_batch_size(rpc_result& result, std::size_t inputs);

class rpc_client {
public:
  /// Runs exactly once per call, on the client's completion thread (one for
  /// all calls, so a slow callback delays the others); it must not block,
  /// and it must not destroy the client.
  using batch_callback = std::function<void(rpc_result)>;

  /// Creates the channel to `target` ("host:port"); connects lazily.
  explicit rpc_client(const std::string& target);

  /// Cancels the calls in flight and waits until their callbacks have run.
  ~rpc_client();

  rpc_client(const rpc_client&) = delete;
  rpc_client& operator=(const rpc_client&) = delete;

  /// Starts resolveBatch(inputs); returns at once.
  void resolve_batch(std::vector<std::string> inputs,
                     std::chrono::milliseconds deadline, batch_callback cb);

  /// Starts resolve(input); returns at once. On success, `lengths` holds
  /// exactly one element.
  void resolve(std::string input, std::chrono::milliseconds deadline,
               batch_callback cb);

  /// Connects if needed; true once the channel is READY within `timeout`.
  bool wait_connected(std::chrono::milliseconds timeout);

  /// The calls started whose callback has not yet returned.
  std::size_t in_flight() const;

  const std::string& target() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace rpcbatch
