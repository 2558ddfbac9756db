// The node's observation points: the console gate (actors/observe/console_gate.hpp)
// published for rpcbatch-console (--console-port) by an actor system of its
// own, whose middleman reaches no other actor of the node, and the HTTP
// endpoints
// /metrics, /healthz and /readyz (--http-port). Both are off by default and
// listen on loopback unless told otherwise. The HTTP endpoints answer GET and
// HEAD at once from a look at the node taken every second, on a server that
// slow or hostile peers cannot hold up (actors/observe/http_server.hpp).
#pragma once

#include <memory>
#include <string>

#include <caf/actor_system.hpp>
#include <caf/config_option_set.hpp>

#include "actors/observe/inspector.hpp"

namespace rpcbatch {

class node_config;
class rpc_client;

struct console_options {
  /// -1: off; 0: any free port (printed at start-up).
  int console_port = -1;
  std::string console_host = "127.0.0.1";
  /// Allows the console's flush, pause, resume and drain.
  bool console_control = false;
  /// What controls must carry, if set (with TLS, needed for controls
  /// unless the console port has a CA of its own).
  std::string console_control_token;
  /// With TLS: the CA whose certificates the console port accepts, if not
  /// the nodes' (--openssl.cafile).
  std::string console_cafile;
  /// -1: off; 0: any free port (printed at start-up).
  int http_port = -1;
  std::string http_host = "127.0.0.1";

};

/// Adds --console-port, --console-host, --console-control, --http-port and
/// --http-host to the global category of `options`.
void add_console_options(caf::config_option_set& options,
                         console_options& opts);

/// Why the console options cannot be used (with TLS or without); empty if
/// they can.
std::string console_refusal(const console_options& opts, bool tls);

/// The options of the global category with their values, for the node
/// summary (help flags left out).
std::map<std::string, std::string>
options_in_effect(const caf::config_option_set& options);

/// The running inspector and HTTP server; stops both when destroyed.
class node_console {
public:
  /// Spawns the inspector and publishes it and the HTTP endpoints as
  /// `opts` asks (prints "rpcbatch-node console listening on HOST:PORT"
  /// and "rpcbatch-node http listening on HOST:PORT"). Throws
  /// std::runtime_error if a port cannot be bound. `rpc` (may be null)
  /// is what /readyz checks.
  node_console(caf::actor_system& sys, const console_options& opts,
               inspector_config cfg, inspector_targets targets,
               std::shared_ptr<rpc_client> rpc);

  ~node_console();

  node_console(const node_console&) = delete;
  node_console& operator=(const node_console&) = delete;

private:
  struct http;
  struct console_system;
  inspector_actor inspector_;
  std::unique_ptr<console_system> console_;
  std::unique_ptr<http> http_;
};

/// Starts what the node's options ask for (null if both ports are off),
/// with the node's role and options in effect. Throws std::runtime_error if
/// a port cannot be bound.
std::unique_ptr<node_console>
start_node_console(caf::actor_system& sys, const node_config& cfg,
                   inspector_targets targets, std::shared_ptr<rpc_client> rpc);

/// Whether `cfg` gives certificates or a CA (openssl.*): then every CAF
/// port of the node speaks TLS.
bool openssl_configured(const caf::actor_system_config& cfg);

/// The project version.
const char* rpcbatch_version();

} // namespace rpcbatch
