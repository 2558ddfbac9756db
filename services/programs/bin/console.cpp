// rpcbatch-console: the inspection console (see services/programs/console_app.hpp).
#include "services/programs/console_app.hpp"

int main(int argc, char** argv) {
  return rpcbatch::run_console(argc, argv);
}
