#include "services/programs/embedded_environment.hpp"

#include "services/adapters/log.hpp"
#include "services/tools/textgen.hpp"

namespace rpcbatch {

embedded_environment::embedded_environment(node_options& o)
  : broker_(3, {{o.input_topic, 3}, {o.output_topic, 3}, {o.dlq_topic, 3}}),
    resolver_(resolver_options{"127.0.0.1:0"}) {
  resolver_.start();
  o.bootstrap_servers = broker_.bootstrap();
  o.rpc_target = resolver_.address();
  log::info("node", "embedded broker at ", o.bootstrap_servers,
            ", resolver at ", o.rpc_target,
            ", text generator writing 1 message/s to ", o.input_topic);
  textgen_options t;
  t.bootstrap = o.bootstrap_servers;
  t.topic = o.input_topic;
  t.delay_seconds = 1;
  textgen_ = std::thread([this, t] {
    try {
      produce_text(t, stop_);
    } catch (const std::exception& e) {
      log::error("textgen", e.what());
    }
  });
}

void embedded_environment::stop_text() {
  stop_ = true;
  if (textgen_.joinable())
    textgen_.join();
}

embedded_environment::~embedded_environment() {
  stop_text();
}

} // namespace rpcbatch
