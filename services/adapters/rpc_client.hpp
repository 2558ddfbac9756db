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
#include <string_view>
#include <vector>

namespace rpcbatch {

/// Where the RpcService listens and is looked for unless told otherwise.
inline constexpr const char* default_rpc_address = "127.0.0.1:50051";

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

/// gRPC status codes (the values of grpc::StatusCode), for code that does
/// not include gRPC's headers.
namespace rpc_code {
enum : int {
  ok = 0,
  cancelled = 1,
  unknown = 2,
  invalid_argument = 3,
  deadline_exceeded = 4,
  not_found = 5,
  already_exists = 6,
  permission_denied = 7,
  resource_exhausted = 8,
  failed_precondition = 9,
  aborted = 10,
  out_of_range = 11,
  unimplemented = 12,
  internal = 13,
  unavailable = 14,
  data_loss = 15,
  unauthenticated = 16,
};
} // namespace rpc_code

/// True for the codes worth a retry: UNAVAILABLE, DEADLINE_EXCEEDED and
/// RESOURCE_EXHAUSTED.
bool rpc_retryable(int code);

/// The name of a gRPC status code ("OK", "UNAVAILABLE", ...); "UNKNOWN_CODE"
/// for values outside the gRPC range.
const char* rpc_code_name(int code);

/// Checks that a resolveBatch answer has one length per input: leaves a
/// matching result alone and turns a mismatch into an INTERNAL error.
/// rpc_client hands answers over as they came; callers that index the
/// lengths by input check them first (the rpc-caller checks more, see
/// element_lengths()).
void check_batch_size(rpc_result& result, std::size_t inputs);

/// The length of a UTF-8 string as Python's len() of the decoded str: the
/// number of bytes that are not continuation bytes (10xxxxxx). The
/// contract's answer for a word; no answer can be longer.
inline std::size_t code_points(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8)
    n += (c & 0xC0) != 0x80;
  return n;
}

/// The gRPC metadata key of a resolveBatch call's batch id: the same for
/// every attempt of one batch, so that a server can recognise a retry.
inline constexpr const char* batch_id_key = "x-rpcbatch-batch-id";

/// What the rpc-caller needs of an RpcService client: starting resolveBatch
/// calls that answer later, on another thread. rpc_client is the real one;
/// tests answer calls themselves.
class rpc_transport {
public:
  /// Runs exactly once per call, on a thread of the transport; it must not
  /// block, and it must not destroy the transport.
  using batch_callback = std::function<void(rpc_result)>;

  virtual ~rpc_transport() = default;

  /// Starts resolveBatch(inputs) with the metadata `batch_id_key: batch_id`
  /// (none if `batch_id` is empty); returns at once. The lengths are
  /// handed over as answered, however many there are.
  virtual void resolve_batch(std::vector<std::string> inputs,
                             std::chrono::milliseconds deadline,
                             const std::string& batch_id, batch_callback cb)
    = 0;
};

/// TLS for the link to the RpcService: PEM files (empty: plain text). With
/// a CA file the server must present a certificate of that CA for the
/// target's name; with a certificate and key the client presents them.
struct rpc_tls {
  std::string cafile;
  std::string certificate;
  std::string key;

  bool enabled() const {
    return !cafile.empty();
  }
};

/// The contents of a PEM file; throws std::runtime_error naming `what`.
std::string read_pem(const std::string& path, const std::string& what);

class rpc_client final : public rpc_transport {
public:
  /// Runs on the client's completion thread (one for all calls, so a slow
  /// callback delays the others).
  using batch_callback = rpc_transport::batch_callback;

  /// Creates the channel to `target` ("host:port"), with TLS if `tls` is
  /// enabled; connects lazily. Throws std::runtime_error if a PEM file
  /// cannot be read.
  explicit rpc_client(const std::string& target, const rpc_tls& tls = {});

  /// Cancels the calls in flight and waits until their callbacks have run.
  ~rpc_client() override;

  rpc_client(const rpc_client&) = delete;
  rpc_client& operator=(const rpc_client&) = delete;

  void resolve_batch(std::vector<std::string> inputs,
                     std::chrono::milliseconds deadline,
                     const std::string& batch_id, batch_callback cb) override;

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
