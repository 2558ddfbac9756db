// The HTTP server of the node's endpoints against slow and hostile peers
// (actors/observe/http_server.hpp): in process, connections that send
// nothing, half a request, a head that trickles in or never ends, bodies,
// other methods, more connections than it serves; then the node itself,
// whose probes answer at once while such peers are connected and whose
// memory does not grow with what they send.
#include "actors/observe/http_server.hpp"

#include <csignal>
#include <fstream>
#include <optional>
#include <string_view>
#include <thread>

#include <doctest/doctest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "services/config/addresses.hpp"
#include "tests/support/harness.hpp"

using namespace std::chrono_literals;
using namespace rpcbatch;
using rpcbatch::test::child_process;

namespace {

/// How long a probe waits for its answer (see served::probe).
constexpr auto probe_timeout = std::chrono::seconds(3);

using clock_type = std::chrono::steady_clock;

/// A raw connection to 127.0.0.1:`port`, for requests that no well-behaved
/// client sends. A send waits at most 5 s for the server to take more.
class peer {
public:
  explicit peer(int port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    timeval five{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &five, sizeof(five));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr))
            == 0);
  }

  peer(const peer&) = delete;
  peer& operator=(const peer&) = delete;

  ~peer() {
    ::close(fd_);
  }

  /// Sends `data`; false once the server takes no more.
  bool send(std::string_view data) {
    while (!data.empty()) {
      auto n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0)
        return false;
      data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }

  /// Whether the server sent something or closed within `timeout`.
  bool readable(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    return ::poll(&p, 1, static_cast<int>(timeout.count())) > 0;
  }

  /// What the server sends until it closes (or resets) the connection;
  /// nothing if it does not within `timeout`.
  std::optional<std::string> answer(std::chrono::milliseconds timeout = 5s) {
    auto deadline = clock_type::now() + timeout;
    std::string out;
    char buf[4096];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - clock_type::now());
      if (left.count() <= 0 || !readable(left))
        return std::nullopt;
      auto n = ::recv(fd_, buf, sizeof(buf), 0);
      if (n <= 0)
        return out;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }

private:
  int fd_;
};

/// The status of an HTTP answer, 0 if there is none.
int status_of(const std::optional<std::string>& answer) {
  if (!answer || answer->compare(0, 9, "HTTP/1.1 ") != 0)
    return 0;
  return std::atoi(answer->c_str() + 9);
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

/// A server of make_http_server() with /healthz, on a free loopback port;
/// it has answered once when constructed.
struct served {
  std::unique_ptr<httplib::Server> server = make_http_server();
  std::thread thread;
  int port = 0;

  served() {
    server->Get("/healthz", [](const httplib::Request&,
                               httplib::Response& res) {
      res.set_content("ok\n", "text/plain");
    });
    port = server->bind_to_any_port("127.0.0.1");
    REQUIRE(port > 0);
    thread = std::thread([this] { server->listen_after_bind(); });
    REQUIRE(probe());
  }

  ~served() {
    server->stop();
    thread.join();
  }

  /// GET /healthz as a probe does: answered with 200. The bound only tells
  /// "answered" from "held up behind slow peers" (5 to 20 s before the
  /// bounds); a loaded machine must not fail it.
  bool probe() const {
    httplib::Client client{"127.0.0.1", port};
    client.set_connection_timeout(probe_timeout);
    client.set_read_timeout(probe_timeout);
    client.set_write_timeout(probe_timeout);
    auto r = client.Get("/healthz");
    return r && r->status == 200 && r->body == "ok\n";
  }
};

/// A request head of `method` for /healthz with `headers` (lines ending in
/// "\r\n").
std::string head(const std::string& method, const std::string& headers = "") {
  return method + " /healthz HTTP/1.1\r\nHost: x\r\n" + headers + "\r\n";
}

} // namespace

TEST_SUITE("http") {

TEST_CASE("http: a probe is answered within 1 s while silent, half-sent "
          "and answered connections stay open") {
  served s;
  std::vector<std::unique_ptr<peer>> held;
  for (int i = 0; i < 4; ++i) {
    held.push_back(std::make_unique<peer>(s.port));
    REQUIRE(held.back()->send("GET /healthz HTTP/1.1\r\nHost: x\r\n"));
  }
  for (int i = 0; i < 3; ++i)
    held.push_back(std::make_unique<peer>(s.port));
  // Answered, and kept open by the client as for another request.
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<peer>(s.port));
    REQUIRE(held.back()->send(head("GET")));
    REQUIRE(held.back()->readable(5s));
  }
  CHECK(s.probe());
  CHECK(s.probe());
}

TEST_CASE("http: every connection gets one answer and is closed") {
  served s;
  peer p{s.port};
  REQUIRE(p.send(head("GET", "Connection: keep-alive\r\n")));
  auto a = p.answer(2s);
  REQUIRE(a);
  CHECK(status_of(a) == 200);
  CHECK(contains(*a, "Connection: close\r\n"));
}

TEST_CASE("http: a peer too slow with its request head gets 408 at the "
          "deadline, however it trickles") {
  served s;
  peer silent{s.port};
  auto a = silent.answer(5s);
  CHECK(status_of(a) == 408);
  // One byte of an endless header line every 200 ms.
  peer slow{s.port};
  REQUIRE(slow.send("GET /healthz HTTP/1.1\r\nX-Slow: "));
  auto started = clock_type::now();
  while (!slow.readable(200ms) && clock_type::now() - started < 10s)
    slow.send("x");
  auto took = clock_type::now() - started;
  CHECK(status_of(slow.answer()) == 408);
  CHECK(took < http_limits::head_timeout + 1s);
}

