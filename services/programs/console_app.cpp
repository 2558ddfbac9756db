#include "services/programs/console_app.hpp"

#include <chrono>
#include <cctype>
#include <csignal>
#include <future>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <readline/history.h>
#include <readline/readline.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/io/middleman.hpp>
#include <caf/openssl/manager.hpp>
#include <caf/openssl/remote_actor.hpp>
#include <caf/scoped_actor.hpp>

#include "messages/type_ids.hpp"
#include "actors/observe/console_view.hpp"
#include "actors/observe/json.hpp"
#include "services/config/program.hpp"

namespace rpcbatch {

namespace {

constexpr const char* usage = R"(usage: rpcbatch-console --connect=HOST:PORT
         [--json] [--interval=SECS] [COMMAND [ARG]]

Inspects a running rpcbatch-node (started with --console-port=PORT).

commands:
  nodes            this node (role, uptime, version, options, totals) and
                   the batcher nodes it reaches
  actors           every actor: node, mailbox, words/s, one-line state
  status NAME      one actor's full status as JSON (e.g. status batcher-3)
  events [N] [KIND]
                   the last N events (default 20), or the last N of one
                   kind: flush (with its trigger), rpc_error, retry,
                   dead_letter, breaker_open, breaker_closed, limit,
                   rebalance, credit, resend, cancel, node_joined,
                   node_lost, bucket_moved, control, events_dropped
  watch            live table of the actors, refreshed every --interval
                   seconds; q quits
  flush BATCHER    end-of-window flush of one bucket now
  pause / resume   stop or restart consuming
  drain            flush everything, commit and stop the node
                   (these controls need --console-control on the node)
  help             this list
without a command: an interactive prompt (line editing, history).

TLS to a node whose CAF ports use TLS: --openssl.certificate=PEM and
--openssl.key=PEM (a certificate of the node's CA and its key),
--openssl.cafile=PEM, --openssl.passphrase=TEXT (RPCBATCH_OPENSSL_CERTIFICATE,
..., or @FILE; see --long-help).
)";

constexpr const char* commands_help = R"(commands:
  nodes | actors | status NAME | events [N] [KIND] | watch
  flush BATCHER | pause | resume | drain  (need --console-control)
  help | quit
)";

/// An answer that is an error (refused control, unknown actor) or no answer
/// at all: exit code 1.
class console_error : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The console's options; its actor system reaches the node, with TLS if
/// --openssl.certificate or --openssl.cafile is given.
struct console_config : program_config {
  std::string connect;
  bool json = false;
  double interval = 1;
  std::string control_token;

  console_config() : program_config("rpcbatch-console", usage) {
    takes_arguments = true;
    // The node's variable for the same secret sets it too.
    env_aliases.emplace("RPCBATCH_CONSOLE_CONTROL_TOKEN", "control-token");
    load<caf::io::middleman>();
    register_message_types(*this);
    add_options()
      .add(connect, "connect", "the node's console port, HOST:PORT (required)")
      .add(json, "json", "answers as JSON, one line each")
      .add(interval, "interval", "watch refresh interval in seconds")
      .add(control_token, "control-token",
           "the node's --console-control-token, for controls (or @FILE)");
  }

  /// Throws cli_error for missing or bad values; loads TLS if asked for.
  void check() {
    if (connect.empty())
      throw cli_error("--connect=HOST:PORT is required");
    split_host_port(connect);
    check_range("interval", interval, 0.05, 3600.0);
    if (!openssl_certificate.empty() || !openssl_cafile.empty())
      load<caf::openssl::manager>();
  }
};

volatile std::sig_atomic_t interrupted = 0;

void on_interrupt(int) {
  interrupted = 1;
}

/// Keys arrive one by one without echo while it lives (if stdin is a
/// terminal); the cursor is hidden.
class raw_terminal {
public:
  raw_terminal() {
    if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0) {
      auto raw = saved_;
      raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
      raw.c_cc[VMIN] = 1;
      raw.c_cc[VTIME] = 0;
      restore_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
    }
    std::cout << "\x1b[?25l" << std::flush;
  }

  ~raw_terminal() {
    std::cout << "\x1b[?25h" << std::flush;
    if (restore_)
      tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }

  raw_terminal(const raw_terminal&) = delete;
  raw_terminal& operator=(const raw_terminal&) = delete;

private:
  termios saved_{};
  bool restore_ = false;
};

