// Every binary's options, read one way: CAF's option set, where each option
// is declared once with its field (whose initial value is the default) and
// its description, and is set by --NAME=VALUE on the command line,
// RPCBATCH_NAME in the environment or NAME=VALUE in the --config-file, in
// that order of precedence (services/config/env_config.hpp). The arguments after
// the options are the program's own (a console command, a client command).
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <caf/actor_system_config.hpp>
#include <caf/config_option_adder.hpp>

#include "services/config/addresses.hpp"

namespace rpcbatch {

/// The configuration of one program (also of its actor system, if it runs
/// one). A program derives from it and declares its options in its
/// constructor with `add_options()`.
class program_config : public caf::actor_system_config {
public:
  /// `name` starts error messages; `usage` is what --help prints above the
  /// options: the synopsis, what the program does, its commands.
  program_config(std::string name, std::string usage);

  const std::string& name() const {
    return name_;
  }

  const caf::config_option_set& options() const {
    return custom_options_;
  }

  /// The arguments after the options.
  const string_list& arguments() const {
    return remainder;
  }

  /// Whether option `name` was set (by the command line, the environment or
  /// the config file) rather than left at its default.
  bool given(std::string_view name) const;

  /// What --help prints: the usage and every option of the program with its
  /// default (--long-help adds CAF's own).
  std::string help() const;

  /// Where --kafka.NAME=VALUE and RPCBATCH_KAFKA_NAME go (nullptr: a
  /// program without Kafka clients of its own, for which both are errors).
  std::map<std::string, std::string>* kafka_properties = nullptr;

  /// Whether the program takes arguments after its options (if not, one is
  /// an error).
  bool takes_arguments = false;

  /// Variables that also set an option (variable -> option), besides
  /// RPCBATCH_NAME, e.g. one secret shared by two programs.
  std::map<std::string, std::string> env_aliases;

protected:
  /// Declares options: add_options().add(field, "name", "description").
  caf::config_option_adder add_options() {
    return {custom_options_, "global"};
  }

private:
  std::string name_;
  std::string usage_;
};

/// Reads `cfg`'s options from `argv`, the environment and the config file.
/// Answers the exit code if the program must not run: 0 after --help,
/// --long-help or --dump-config; 2 for a bad option or value, with
/// "NAME: why (see --help)" on stderr. Nothing if it may run.
std::optional<int> parse_program(program_config& cfg, int argc, char** argv);

/// "NAME: why (see --help)" on stderr; answers 2, the exit code of a bad
/// option.
int refuse(const program_config& cfg, const std::string& why);

/// parse_program(), then `body`; a cli_error from `body` (a value out of
/// range, a bad address, a wrong command) exits 2 as a bad option does.
int run_program(program_config& cfg, int argc, char** argv,
                const std::function<int()>& body);

/// Throws cli_error "--NAME must be between MIN and MAX, got X" unless
/// `min <= x <= max` (NaN is not).
template <class T>
void check_range(std::string_view name, T x, T min, T max) {
  if (x >= min && x <= max)
    return;
  std::ostringstream why;
  why << "--" << name << " must be between " << min << " and " << max
      << ", got " << x;
  throw cli_error(why.str());
}

} // namespace rpcbatch
