// Shared by the fuzz targets: a check that stops the run (libFuzzer saves
// the input as crash-*), and a reader that cuts the input into fields.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace rpcbatch::fuzz {

#define FUZZ_CHECK(cond)                                                       \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,  \
                   #cond);                                                     \
      std::abort();                                                            \
    }                                                                          \
  } while (false)

/// Takes fields off the front of the input; past the end it gives zeros
/// and empty strings.
class reader {
public:
  reader(const uint8_t* data, std::size_t size)
    : rest_{reinterpret_cast<const char*>(data), size} {
    // nop
  }

  uint8_t byte() {
    if (rest_.empty())
      return 0;
    auto c = static_cast<uint8_t>(rest_.front());
    rest_.remove_prefix(1);
    return c;
  }

  /// A string of up to `max` bytes: its length is the next byte.
  std::string_view text(std::size_t max = 255) {
    std::size_t n = byte();
    n = std::min({n, max, rest_.size()});
    auto out = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return out;
  }

  std::string_view rest() const {
    return rest_;
  }

private:
  std::string_view rest_;
};

/// Whether `s` is valid UTF-8 (no overlong forms, no surrogates, at most
/// U+10FFFF), as JSON parsers demand.
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  auto n = s.size();
  auto at = [&](std::size_t k) { return static_cast<unsigned char>(s[k]); };
  while (i < n) {
    auto c = at(i);
    std::size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3
                      : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > n)
      return false;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (std::size_t k = 1; k < len; ++k) {
      if ((at(i + k) & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (at(i + k) & 0x3F);
    }
    static constexpr uint32_t least[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < least[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += len;
  }
  return true;
}

} // namespace rpcbatch::fuzz
