#include "services/programs/node_console.hpp"

#include <condition_variable>
#include <iostream>
#include <mutex>
#include <stdexcept>
#include <thread>

#include <caf/config_option_adder.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/publish.hpp>
#include <caf/scoped_actor.hpp>

#include "actors/observe/console_gate.hpp"
#include "actors/observe/inspection.hpp"
#include "messages/type_ids.hpp"
#include "actors/observe/http_server.hpp"
#include "services/programs/node_options.hpp"
#include "services/config/env_config.hpp"
#include "services/adapters/log.hpp"
#include "services/adapters/rpc_client.hpp"
#include "services/config/secrets.hpp"

#ifndef RPCBATCH_VERSION
#define RPCBATCH_VERSION "unknown"
#endif

namespace rpcbatch {

const char* rpcbatch_version() {
  return RPCBATCH_VERSION;
}

bool openssl_configured(const caf::actor_system_config& cfg) {
  return !cfg.openssl_certificate.empty() || !cfg.openssl_cafile.empty()
         || !cfg.openssl_capath.empty();
}

void add_console_options(caf::config_option_set& options,
                         console_options& opts) {
  caf::config_option_adder{options, "global"}
    .add(opts.console_port, "console-port",
         "publish the inspector for rpcbatch-console on this port (0: any "
         "free port; default off)")
    .add(opts.console_host, "console-host", "address the console port binds")
    .add(opts.console_control, "console-control",
         "allow the console's flush, pause, resume and drain")
    .add(opts.console_control_token, "console-control-token",
         "a secret every control must carry (rpcbatch-console "
         "--control-token); needed for controls with TLS unless "
         "--console-cafile is given")
    .add(opts.console_cafile, "console-cafile",
         "with TLS: accept on the console port only certificates of this CA "
         "(operators'), not those of --openssl.cafile (nodes')")
    .add(opts.http_port, "http-port",
         "serve /metrics, /healthz and /readyz on this port (0: any free "
         "port; default off)")
    .add(opts.http_host, "http-host", "address the HTTP port binds");
}

std::string console_refusal(const console_options& opts, bool tls) {
  if (!opts.console_cafile.empty() && !tls)
    return "--console-cafile needs TLS: give --openssl.certificate, "
           "--openssl.key and --openssl.cafile too";
  if (tls && opts.console_control && opts.console_control_token.empty()
      && opts.console_cafile.empty())
    return "--console-control with TLS needs --console-control-token (best "
           "as @FILE or RPCBATCH_CONSOLE_CONTROL_TOKEN_FILE) or "
           "--console-cafile (a CA for operators only): every holder of a "
           "certificate of the nodes' CA reaches the console port";
  return {};
}

std::map<std::string, std::string>
options_in_effect(const caf::config_option_set& options) {
  std::map<std::string, std::string> out;
  for (auto& opt : options) {
    auto long_name = opt.long_name();
    auto category = opt.category();
    std::string name(long_name.begin(), long_name.end());
    if (std::string(category.begin(), category.end()) != "global"
        || is_cli_action(name))
      continue;
    if (auto value = opt.get()) {
      auto text = caf::to_string(*value);
      if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
        text = text.substr(1, text.size() - 2);
      out[name] = printable(name, text);
    }
  }
  return out;
}

namespace {

/// Checks a port option: -1 (off) or 0..65535.
int port_number(int port, const char* option) {
  if (port < -1 || port > 65535)
    throw std::runtime_error(std::string{"--"} + option
                             + " must be a port number (0 to 65535)");
  return port;
}

} // namespace

namespace {

/// How often the HTTP endpoints' answers are refreshed.
constexpr auto refresh_interval = std::chrono::seconds(1);

/// How long the refresh waits for the inspector, and for the RPC channel.
constexpr auto inspector_timeout = std::chrono::seconds(2);
constexpr auto rpc_timeout = std::chrono::milliseconds(200);

/// What /readyz and /metrics answer.
struct http_answers {
  bool ready = false;
  std::string readiness = "not checked yet\n";
  int metrics_status = 503;
  std::string metrics = "not sampled yet\n";
};

/// Asks the inspector whether the node is ready and for its metrics, and
/// checks the RPC channel (if any).
http_answers look(caf::actor_system& sys, const inspector_actor& insp,
                  rpc_client* rpc) {
  http_answers out;
  caf::scoped_actor self{sys};
  auto failed = [&](caf::error& err) {
    return "inspector: " + sys.render(err) + "\n";
  };
  self->request(insp, inspector_timeout, ready_atom::value)
    .receive(
      [&](readiness_report& r) {
        out.ready = r.ready;
        out.readiness.clear();
        for (auto& line : r.reasons)
          out.readiness += line + "\n";
      },
      [&](caf::error& err) { out.readiness = failed(err); });
  if (rpc) {
    auto ok = rpc->wait_connected(rpc_timeout);
    out.ready = out.ready && ok;
    out.readiness += "rpc target " + rpc->target()
                     + (ok ? ": reachable\n" : ": not reachable\n");
  }
  self->request(insp, inspector_timeout, metrics_atom::value)
    .receive(
      [&](metric_families& families) {
        out.metrics_status = 200;
        out.metrics = prometheus_text(families);
      },
      [&](caf::error& err) { out.metrics = failed(err); });
  return out;
}

} // namespace

/// The HTTP endpoints (a server of actors/observe/http_server.hpp) answer
/// from the latest look at the node, which a thread of their own takes
/// every second: no request waits for an actor, however many come.
struct node_console::http {
  std::unique_ptr<httplib::Server> server = make_http_server();
  std::thread serving;
  std::thread refreshing;
  std::mutex mtx;
  std::condition_variable wake;
  bool stopping = false;
  std::shared_ptr<const http_answers> latest
    = std::make_shared<http_answers>();

