// What command lines and config files hold besides plain values: addresses
// (HOST:PORT, lists of them, loopback or not). Bad values throw cli_error,
// which a program reports as a usage error (exit code 2,
// services/config/program.hpp).
#pragma once

#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace rpcbatch {

class cli_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// Splits "host:port" ("[::1]:50051" too); throws cli_error if malformed.
std::pair<std::string, int> split_host_port(const std::string& text);

/// Whether a host binds only the loopback interface: "localhost",
/// 127.0.0.0/8 or ::1. Empty, 0.0.0.0, :: and every other name are not.
bool is_loopback(const std::string& host);

/// Splits "HOST:PORT,HOST:PORT,..." (empty items skipped); throws cli_error
/// if an item is malformed.
std::vector<std::string> split_address_list(const std::string& text);

} // namespace rpcbatch
