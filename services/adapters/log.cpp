#include "services/adapters/log.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <unistd.h>

namespace rpcbatch::log {

namespace {

std::atomic<int> min_level{static_cast<int>(level::info)};

const char* level_name(level lvl) {
  switch (lvl) {
    case level::debug:
      return "DEBUG";
    case level::info:
      return "INFO";
    case level::warn:
      return "WARN";
    case level::error:
      return "ERROR";
    default:
      return "";
  }
}

} // namespace

void set_level(level lvl) {
  min_level = static_cast<int>(lvl);
}

bool parse_level(std::string_view text, level& out) {
  static constexpr std::pair<std::string_view, level> names[] = {
    {"debug", level::debug}, {"info", level::info}, {"warn", level::warn},
    {"error", level::error}, {"off", level::off}};
  for (auto& [name, lvl] : names)
    if (name == text) {
      out = lvl;
      return true;
    }
  return false;
}

bool enabled(level lvl) {
  return static_cast<int>(lvl) >= min_level.load(std::memory_order_relaxed);
}

void write(level lvl, std::string_view component, std::string_view text) {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto secs = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::snprintf(stamp, sizeof(stamp), "%02d:%02d:%02d.%03d", tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  std::string line;
  line.reserve(text.size() + component.size() + 32);
  line += stamp;
  line += ' ';
  line += level_name(lvl);
  line += ' ';
  line += component;
  line += ": ";
  line += text;
  line += '\n';
  // One write(2) per line keeps lines whole across threads.
  auto ignored = ::write(STDERR_FILENO, line.data(), line.size());
  (void) ignored;
}

} // namespace rpcbatch::log
