#include "services/config/env_config.hpp"

#include <algorithm>
#include <cctype>

#include <caf/config_option.hpp>
#include <caf/settings.hpp>

#include "services/config/addresses.hpp"
#include "services/config/secrets.hpp"

extern char** environ;

namespace rpcbatch {

namespace {

constexpr std::string_view kafka_prefix = "KAFKA_";
constexpr std::string_view config_file = "config-file";
constexpr std::string_view file_suffix = "_FILE";

/// Whether `args` sets option `name` (--name or --name=...).
bool on_command_line(const std::vector<std::string>& args,
                     const std::string& name) {
  auto flag = "--" + name;
  return std::any_of(args.begin(), args.end(), [&](const std::string& arg) {
    return arg == flag
           || (arg.size() > flag.size()
               && arg.compare(0, flag.size(), flag) == 0
               && arg[flag.size()] == '=');
  });
}

/// "SECURITY_PROTOCOL" -> "security.protocol".
std::string kafka_property(std::string_view name) {
  std::string out;
  for (char c : name) {
    auto lower = std::tolower(static_cast<unsigned char>(c));
    out += c == '_' ? '.' : static_cast<char>(lower);
  }
  return out;
}

} // namespace

std::string env_name(std::string_view name) {
  std::string out{env_prefix};
  for (char c : name)
    out += c == '-' || c == '.'
             ? '_'
             : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

env_settings read_env(const std::vector<std::string>& environment,
                      const std::vector<std::string>& options,
                      const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& aliases,
                      bool kafka) {
  auto option_of = aliases; // variable -> option
  for (auto& name : options)
    option_of.emplace(env_name(name), name);
  env_settings out;
  std::vector<std::string> unknown;
  std::map<std::string, std::string> set_by; // option or property -> variable
  auto once = [&](const std::string& target, const std::string& variable) {
    auto [i, fresh] = set_by.emplace(target, variable);
    if (!fresh)
      throw cli_error(i->second + " and " + variable
                      + " both set the same option: keep one");
  };
  for (auto& entry : environment) {
    if (entry.compare(0, env_prefix.size(), env_prefix) != 0)
      continue;
    auto eq = entry.find('=');
    auto variable = entry.substr(0, eq);
    auto value = eq == std::string::npos ? std::string{} : entry.substr(eq + 1);
    // RPCBATCH_NAME_FILE names the file of RPCBATCH_NAME's value, unless it
    // is an option's own variable (RPCBATCH_CONFIG_FILE).
    auto base = variable;
    auto in_file = option_of.count(variable) == 0
                   && base.size() > file_suffix.size()
                   && base.compare(base.size() - file_suffix.size(),
                                   file_suffix.size(), file_suffix)
                        == 0;
    if (in_file)
      base.resize(base.size() - file_suffix.size());
    auto text = [&] {
      return in_file ? read_value_file(value, variable)
                     : value_or_file(value, variable);
    };
    auto from_file = in_file || names_file(value);
    std::string_view rest{base};
    rest.remove_prefix(env_prefix.size());
    if (kafka && rest.size() > kafka_prefix.size()
        && rest.compare(0, kafka_prefix.size(), kafka_prefix) == 0) {
      rest.remove_prefix(kafka_prefix.size());
      auto property = kafka_property(rest);
      once("--kafka." + property, variable);
      out.kafka[property] = text();
      continue;
    }
    auto i = option_of.find(base);
    if (i == option_of.end()) {
      unknown.push_back(variable);
      continue;
    }
    auto& option = i->second;
    once(option, variable);
    if (on_command_line(args, option))
      continue;
    if (option == config_file)
      out.arguments.push_back("--" + option + "=" + text());
    else
      out.values.push_back({variable, option, text(), from_file});
  }
  if (!unknown.empty()) {
    std::sort(unknown.begin(), unknown.end());
    std::string names;
    for (auto& u : unknown)
      names += (names.empty() ? "" : ", ") + u;
    throw cli_error("unknown environment variable"
                    + std::string{unknown.size() > 1 ? "s " : " "} + names
                    + " (" + std::string{env_prefix}
                    + "NAME stands for the option --name"
                    + (kafka ? "; librdkafka properties are "
                                 + std::string{env_prefix} + "KAFKA_NAME"
                             : std::string{})
                    + ")");
  }
  return out;
}

bool is_cli_action(std::string_view name) {
  return name == "help" || name == "long-help" || name == "dump-config";
}

std::vector<std::string> env_option_names(const caf::config_option_set& opts) {
  std::vector<std::string> out;
  for (auto& opt : opts) {
    auto name = opt.long_name();
    auto category = opt.category();
    if (category != "global")
      out.emplace_back(std::string{category.begin(), category.end()} + "."
                       + std::string{name.begin(), name.end()});
    else if (!is_cli_action({name.data(), name.size()}))
      out.emplace_back(name.begin(), name.end());
  }
  return out;
}

std::vector<std::string> process_environment() {
  std::vector<std::string> out;
  for (auto entry = environ; entry != nullptr && *entry != nullptr; ++entry)
    out.emplace_back(*entry);
  return out;
}

namespace {

/// CAF 0.17 drops a config file's value silently when its type does not
/// match the option's (max-wait-secs=4 for a decimal option, a quoted
/// number) and ignores unknown names. Reads the file again as plain settings:
/// a whole number for a decimal option counts as that decimal; any other
/// mismatch, and a name that is no option, are errors. Options that `args`
/// (the command line) sets stay as they are.
void check_config_file(const std::string& path,
                       const caf::config_option_set& opts,
                       const std::vector<std::string>& args,
                       caf::settings& content) {
  auto raw = caf::actor_system_config::parse_config_file(path.c_str());
  if (!raw)
    return; // no such file: CAF has decided whether that is an error
  for (auto& [key, value] : *raw) {
    if (caf::holds_alternative<caf::settings>(value))
      continue; // a section: CAF's own categories ([scheduler], ...)
    std::string name{key.begin(), key.end()};
    auto opt = opts.cli_long_name_lookup(name);
    if (opt == nullptr)
      throw cli_error("config file " + path + ": unknown option '" + name
                      + "' (see --help)");
    if (!opt->check(value) || on_command_line(args, name))
      continue;
    auto whole = caf::get_if<caf::config_value::integer>(&value);
    caf::config_value real{whole ? static_cast<double>(*whole) : 0.0};
    if (whole == nullptr || opt->check(real)) {
      auto type = opt->type_name();
      throw cli_error("config file " + path + ": " + name + "="
                      + caf::to_string(value) + " is not a valid "
                      + std::string{type.begin(), type.end()});
    }
    opt->store(real);
    content[name] = std::move(real);
  }
}

/// Takes --NAME=@PATH and --NAME=@@TEXT off `args` for the options in
/// `opts`: they are stored after CAF's parser ran, which would unquote and
/// trim a string. The config file's path stays, for CAF needs it first.
std::vector<env_value> take_file_arguments(std::vector<std::string>& args,
                                           const caf::config_option_set& opts) {
  std::vector<env_value> out;
  std::vector<std::string> rest;
  for (auto& arg : args) {
    auto eq = arg.find("=@");
    auto name = eq == std::string::npos || arg.compare(0, 2, "--") != 0
                  ? std::string{}
                  : arg.substr(2, eq - 2);
    if (name.empty() || opts.cli_long_name_lookup(name) == nullptr) {
      rest.push_back(arg);
      continue;
    }
    auto given = arg.substr(eq + 1);
    auto value = value_or_file(given, "--" + name);
    if (name == config_file)
      rest.push_back("--" + name + "=" + value);
    else
      out.push_back({"--" + name, name, value, names_file(given)});
  }
  args = std::move(rest);
  return out;
}

/// Stores `x` as CAF's parser stores --NAME=VALUE, but a string option
/// takes a value from a file as it is.
void store(const caf::config_option_set& opts, caf::settings& content,
           const env_value& x) {
  auto opt = opts.cli_long_name_lookup(x.option);
  auto type = opt->type_name();
  if (x.from_file && type == "string") {
    caf::config_value text{x.value};
    opt->store(text);
    caf::put(content, x.option, std::move(text));
    return;
  }
  auto parsed = opt->parse(x.value);
  if (!parsed)
    throw cli_error(x.variable + "='" + printable(x.option, x.value)
                    + "' is not a valid "
                    + std::string{type.begin(), type.end()} + " for --"
                    + x.option);
  caf::put(content, x.option, std::move(*parsed));
}

} // namespace

caf::error parse_with_env(program_config& cfg, std::vector<std::string> args,
                          const std::vector<std::string>& environment) {
  auto& opts = cfg.options();
  auto env = read_env(environment, env_option_names(opts), args,
                      cfg.env_aliases, cfg.kafka_properties != nullptr);
  auto caf_args = args;
  auto from_files = take_file_arguments(caf_args, opts);
  caf_args.insert(caf_args.begin(), env.arguments.begin(),
                  env.arguments.end());
  if (auto err = cfg.parse(caf_args))
    return err;
  if (cfg.cli_helptext_printed)
    return {};
  check_config_file(cfg.config_file_path, opts, args, cfg.content);
  // Over the config file's values, as CAF's parser stores --name=value.
  for (auto& x : env.values)
    store(opts, cfg.content, x);
  for (auto& x : from_files)
    store(opts, cfg.content, x);
  if (auto kafka = cfg.kafka_properties) {
    for (auto& [name, value] : *kafka)
      value = value_or_file(value, "--kafka." + name);
    kafka->insert(env.kafka.begin(), env.kafka.end());
  }
  return {};
}

} // namespace rpcbatch