TEST_CASE("http: a request head above the limit gets 431 and is not read "
          "further") {
  served s;
  peer p{s.port};
  // The server stops reading after max_head bytes: the send may fail.
  p.send("GET /" + std::string(4 * http_limits::max_head, 'x'));
  CHECK(status_of(p.answer()) == 431);
  CHECK(s.probe());
}

TEST_CASE("http: only GET and HEAD are served; bodies above the limit are "
          "refused unread") {
  served s;
  auto ask = [&](const std::string& request) {
    peer p{s.port};
    REQUIRE(p.send(request));
    return p.answer();
  };
  for (auto method : {"POST", "PUT", "DELETE", "PATCH", "OPTIONS"}) {
    auto a = ask(head(method, "Content-Length: 0\r\n"));
    CHECK_MESSAGE(status_of(a) == 405, method);
    CHECK(contains(a.value_or(""), "Allow: GET, HEAD\r\n"));
  }
  // 200 MiB announced, none sent: refused at once.
  auto big = "Content-Length: " + std::to_string(200 << 20) + "\r\n";
  CHECK(status_of(ask(head("POST", big))) == 413);
  CHECK(status_of(ask(head("GET", big))) == 413);
  CHECK(status_of(ask(head("POST", "Transfer-Encoding: chunked\r\n"))) == 413);
  // No "100 Continue" invites a body that would be refused.
  auto expect = ask(head("POST", big + "Expect: 100-continue\r\n"));
  CHECK(status_of(expect) == 413);
  // A small body is let be.
  CHECK(status_of(ask(head("GET", "Content-Length: 3\r\n") + "abc")) == 200);
  auto h = ask(head("HEAD"));
  CHECK(status_of(h) == 200);
  CHECK_FALSE(contains(h.value_or(""), "ok\n"));
}

TEST_CASE("http: connections beyond those waiting for a thread are closed "
          "at once") {
  served s;
  std::vector<std::unique_ptr<peer>> held;
  for (std::size_t i = 0; i < http_limits::threads + http_limits::max_waiting;
       ++i)
    held.push_back(std::make_unique<peer>(s.port));
  // The threads wait for their heads, the others for a thread: one more is
  // closed without an answer long before any head deadline.
  peer extra{s.port};
  auto started = clock_type::now();
  auto a = extra.answer(5s);
  REQUIRE(a);
  CHECK(a->empty());
  CHECK(clock_type::now() - started < http_limits::head_timeout);
}

} // TEST_SUITE

TEST_SUITE("http node") {

using namespace rpcbatch::test;

/// The resident memory of process `pid` in bytes.
long long rss_of(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, 6, "VmRSS:") == 0)
      return std::stoll(line.substr(6)) * 1024;
  return -1;
}

TEST_CASE("http node: probes answer at once while slow peers are connected, "
          "and what peers send does not grow the node's memory") {
  environment env;
  child_process node{env.node_command({"--http-port=0"})};
  auto [host, port] = split_host_port(
    listening_address(node, "rpcbatch-node http"));
  INFO("node stderr: ", tail(node.err()));
  auto probe = [port = port](const char* path) {
    httplib::Client client{"127.0.0.1", port};
    client.set_connection_timeout(probe_timeout);
    client.set_read_timeout(probe_timeout);
    return client.Get(path);
  };
  {
    std::vector<std::unique_ptr<peer>> held;
    for (int i = 0; i < 4; ++i) {
      held.push_back(std::make_unique<peer>(port));
      REQUIRE(held.back()->send("GET /readyz HTTP/1.1\r\nHost: x\r\n"));
    }
    for (int i = 0; i < 2; ++i)
      held.push_back(std::make_unique<peer>(port));
    auto health = probe("/healthz");
    REQUIRE(health);
    CHECK(health->status == 200);
    auto ready = probe("/readyz");
    REQUIRE(ready);
    CHECK((ready->status == 200 || ready->status == 503));
    CHECK(contains(ready->body, "ready\n"));
  }
  // 200 MiB of body, then 200 MiB of request line, as fast as the node
  // takes them: its resident memory hardly moves.
  auto flood = [&, port = port](const std::string& start) {
    auto before = rss_of(node.pid());
    auto peak = before;
    peer p{port};
    p.send(start);
    std::string block(1 << 20, 'x');
    for (int i = 0; i < 200 && p.send(block); ++i)
      peak = std::max(peak, rss_of(node.pid()));
    auto a = p.answer();
    peak = std::max(peak, rss_of(node.pid()));
    MESSAGE("RSS ", before >> 20, " MiB, peak ", peak >> 20, " MiB");
    CHECK(peak - before < (50 << 20));
    return status_of(a);
  };
  CHECK(flood("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: "
              + std::to_string(200 << 20) + "\r\n\r\n")
        == 413);
  CHECK(flood("GET /") == 431);
  for (auto method : {"PUT", "DELETE"}) {
    peer p{port};
    REQUIRE(p.send(std::string{method}
                   + " /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
    CHECK_MESSAGE(status_of(p.answer()) == 405, method);
  }
  node.signal(SIGTERM);
  CHECK(node.wait(60s) == 0);
}

} // TEST_SUITE
