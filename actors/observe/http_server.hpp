// A cpp-httplib server for read-only endpoints that slow or hostile peers
// cannot hold up for long nor make buffer much: one request per connection,
// its head (request line and headers) read whole within a deadline and a
// size limit before httplib parses it, no body ever read, and a bounded
// number of connections waiting for a thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>

#include <httplib.h>

namespace rpcbatch {

/// The bounds of a server made by make_http_server().
struct http_limits {
  /// Connections served at once.
  static constexpr std::size_t threads = 8;
  /// Connections waiting for a thread at most; a further one is closed at
  /// once.
  static constexpr std::size_t max_waiting = 64;
  /// The request line and headers must arrive within this time (else 408)
  /// and this many bytes (else 431).
  static constexpr std::chrono::milliseconds head_timeout{1000};
  static constexpr std::size_t max_head = 8192;
  /// How long an answer waits at most for the peer to take more of it.
  static constexpr std::chrono::milliseconds write_timeout{1000};
  /// A request with a larger body is refused (413) without reading it.
  static constexpr std::size_t max_body = 1024;
};

/// A server that answers GET and HEAD only (405 otherwise, with Allow) and
/// closes every connection after one answer. Add routes with Get(), then
/// bind and listen as usual.
std::unique_ptr<httplib::Server> make_http_server();

} // namespace rpcbatch
