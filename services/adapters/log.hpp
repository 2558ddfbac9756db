// One small logging module for every binary and actor (CAF's own logger is
// compiled out in Debian's build). Lines go to stderr, one write per line,
// so that threads never interleave inside a line.
#pragma once

#include <sstream>
#include <string>
#include <string_view>

namespace rpcbatch::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3, off = 4 };

/// Sets the lowest level that is written (default: info).
void set_level(level lvl);

/// Parses "debug", "info", "warn", "error" or "off"; false if unknown.
bool parse_level(std::string_view text, level& out);

bool enabled(level lvl);

/// Writes one line: "<UTC time> <LEVEL> <component>: <text>".
void write(level lvl, std::string_view component, std::string_view text);

template <class... Ts>
void emit(level lvl, std::string_view component, const Ts&... xs) {
  if (!enabled(lvl))
    return;
  std::ostringstream out;
  (out << ... << xs);
  write(lvl, component, out.str());
}

template <class... Ts>
void debug(std::string_view component, const Ts&... xs) {
  emit(level::debug, component, xs...);
}

template <class... Ts>
void info(std::string_view component, const Ts&... xs) {
  emit(level::info, component, xs...);
}

template <class... Ts>
void warn(std::string_view component, const Ts&... xs) {
  emit(level::warn, component, xs...);
}

template <class... Ts>
void error(std::string_view component, const Ts&... xs) {
  emit(level::error, component, xs...);
}

} // namespace rpcbatch::log