  http(caf::actor_system& sys, inspector_actor insp,
       std::shared_ptr<rpc_client> rpc) {
    server->Get("/metrics", [this](const httplib::Request&,
                                   httplib::Response& res) {
      auto a = answers();
      res.status = a->metrics_status;
      res.set_content(a->metrics, res.status == 200
                                    ? "text/plain; version=0.0.4"
                                    : "text/plain");
    });
    server->Get("/healthz", [](const httplib::Request&,
                               httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    server->Get("/readyz", [this](const httplib::Request&,
                                  httplib::Response& res) {
      auto a = answers();
      res.status = a->ready ? 200 : 503;
      res.set_content((a->ready ? "ready\n" : "not ready\n") + a->readiness,
                      "text/plain");
    });
    refreshing = std::thread([this, &sys, insp, rpc] {
      std::unique_lock<std::mutex> lock{mtx};
      while (!stopping) {
        lock.unlock();
        auto fresh = std::make_shared<const http_answers>(
          look(sys, insp, rpc.get()));
        lock.lock();
        latest = std::move(fresh);
        wake.wait_for(lock, refresh_interval, [this] { return stopping; });
      }
    });
  }

  std::shared_ptr<const http_answers> answers() {
    std::lock_guard<std::mutex> guard{mtx};
    return latest;
  }

  /// Binds (port 0: any free port) and serves; returns the port.
  int start(const std::string& host, int port) {
    auto bound = port == 0 ? server->bind_to_any_port(host)
                           : (server->bind_to_port(host, port) ? port : -1);
    if (bound < 0)
      throw std::runtime_error("cannot listen for HTTP on " + host + ":"
                               + std::to_string(port));
    serving = std::thread([this] { server->listen_after_bind(); });
    return bound;
  }

  ~http() {
    server->stop();
    if (serving.joinable())
      serving.join();
    {
      std::lock_guard<std::mutex> guard{mtx};
      stopping = true;
    }
    wake.notify_all();
    refreshing.join();
  }
};

/// The console port: an actor system of its own, whose middleman (with
/// the node's TLS settings) knows the console gate and nothing else. CAF's
/// middleman delivers a peer's message to any actor of its system's
/// registry by id, and the node's system registers every actor whose handle
/// crossed to another node (source, sink, router, batchers): sharing it
/// would let a console peer message them.
struct node_console::console_system {
  struct config : caf::actor_system_config {
    config(const caf::actor_system_config& node, const std::string& cafile) {
      register_message_types(*this);
      openssl_certificate = node.openssl_certificate;
      openssl_key = node.openssl_key;
      openssl_passphrase = node.openssl_passphrase;
      openssl_capath = cafile.empty() ? node.openssl_capath : "";
      openssl_cafile = cafile.empty() ? node.openssl_cafile : cafile;
      load<caf::io::middleman>();
      if (openssl_configured(node))
        load<caf::openssl::manager>();
      set("scheduler.max-threads", 1);
      set("middleman.heartbeat-interval",
          caf::timespan{std::chrono::seconds(1)});
    }
  };

  config cfg;
  caf::actor_system sys;
  console_actor gate;

  /// `cafile`: the CA of the console's peers, if not the node's.
  console_system(caf::actor_system& node, inspector_actor insp,
                 const std::string& cafile)
    : cfg(node.config(), cafile), sys(cfg) {
    gate = sys.spawn(console_gate, std::move(insp), console_gate_config{});
  }

  /// Publishes the gate; returns the port bound. Throws if it cannot.
  uint16_t publish(uint16_t port, const std::string& host) {
    auto bound = sys.has_openssl_manager()
                   ? caf::openssl::publish(gate, port, host.c_str())
                   : sys.middleman().publish(gate, port, host.c_str());
    if (!bound)
      throw std::runtime_error("cannot listen for the console on " + host
                               + ":" + std::to_string(port) + ": "
                               + sys.render(bound.error()));
    return *bound;
  }

  ~console_system() {
    caf::anon_send_exit(gate, caf::exit_reason::user_shutdown);
  }
};

node_console::node_console(caf::actor_system& sys,
                           const console_options& opts, inspector_config cfg,
                           inspector_targets targets,
                           std::shared_ptr<rpc_client> rpc) {
  auto console_port = port_number(opts.console_port, "console-port");
  auto http_port = port_number(opts.http_port, "http-port");
  cfg.control = opts.console_control;
  cfg.control_token = opts.console_control_token;
  cfg.version = rpcbatch_version();
  inspector_ = sys.spawn(inspector, std::move(cfg), std::move(targets));
  try {
    if (console_port >= 0) {
      console_ = std::make_unique<console_system>(sys, inspector_,
                                                  opts.console_cafile);
      auto bound = console_->publish(static_cast<uint16_t>(console_port),
                                     opts.console_host);
      std::cout << "rpcbatch-node console listening on " << opts.console_host
                << ":" << bound
                << (console_->sys.has_openssl_manager() ? " (TLS)" : "")
                << std::endl;
    }
    if (http_port >= 0) {
      http_ = std::make_unique<http>(sys, inspector_, rpc);
      auto bound = http_->start(opts.http_host, http_port);
      std::cout << "rpcbatch-node http listening on " << opts.http_host
                << ":" << bound << std::endl;
    }
  } catch (...) {
    http_.reset();
    console_.reset();
    caf::anon_send_exit(inspector_, caf::exit_reason::user_shutdown);
    throw;
  }
}

std::unique_ptr<node_console>
start_node_console(caf::actor_system& sys, const node_config& cfg,
                   inspector_targets targets, std::shared_ptr<rpc_client> rpc) {
  if (cfg.console.console_port < 0 && cfg.console.http_port < 0)
    return nullptr;
  inspector_config icfg;
  icfg.role = cfg.opts.role;
  icfg.options = options_in_effect(cfg.options());
  return std::make_unique<node_console>(sys, cfg.console, std::move(icfg),
                                        std::move(targets), std::move(rpc));
}

node_console::~node_console() {
  http_.reset();
  console_.reset();
  caf::anon_send_exit(inspector_, caf::exit_reason::user_shutdown);
}

} // namespace rpcbatch
