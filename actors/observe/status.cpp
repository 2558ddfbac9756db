#include "actors/observe/status.hpp"

#include <boost/json/serialize.hpp>

namespace rpcbatch {

std::string status_json(const boost::json::object& obj) {
  return boost::json::serialize(obj);
}

std::vector<const observed*> of_role(const status_map& status,
                                     std::string_view role) {
  std::vector<const observed*> out;
  for (auto& [name, o] : status)
    if (o.entry.role == role)
      out.push_back(&o);
  return out;
}

} // namespace rpcbatch
