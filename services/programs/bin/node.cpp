// rpcbatch-node: the actor node (see services/programs/node_app.hpp).
#include "services/programs/node_app.hpp"

int main(int argc, char** argv) {
  return rpcbatch::run_node(argc, argv);
}