std::vector<std::string> split_words(const std::string& line) {
  std::istringstream in{line};
  std::vector<std::string> out;
  for (std::string w; in >> w;)
    out.push_back(std::move(w));
  return out;
}

/// Connects to the console gate at `target`. A connect that hangs cannot be
/// cancelled, so after `timeout` the process ends at once with exit code 1.
console_actor connect(caf::actor_system& sys, const std::string& target,
                        std::chrono::seconds timeout) {
  auto [host, port] = split_host_port(target);
  using result_type = caf::expected<console_actor>;
  auto result = std::make_shared<std::promise<result_type>>();
  auto answer = result->get_future();
  std::thread([&sys, host = host, port = port, result] {
    auto p = static_cast<uint16_t>(port);
    result->set_value(
      sys.has_openssl_manager()
        ? caf::openssl::remote_actor<console_actor>(sys, host, p)
        : sys.middleman().remote_actor<console_actor>(host, p));
  }).detach();
  if (answer.wait_for(timeout) != std::future_status::ready) {
    std::cerr << "rpcbatch-console: cannot reach a node at " << target
              << ": no answer within " << timeout.count() << " s"
              << std::endl;
    std::_Exit(1);
  }
  auto handle = answer.get();
  if (!handle)
    throw console_error("cannot reach a node at " + target + ": "
                        + sys.render(handle.error()));
  return *handle;
}

class session {
public:
  session(caf::actor_system& sys, console_actor insp, std::string target,
          bool json, double interval, std::string control_token)
    : sys_(sys),
      insp_(std::move(insp)),
      target_(std::move(target)),
      json_(json),
      interval_(interval),
      control_token_(std::move(control_token)) {
    // nop
  }

  /// Runs one command; throws cli_error for bad usage and console_error
  /// for error answers.
  void run(const std::vector<std::string>& words) {
    auto& cmd = words.at(0);
    auto arg = words.size() > 1 ? words[1] : std::string{};
    if (cmd == "help") {
      std::cout << commands_help;
    } else if (cmd == "nodes") {
      show(ask<node_summaries>(nodes_atom::value), show_nodes);
    } else if (cmd == "actors") {
      show(ask<actor_summaries>(actors_atom::value), show_actors);
    } else if (cmd == "status") {
      if (arg.empty())
        throw cli_error("status needs an actor name (see actors)");
      auto answer = ask<actor_summary>(status_atom::value, arg);
      if (json_)
        std::cout << boost::json::serialize(actor_json(answer)) << std::endl;
      else
        std::cout << show_actor(answer) << std::flush;
    } else if (cmd == "events") {
      auto counted = !arg.empty() && std::isdigit(arg[0]);
      auto kind = counted ? (words.size() > 2 ? words[2] : "") : arg;
      show(ask<node_events>(events_atom::value,
                            event_filter(counted ? arg : "", kind)),
           show_events);
    } else if (cmd == "flush" || cmd == "pause" || cmd == "resume"
               || cmd == "drain") {
      if (cmd == "flush" && arg.empty())
        throw cli_error("flush needs a batcher name (e.g. flush batcher-3)");
      auto answer = ask<control_outcome>(control_atom::value, cmd, arg,
                                         control_token_);
      if (!answer.ok)
        throw console_error(answer.detail);
      show(answer, [](const control_outcome& x) { return x.detail + "\n"; });
    } else if (cmd == "watch") {
      watch();
    } else {
      throw cli_error("unknown command '" + cmd + "' (try help)");
    }
  }

  /// The interactive prompt: reads commands until quit or end of input.
  int prompt() {
    std::cout << "connected to " << target_
              << "; help lists the commands, quit leaves" << std::endl;
    while (char* raw = readline("rpcbatch> ")) {
      std::string line{raw};
      std::free(raw);
      auto words = split_words(line);
      if (words.empty())
        continue;
      add_history(line.c_str());
      if (words[0] == "quit" || words[0] == "exit")
        break;
      try {
        run(words);
      } catch (const std::exception& e) {
        std::cerr << e.what() << std::endl;
      }
    }
    return 0;
  }

private:
  static uint32_t event_count(const std::string& arg) {
    if (arg.empty())
      return 20;
    char* end = nullptr;
    auto n = std::strtoul(arg.c_str(), &end, 10);
    if (*end != '\0' || n == 0 || n > 100000)
      throw cli_error("events takes a count between 1 and 100000, not '"
                      + arg + "'");
    return static_cast<uint32_t>(n);
  }

