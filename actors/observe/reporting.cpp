#include "actors/observe/reporting.hpp"

namespace rpcbatch {

std::vector<const observed*> of_role(const status_map& status,
                                     std::string_view role) {
  std::vector<const observed*> out;
  for (auto& [name, o] : status)
    if (o.entry.role == role)
      out.push_back(&o);
  return out;
}

} // namespace rpcbatch
