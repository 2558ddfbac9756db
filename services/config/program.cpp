#include "services/config/program.hpp"

#include <algorithm>
#include <iomanip>
#include <iostream>
#include <vector>

#include <caf/config_option.hpp>
#include <caf/settings.hpp>

#include "services/config/env_config.hpp"
#include "services/config/secrets.hpp"

namespace rpcbatch {

namespace {

std::string str(caf::string_view x) {
  return {x.begin(), x.end()};
}

/// Whether the options of `args` (those before the first other argument)
/// ask for the program's help.
bool wants_help(const std::vector<std::string>& args) {
  for (auto& arg : args) {
    if (arg == "--help" || arg == "-h" || arg == "-?")
      return true;
    if (arg.empty() || arg[0] != '-')
      return false;
  }
  return false;
}

/// Takes --kafka.NAME=VALUE (--kafka.NAME: "true") off `args` into `out`.
void take_kafka_properties(std::vector<std::string>& args,
                           std::map<std::string, std::string>& out) {
  const std::string prefix = "--kafka.";
  std::vector<std::string> rest;
  for (auto& arg : args) {
    if (arg.compare(0, prefix.size(), prefix) != 0) {
      rest.push_back(std::move(arg));
      continue;
    }
    auto eq = arg.find('=');
    auto name = arg.substr(prefix.size(), eq - prefix.size());
    out[name] = eq == std::string::npos ? "true" : arg.substr(eq + 1);
  }
  args = std::move(rest);
}

/// What --help says `opt` does: CAF's words, except for the options that
/// parse_program() handles in its own way.
std::string own_description(const caf::config_option& opt) {
  auto name = opt.long_name();
  if (name == "help")
    return "this text";
  if (name == "long-help")
    return "every option, CAF's own too (scheduler, middleman, openssl)";
  if (name == "dump-config")
    return "print the configuration and exit";
  if (name == "config-file")
    return "read options from this file (NAME=VALUE lines)";
  return str(opt.description());
}

/// The default `opt` shows in --help: empty for flags, empty strings,
/// options without a value of their own and those whose description states
/// their default.
std::string default_text(const caf::config_option& opt) {
  auto value = opt.get();
  auto description = opt.description();
  if (!value || opt.is_flag()
      || std::search(description.begin(), description.end(), "default",
                     "default" + 7)
           != description.end())
    return {};
  if (auto text = caf::get_if<std::string>(&*value))
    return *text;
  if (auto real = caf::get_if<double>(&*value)) {
    std::ostringstream out;
    out << *real;
    return out.str();
  }
  return caf::to_string(*value);
}

/// The first of `args` that is one of `opts` (--NAME or --NAME=...).
std::optional<std::string> option_among(const caf::config_option_set& opts,
                                        const std::vector<std::string>& args) {
  for (auto& arg : args) {
    if (arg.compare(0, 2, "--") != 0)
      continue;
    auto name = arg.substr(2, arg.find('=') - 2);
    if (opts.cli_long_name_lookup(name) != nullptr)
      return arg;
  }
  return std::nullopt;
}

/// Turns CAF's "parser_error(not_an_option, ({"argument" = "--x=1"}))" into
/// "unknown option '--x=1' (not_an_option)", or "bad value in ...".
std::string describe_parse_error(const std::string& rendered) {
  const std::string key = "\"argument\" = \"";
  auto open = rendered.find('(');
  auto comma = rendered.find(',');
  auto at = rendered.find(key);
  if (open == std::string::npos || comma == std::string::npos
      || at == std::string::npos)
    return "bad command line: " + rendered;
  auto from = at + key.size();
  auto arg = rendered.substr(from, rendered.find('"', from) - from);
  if (auto eq = arg.find('='); eq != std::string::npos && eq > 2)
    arg = arg.substr(0, eq + 1)
          + printable(arg.substr(2, eq - 2), arg.substr(eq + 1));
  auto what = rendered.substr(open + 1, comma - open - 1);
  auto kind = what == "not_an_option" ? "unknown option" : "bad value in";
  return std::string{kind} + " '" + arg + "' (" + what + ")";
}

} // namespace

int refuse(const program_config& cfg, const std::string& why) {
  std::cerr << cfg.name() << ": " << why << " (see --help)" << std::endl;
  return 2;
}

program_config::program_config(std::string name, std::string usage)
  : name_(std::move(name)), usage_(std::move(usage)) {
  // A config file only when one is given: not CAF's caf-application.ini,
  // which may be another program's.
  config_file_path.clear();
}

bool program_config::given(std::string_view name) const {
  return caf::get_if(&content, caf::string_view{name.data(), name.size()})
         != nullptr;
}

std::string program_config::help() const {
  std::vector<std::pair<std::string, std::string>> rows;
  std::size_t width = 0;
  for (auto& opt : custom_options_) {
    if (!opt.has_flat_cli_name())
      continue; // CAF's categories: --long-help
    auto arg = "--" + str(opt.long_name());
    if (!opt.is_flag())
      arg += "=<" + str(opt.type_name()) + ">";
    auto text = own_description(opt);
    if (auto fallback = default_text(opt); !fallback.empty())
      text += " (default: " + printable(str(opt.long_name()), fallback) + ")";
    width = std::max(width, arg.size());
    rows.emplace_back(std::move(arg), std::move(text));
  }
  std::ostringstream out;
  out << usage_
      << "\noptions (also RPCBATCH_NAME variables and NAME=VALUE lines in "
         "--config-file;\ncommand line > environment > config file > "
         "default):\n";
  for (auto& [arg, text] : rows)
    out << "  " << std::left << std::setw(static_cast<int>(width)) << arg
        << "  " << text << '\n';
  return out.str();
}

std::optional<int> parse_program(program_config& cfg, int argc, char** argv) {
  std::vector<std::string> args(argv + std::min(argc, 1), argv + argc);
  if (wants_help(args)) {
    std::cout << cfg.help() << std::flush;
    return 0;
  }
  if (cfg.kafka_properties != nullptr)
    take_kafka_properties(args, *cfg.kafka_properties);
  caf::error err;
  try {
    err = parse_with_env(cfg, std::move(args), process_environment());
  } catch (const cli_error& e) {
    return refuse(cfg, e.what());
  }
  if (err)
    return refuse(cfg, describe_parse_error(cfg.render(err)));
  if (cfg.cli_helptext_printed)
    return 0;
  if (!cfg.takes_arguments && !cfg.arguments().empty())
    return refuse(cfg, "unexpected argument '" + cfg.arguments().front() + "'");
  if (auto late = option_among(cfg.options(), cfg.arguments()))
    return refuse(cfg, "'" + *late + "' comes after the arguments: options "
                         "go first");
  return std::nullopt;
}

int run_program(program_config& cfg, int argc, char** argv,
                const std::function<int()>& body) {
  if (auto code = parse_program(cfg, argc, argv))
    return *code;
  try {
    return body();
  } catch (const cli_error& e) {
    return refuse(cfg, e.what());
  }
}

} // namespace rpcbatch
