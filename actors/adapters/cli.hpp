// Command-line parsing for the small tools (resolver, client, broker,
// textgen): `--key=value`, `--flag`, positional arguments. The node uses
// CAF's own configuration instead. Bad values throw cli_error, which
// run_tool() turns into a clear message and exit code 2.
#pragma once

#include <functional>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace rpcbatch {

class cli_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

class command_line {
public:
  command_line(int argc, char** argv);

  const std::string& program() const {
    return program_;
  }

  bool has(const std::string& key) const;

  /// True for `--key`, `--key=true|1|yes`; false when absent or
  /// `--key=false|0|no`; anything else throws.
  bool flag(const std::string& key) const;

  std::string text(const std::string& key, const std::string& fallback) const;

  long long integer(const std::string& key, long long fallback, long long min,
                    long long max) const;

  double real(const std::string& key, double fallback, double min,
              double max) const;

  const std::vector<std::string>& positional() const {
    return positional_;
  }

  /// Throws cli_error naming the first option that is not in `known`.
  void allow_only(std::initializer_list<const char*> known) const;

private:
  std::string program_;
  std::map<std::string, std::string> options_;
  std::vector<std::string> positional_;
};

/// Parses the command line and runs `body`. `--help` prints `usage` and
/// exits 0; a cli_error prints "<program>: <message>" plus usage and exits 2.
int run_tool(int argc, char** argv, const char* usage,
             const std::function<int(const command_line&)>& body);

/// Splits "host:port" ("[::1]:50051" too); throws cli_error if malformed.
std::pair<std::string, int> split_host_port(const std::string& text);

/// Whether a host binds only the loopback interface: "localhost",
/// 127.0.0.0/8 or ::1. Empty, 0.0.0.0, :: and every other name are not.
bool is_loopback(const std::string& host);

/// Splits "HOST:PORT,HOST:PORT,..." (empty items skipped); throws cli_error
/// if an item is malformed.
std::vector<std::string> split_address_list(const std::string& text);

} // namespace rpcbatch
