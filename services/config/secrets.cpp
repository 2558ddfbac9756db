#include "services/config/secrets.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "services/config/addresses.hpp"

namespace rpcbatch {

std::string read_value_file(const std::string& path, const std::string& what) {
  auto fail = [&] {
    return cli_error("cannot read " + what + " from '" + path
                     + "': " + std::strerror(errno));
  };
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw fail();
  std::string text;
  try {
    text.assign(std::istreambuf_iterator<char>{in}, {});
  } catch (const std::ios_base::failure&) {
    throw fail(); // e.g. a directory
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
    text.pop_back();
  return text;
}

bool names_file(const std::string& value) {
  return !value.empty() && value.front() == '@'
         && value.compare(0, 2, "@@") != 0;
}

std::string value_or_file(const std::string& value, const std::string& what) {
  if (names_file(value))
    return read_value_file(value.substr(1), what);
  return value.compare(0, 2, "@@") == 0 ? value.substr(1) : value;
}

bool is_secret(std::string_view name) {
  std::string lower;
  std::transform(name.begin(), name.end(), std::back_inserter(lower),
                 [](unsigned char c) { return std::tolower(c); });
  static constexpr const char* marks[] = {"password", "passphrase", "secret",
                                          "token",    "key",        "pem",
                                          "private",  "username"};
  return lower == "sasl.oauthbearer.config"
         || std::any_of(std::begin(marks), std::end(marks),
                        [&](const char* m) {
                          return lower.find(m) != std::string::npos;
                        });
}

std::string printable(std::string_view name, const std::string& value) {
  return is_secret(name) && !value.empty() ? "(secret)" : value;
}

} // namespace rpcbatch
