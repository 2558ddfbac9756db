// Configuration from environment variables, for containers: every option
// --NAME (or --CATEGORY.NAME) of a program is also the variable
// RPCBATCH_NAME (upper case, '-' and '.' as '_'), e.g. --batch-size is
// RPCBATCH_BATCH_SIZE, --bounded is RPCBATCH_BOUNDED=true and
// --openssl.cafile is RPCBATCH_OPENSSL_CAFILE. RPCBATCH_KAFKA_NAME passes a
// librdkafka property like --kafka.name (lower case, '_' as '.').
//
// Values from files, so that no secret needs to be on a command line or in
// the environment: RPCBATCH_NAME_FILE=PATH (and RPCBATCH_KAFKA_NAME_FILE)
// holds the path of the value, and any value "@PATH", on the command line
// (--kafka.sasl.password=@/run/secrets/kafka) or in a variable, is the
// content of PATH; "@@TEXT" stands for "@TEXT" (see services/config/secrets.hpp).
// A variable that is an option itself keeps its meaning: RPCBATCH_CONFIG_FILE
// is --config-file.
//
// Precedence: command line > environment > config file > default. Variables
// therefore apply after CAF has parsed the command line and the config file,
// except for the config file's own path (RPCBATCH_CONFIG_FILE), which CAF
// needs before it parses.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <caf/config_option_set.hpp>

#include "services/config/program.hpp"

namespace rpcbatch {

inline constexpr std::string_view env_prefix = "RPCBATCH_";

/// The variable for option `name`: "batch-size" -> "RPCBATCH_BATCH_SIZE".
std::string env_name(std::string_view name);

/// One option set by a variable (or by --NAME=@PATH).
struct env_value {
  std::string variable;
  std::string option;
  std::string value;
  /// The value came from a file: a string option takes it as it is.
  bool from_file = false;
};

/// What the variables of one environment contribute to a command line.
struct env_settings {
  /// Arguments for CAF's parser: --config-file=FILE, if set.
  std::vector<std::string> arguments;
  /// Options that the command line does not set, to store after parsing.
  std::vector<env_value> values;
  /// librdkafka properties from RPCBATCH_KAFKA_* (name -> value).
  std::map<std::string, std::string> kafka;
};

/// Reads the RPCBATCH_ variables of `environment` ("NAME=VALUE" entries, as
/// in environ) for a program with the long options `options` whose command
/// line is `args`: options that `args` sets (--NAME or --NAME=...) are
/// skipped, because the command line wins. `aliases` are further variables
/// for options (variable -> option); RPCBATCH_KAFKA_NAME is a librdkafka
/// property if the program takes them (`kafka`), else unknown. Reads the
/// files that variables name. Throws cli_error naming every RPCBATCH_
/// variable that stands for no option, a file that cannot be read, or an
/// option set twice (by RPCBATCH_NAME and RPCBATCH_NAME_FILE).
env_settings read_env(const std::vector<std::string>& environment,
                      const std::vector<std::string>& options,
                      const std::vector<std::string>& args,
                      const std::map<std::string, std::string>& aliases = {},
                      bool kafka = true);

/// Whether a global option is one of CAF's actions (help, long-help,
/// dump-config) rather than a setting.
bool is_cli_action(std::string_view name);

/// The names of the options in `opts` that variables may set: NAME for the
/// global category (all but help, long-help and dump-config), CATEGORY.NAME
/// for the others.
std::vector<std::string> env_option_names(const caf::config_option_set& opts);

/// The entries of this process's environment.
std::vector<std::string> process_environment();

/// Parses `args` (the command line without the program name) and the config
/// file into `cfg`, then layers the variables of `environment` in between
/// (see above); librdkafka properties from variables join
/// `*cfg.kafka_properties` unless already there (from the command line).
/// Values "@PATH" in `args` and the properties are read from their files.
/// Unlike CAF alone, a config file value of the wrong type or a name that is
/// no option is an error (a whole number for a decimal option is fine).
/// Returns CAF's error for a bad command line or a malformed config file;
/// throws cli_error for a bad variable or config file value, or a file that
/// cannot be read.
caf::error parse_with_env(program_config& cfg, std::vector<std::string> args,
                          const std::vector<std::string>& environment);

} // namespace rpcbatch
