// Option values from files, so that no secret needs to be on a command line
// or in an environment listing, and secrets kept out of everything printed.
#pragma once

#include <string>
#include <string_view>

namespace rpcbatch {

/// The content of the file at `path` without its trailing line ends, as
/// $(cat PATH) gives it. Throws cli_error naming `what` (the option or
/// variable) and the path if the file cannot be read.
std::string read_value_file(const std::string& path, const std::string& what);

/// Whether `value` is "@PATH" (not "@@TEXT").
bool names_file(const std::string& value);

/// A value as given, or from a file: "@PATH" is the content of PATH (see
/// read_value_file), "@@TEXT" is the text "@TEXT"; anything else stays.
std::string value_or_file(const std::string& value, const std::string& what);

/// Whether an option or librdkafka property holds a secret: its name has
/// password, passphrase, secret, token, key, pem, private or username in it
/// (e.g. sasl.password, ssl.key.pem, openssl.passphrase), or it is
/// sasl.oauthbearer.config.
bool is_secret(std::string_view name);

/// What may be printed of option `name`'s `value`: the value itself, or
/// "(secret)" if it is a secret that is set.
std::string printable(std::string_view name, const std::string& value);

} // namespace rpcbatch
