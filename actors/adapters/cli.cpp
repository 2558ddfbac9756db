#include "actors/adapters/cli.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cerrno>
#include <cstdlib>
#include <iostream>

namespace rpcbatch {

command_line::command_line(int argc, char** argv) {
  program_ = argc > 0 ? argv[0] : "rpcbatch";
  auto slash = program_.find_last_of('/');
  if (slash != std::string::npos)
    program_ = program_.substr(slash + 1);
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (options_done || arg.size() < 3 || arg.compare(0, 2, "--") != 0) {
      positional_.push_back(std::move(arg));
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    auto eq = arg.find('=');
    if (eq == std::string::npos)
      options_[arg.substr(2)] = "true";
    else
      options_[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
}

bool command_line::has(const std::string& key) const {
  return options_.count(key) > 0;
}

bool command_line::flag(const std::string& key) const {
  auto i = options_.find(key);
  if (i == options_.end())
    return false;
  const auto& v = i->second;
  if (v == "true" || v == "1" || v == "yes")
    return true;
  if (v == "false" || v == "0" || v == "no")
    return false;
  throw cli_error("--" + key + " expects true or false, got '" + v + "'");
}

std::string command_line::text(const std::string& key,
                               const std::string& fallback) const {
  auto i = options_.find(key);
  return i == options_.end() ? fallback : i->second;
}

namespace {

/// `v`, the value of --key, read by `read` (strtoll or strtod) and checked
/// to be within [min, max]; throws cli_error if it is not a `kind` there.
template <class T, class Read>
T number(const std::string& key, const std::string& v, const char* kind,
         T min, T max, Read read) {
  errno = 0;
  char* end = nullptr;
  T x = read(v.c_str(), &end);
  if (v.empty() || *end != '\0' || errno == ERANGE || x != x)
    throw cli_error("--" + key + " expects " + kind + ", got '" + v + "'");
  if (x < min || x > max)
    throw cli_error("--" + key + " must be between " + std::to_string(min)
                    + " and " + std::to_string(max) + ", got " + v);
  return x;
}

} // namespace

long long command_line::integer(const std::string& key, long long fallback,
                                long long min, long long max) const {
  auto i = options_.find(key);
  if (i == options_.end())
    return fallback;
  return number(key, i->second, "an integer", min, max,
                [](const char* p, char** end) {
                  return std::strtoll(p, end, 10);
                });
}

double command_line::real(const std::string& key, double fallback, double min,
                          double max) const {
  auto i = options_.find(key);
  if (i == options_.end())
    return fallback;
  return number(key, i->second, "a number", min, max, std::strtod);
}

void command_line::allow_only(std::initializer_list<const char*> known) const {
  for (auto& [key, value] : options_) {
    bool ok = key == "help";
    for (auto k : known)
      ok = ok || key == k;
    if (!ok)
      throw cli_error("unknown option --" + key);
  }
}

int run_tool(int argc, char** argv, const char* usage,
             const std::function<int(const command_line&)>& body) {
  command_line cl(argc, argv);
  if (cl.has("help")) {
    std::cout << usage;
    return 0;
  }
  try {
    return body(cl);
  } catch (const cli_error& e) {
    std::cerr << cl.program() << ": " << e.what() << "\n\n" << usage;
    return 2;
  }
}

std::pair<std::string, int> split_host_port(const std::string& text) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == text.size())
    throw cli_error("expected HOST:PORT, got '" + text + "'");
  auto host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto port_text = text.substr(colon + 1);
  char* end = nullptr;
  auto port = std::strtol(port_text.c_str(), &end, 10);
  if (*end != '\0' || port < 0 || port > 65535)
    throw cli_error("bad port in '" + text + "'");
  return {host, static_cast<int>(port)};
}

bool is_loopback(const std::string& host) {
  if (host == "localhost")
    return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1)
    return IN6_IS_ADDR_LOOPBACK(&v6)
           || (IN6_IS_ADDR_V4MAPPED(&v6) && v6.s6_addr[12] == 127);
  return false;
}

std::vector<std::string> split_address_list(const std::string& text) {
  std::vector<std::string> out;
  std::size_t from = 0;
  while (from <= text.size()) {
    auto comma = std::min(text.find(',', from), text.size());
    auto item = text.substr(from, comma - from);
    from = comma + 1;
    if (item.empty())
      continue;
    split_host_port(item);
    out.push_back(std::move(item));
  }
  return out;
}

} // namespace rpcbatch
