#include "messages/type_ids.hpp"

#include <caf/actor_system_config.hpp>

namespace rpcbatch {

const char* to_string(flush_trigger x) {
  switch (x) {
    case flush_trigger::count:
      return "count";
    case flush_trigger::timer:
      return "timer";
    case flush_trigger::end_of_window:
      return "end_of_window";
    case flush_trigger::bytes:
      return "bytes";
  }
  return "unknown";
}

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::rpcbatch>();
}

} // namespace rpcbatch
