// The development environment of a node started without Kafka: the
// embedded broker, a resolver on an ephemeral port and the text generator
// writing one message a second to the input topic.
#pragma once

#include <atomic>
#include <thread>

#include "services/programs/node_options.hpp"
#include "services/tools/embedded_broker.hpp"
#include "services/tools/resolver_service.hpp"

namespace rpcbatch {

class embedded_environment {
public:
  /// Starts it all and points `o` (bootstrap servers, RPC target) at it.
  explicit embedded_environment(node_options& o);

  /// Stops the text generator (before a drain, so that the input ends).
  void stop_text();

  ~embedded_environment();

private:
  embedded_broker broker_;
  resolver_server resolver_;
  std::atomic<bool> stop_{false};
  std::thread textgen_;
};

} // namespace rpcbatch
