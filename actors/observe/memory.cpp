#include "actors/observe/memory.hpp"

#include <fstream>
#include <string>

namespace rpcbatch {

uint64_t peak_rss_bytes() {
  std::ifstream in{"/proc/self/status"};
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      uint64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    in.ignore(1 << 20, '\n');
  }
  return 0;
}

} // namespace rpcbatch
