# Every dependency comes from Debian bookworm packages (deploy/setup.sh).
find_package(Threads REQUIRED)
find_package(PkgConfig REQUIRED)

# CAF 0.17.6: Debian ships no CMake config, so wrap the libraries by hand.
find_path(CAF_INCLUDE_DIR caf/all.hpp REQUIRED)
find_library(CAF_CORE_LIBRARY caf_core REQUIRED)
find_library(CAF_IO_LIBRARY caf_io REQUIRED)
find_library(CAF_OPENSSL_LIBRARY caf_openssl REQUIRED)
add_library(caf::core UNKNOWN IMPORTED)
set_target_properties(caf::core PROPERTIES
  IMPORTED_LOCATION ${CAF_CORE_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${CAF_INCLUDE_DIR}
  INTERFACE_LINK_LIBRARIES Threads::Threads)
add_library(caf::io UNKNOWN IMPORTED)
set_target_properties(caf::io PROPERTIES
  IMPORTED_LOCATION ${CAF_IO_LIBRARY}
  INTERFACE_LINK_LIBRARIES caf::core)
add_library(caf::openssl UNKNOWN IMPORTED)
set_target_properties(caf::openssl PROPERTIES
  IMPORTED_LOCATION ${CAF_OPENSSL_LIBRARY}
  INTERFACE_LINK_LIBRARIES caf::io)

pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka++ rdkafka)
# cpp-httplib 0.11 (libcpp-httplib-dev): /metrics, /healthz, /readyz.
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)

# GNU readline (libreadline-dev): the console's prompt.
find_path(READLINE_INCLUDE_DIR readline/readline.h REQUIRED)
find_library(READLINE_LIBRARY readline REQUIRED)
add_library(readline::readline UNKNOWN IMPORTED)
set_target_properties(readline::readline PROPERTIES
  IMPORTED_LOCATION ${READLINE_LIBRARY}
  INTERFACE_INCLUDE_DIRECTORIES ${READLINE_INCLUDE_DIR})

# mimalloc 2.0 (libmimalloc-dev): the node's malloc, unless a sanitizer
# brings its own. At batch 10 glibc's malloc and free took 17% of the
# node's CPU (most blocks are freed on another thread than the one that
# allocated them).
if(sanitize STREQUAL "off")
  find_package(mimalloc 2.0 REQUIRED)
endif()

find_package(Protobuf REQUIRED)
find_package(gRPC CONFIG REQUIRED)
find_package(Boost 1.81 REQUIRED COMPONENTS json)

if(RPCBATCH_TESTS)
  find_package(doctest REQUIRED)
  include(doctest)
endif()
