#include "actors/status.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace rpcbatch {

std::string status_json(const boost::json::object& obj) {
  return boost::json::serialize(obj);
}

boost::json::value parse_status(const std::string& text) {
  boost::json::error_code ec;
  auto v = boost::json::parse(text, ec);
  return ec ? boost::json::value{} : v;
}

} // namespace rpcbatch
