// rpcbatch-client: the seed's server_client in C++. Without a command it
// shows the seed's interactive menu on stdin; `resolve WORD` and
// `resolve-batch TEXT` make it scriptable. Answers print as Python prints a
// (word, length) tuple.
#include "services/adapters/rpc_client.hpp"
#include "services/config/program.hpp"

#include <cstdio>
#include <future>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: rpcbatch-client [options] [COMMAND]

Calls RpcService and prints each answer as a Python tuple ('word', length).

commands:
  (none)              interactive menu on stdin (q or end of input quits)
  resolve WORD        resolve one word
  resolve-batch TEXT  resolve TEXT split on spaces in one resolveBatch call
)";

struct client_config : rpcbatch::program_config {
  std::string target = rpcbatch::default_rpc_address;
  int deadline_ms = 3000;

  client_config() : program_config("rpcbatch-client", usage) {
    takes_arguments = true;
    add_options()
      .add(target, "target", "the RpcService, HOST:PORT")
      .add(deadline_ms, "deadline-ms", "deadline of each call");
  }
};

/// Python's repr() of a str: single quotes unless the text holds a single
/// quote and no double quote; backslash escapes for control characters.
std::string python_repr(const std::string& text) {
  bool single = text.find('\'') != std::string::npos;
  bool dbl = text.find('"') != std::string::npos;
  char quote = single && !dbl ? '"' : '\'';
  std::string out(1, quote);
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    // U+0080..U+009F (UTF-8 C2 80..C2 9F) are not printable either.
    bool c1 = c == 0xC2 && i + 1 < text.size()
              && static_cast<unsigned char>(text[i + 1]) < 0xA0;
    if (c1)
      c = static_cast<unsigned char>(text[++i]);
    if (c == '\\' || c == quote) {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c < 0x20 || c == 0x7F || c1) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  out += quote;
  return out;
}

void print_tuple(const std::string& word, int32_t length) {
  std::cout << '(' << python_repr(word) << ", " << length << ")\n";
}

/// Words separated by runs of spaces, as Python's str.split().
std::vector<std::string> split_spaces(const std::string& text) {
  std::vector<std::string> words;
  std::size_t pos = 0;
  while ((pos = text.find_first_not_of(' ', pos)) != std::string::npos) {
    auto end = text.find(' ', pos);
    words.push_back(text.substr(pos, end - pos));
    pos = end;
  }
  return words;
}

class session {
public:
  session(const std::string& target, std::chrono::milliseconds deadline)
    : client_(target), deadline_(deadline) {
    // nop
  }

  /// Resolves `word`; prints its tuple, or the error on stderr.
  bool resolve(const std::string& word) {
    auto result = await([&](rpcbatch::rpc_client::batch_callback cb) {
      client_.resolve(word, deadline_, std::move(cb));
    });
    if (!report(result))
      return false;
    print_tuple(word, result.lengths[0]);
    return true;
  }

  /// Resolves the words of `text` in one call; prints one tuple per word.
  bool resolve_batch(const std::string& text) {
    auto words = split_spaces(text);
    auto result = await([&](rpcbatch::rpc_client::batch_callback cb) {
      client_.resolve_batch(words, deadline_, "", std::move(cb));
    });
    rpcbatch::check_batch_size(result, words.size());
    if (!report(result))
      return false;
    for (std::size_t i = 0; i < words.size(); ++i)
      print_tuple(words[i], result.lengths[i]);
    return true;
  }

private:
  template <class Start>
  static rpcbatch::rpc_result await(Start start) {
    // Shared with the callback: the promise must outlive set_value.
    auto done = std::make_shared<std::promise<rpcbatch::rpc_result>>();
    auto answer = done->get_future();
    start([done](rpcbatch::rpc_result r) { done->set_value(std::move(r)); });
    return answer.get();
  }

  bool report(const rpcbatch::rpc_result& result) {
    if (result.ok())
      return true;
    std::string_view code = rpcbatch::rpc_code_name(result.code);
    if (code == "UNAVAILABLE" || code == "DEADLINE_EXCEEDED")
      std::cerr << "cannot reach RpcService at " << client_.target() << ": ";
    else
      std::cerr << "RpcService at " << client_.target() << " failed: ";
    std::cerr << code << ": " << result.error << std::endl;
    return false;
  }

  rpcbatch::rpc_client client_;
  std::chrono::milliseconds deadline_;
};

/// Prints `prompt` and reads one line; false at end of input.
bool ask(const char* prompt, std::string& line) {
  std::cout << prompt << std::flush;
  if (std::getline(std::cin, line))
    return true;
  std::cout << '\n';
  return false;
}

int interactive(session& s) {
  std::string choice;
  std::string line;
  for (;;) {
    std::cout << "1: resolve a word\n"
                 "2: resolve a batch (text split on spaces)\n"
                 "q: quit\n";
    if (!ask("choice: ", choice) || choice == "q")
      return 0;
    if (choice == "1") {
      if (!ask("word: ", line))
        return 0;
      s.resolve(line);
    } else if (choice == "2") {
      if (!ask("text: ", line))
        return 0;
      s.resolve_batch(line);
    } else {
      std::cout << "unknown choice '" << choice << "'\n";
    }
  }
}

int run(const client_config& cfg) {
  rpcbatch::split_host_port(cfg.target);
  rpcbatch::check_range("deadline-ms", cfg.deadline_ms, 1, 3600000);
  const auto& args = cfg.arguments();
  if (!args.empty() && args[0] != "resolve" && args[0] != "resolve-batch")
    throw rpcbatch::cli_error("unknown command '" + args[0] + "'");
  if (!args.empty() && args.size() != 2)
    throw rpcbatch::cli_error(args[0] + " expects exactly one argument");
  session s{cfg.target, std::chrono::milliseconds{cfg.deadline_ms}};
  if (args.empty())
    return interactive(s);
  bool ok = args[0] == "resolve" ? s.resolve(args[1])
                                 : s.resolve_batch(args[1]);
  return ok ? 0 : 1;
}

} // namespace

int main(int argc, char** argv) {
  client_config cfg;
  return rpcbatch::run_program(cfg, argc, argv, [&] { return run(cfg); });
}