  /// Which events to ask for: a count (default 20) and a kind (empty:
  /// all).
  static event_query event_filter(const std::string& count,
                                  const std::string& kind) {
    event_query q;
    q.count = event_count(count);
    if (!kind.empty()) {
      q.any_kind = false;
      if (!from_string(kind, q.kind))
        throw cli_error("no event kind '" + kind + "' (see help)");
    }
    return q;
  }

  /// Sends a request; the answer, or console_error (with the node's reason
  /// when it gave one).
  template <class T, class... Ts>
  T ask(Ts... xs) {
    caf::scoped_actor self{sys_};
    T out;
    std::optional<std::string> failure;
    self->request(insp_, std::chrono::seconds(15), xs...)
      .receive([&](T& answer) { out = std::move(answer); },
               [&](caf::error& err) { failure = reason(err); });
    if (failure)
      throw console_error(*failure);
    return out;
  }

  /// What an error answer says: the node's reason as it wrote it, or CAF's
  /// rendering when the request got no answer.
  std::string reason(const caf::error& err) const {
    auto& context = err.context();
    if (err.category() == caf::atom("system")
        && static_cast<caf::sec>(err.code()) == caf::sec::runtime_error
        && context.match_elements<std::string>())
      return context.get_as<std::string>(0);
    return "no answer from " + target_ + ": " + sys_.render(err);
  }

  /// Prints an answer: as JSON with --json, else through `render`.
  template <class T, class Render>
  void show(const T& answer, Render render) {
    if (json_)
      std::cout << json_text(answer) << std::endl;
    else
      std::cout << render(answer) << std::flush;
  }

  /// The live table: redraws every interval until q (or Ctrl-C).
  void watch() {
    raw_terminal term;
    interrupted = 0;
    auto old_int = std::signal(SIGINT, on_interrupt);
    auto old_term = std::signal(SIGTERM, on_interrupt);
    struct restore {
      decltype(old_int) i;
      decltype(old_term) t;
      ~restore() {
        std::signal(SIGINT, i);
        std::signal(SIGTERM, t);
      }
    } restore_signals{old_int, old_term};
    auto step = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::duration<double>(interval_));
    bool keys = true;
    while (!interrupted) {
      auto nodes = ask<node_summaries>(nodes_atom::value);
      auto actors = ask<actor_summaries>(actors_atom::value);
      winsize ws{};
      int width = 0;
      int height = 0;
      if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0) {
        width = ws.ws_col;
        height = ws.ws_row;
      }
      std::cout << "\x1b[H\x1b[2J"
                << watch_frame(target_, nodes, actors, width, height)
                << std::flush;
      auto deadline = std::chrono::steady_clock::now() + step;
      while (!interrupted) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - std::chrono::steady_clock::now())
                      .count();
        if (left <= 0)
          break;
        pollfd p{STDIN_FILENO, POLLIN, 0};
        if (poll(&p, keys ? 1 : 0, static_cast<int>(left)) <= 0)
          continue;
        char c = 0;
        auto n = read(STDIN_FILENO, &c, 1);
        if (n <= 0)
          keys = false; // end of input: watch until a signal
        else if (c == 'q' || c == 'Q')
          return;
      }
    }
  }

  caf::actor_system& sys_;
  console_actor insp_;
  std::string target_;
  bool json_;
  double interval_;
  std::string control_token_;
};

int console_main(console_config& cfg) {
  cfg.check();
  auto& words = cfg.arguments();
  caf::actor_system sys{cfg};
  try {
    session s{sys,
              connect(sys, cfg.connect, std::chrono::seconds(5)),
              cfg.connect,
              cfg.json,
              cfg.interval,
              cfg.control_token};
    if (words.empty())
      return s.prompt();
    s.run(words);
    return 0;
  } catch (const console_error& e) {
    std::cerr << "rpcbatch-console: " << e.what() << std::endl;
    return 1;
  }
}

} // namespace

int run_console(int argc, char** argv) {
  console_config cfg;
  return run_program(cfg, argc, argv, [&] { return console_main(cfg); });
}

} // namespace rpcbatch
