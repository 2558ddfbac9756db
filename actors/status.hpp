// Status answers: every actor describes its state as one JSON object.
#pragma once

#include <string>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace rpcbatch {

/// Serialises a status object.
std::string status_json(const boost::json::object& obj);

/// Parses a status answer (null if it is not JSON).
boost::json::value parse_status(const std::string& text);

} // namespace rpcbatch
