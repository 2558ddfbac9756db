#include "actors/observe/http_server.hpp"

#include <algorithm>
#include <cerrno>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <netdb.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace rpcbatch {

namespace {

using clock_type = std::chrono::steady_clock;

/// Waits until `sock` is ready for `events` (or failed) or `deadline`
/// passes; false on the deadline.
bool ready(socket_t sock, short events, clock_type::time_point deadline) {
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                  deadline - clock_type::now())
                  .count();
    pollfd p{sock, events, 0};
    auto n = ::poll(&p, 1, static_cast<int>(std::max<int64_t>(0, left)));
    if (n >= 0 || errno != EINTR)
      return n > 0;
  }
}

/// A connection whose request head is read whole first, within the limits;
/// httplib then parses it from memory. Nothing after the head is read.
class request_stream final : public httplib::Stream {
public:
  explicit request_stream(socket_t sock) : sock_(sock) {
  }

  /// Reads the head: 0 once it is whole, -1 if the peer closed, else the
  /// status that refuses the request (408: too slow, 431: too large). The
  /// answer then has write_timeout to go out.
  int read_head() {
    auto status = read_until_blank_line();
    write_deadline_ = clock_type::now() + http_limits::write_timeout;
    return status;
  }

  bool is_readable() const override {
    return pos_ < head_.size();
  }

  bool is_writable() const override {
    return ready(sock_, POLLOUT, write_deadline_);
  }

  /// The head, then the end: no endpoint takes a body.
  ssize_t read(char* ptr, size_t size) override {
    auto n = std::min(size, head_.size() - pos_);
    std::memcpy(ptr, head_.data() + pos_, n);
    pos_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable())
      return -1;
    return ::send(sock_, ptr, size, MSG_NOSIGNAL);
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(true, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(false, ip, port);
  }

  socket_t socket() const override {
    return sock_;
  }

private:
  int read_until_blank_line() {
    auto deadline = clock_type::now() + http_limits::head_timeout;
    char buf[1024];
    while (head_.find("\r\n\r\n") == std::string::npos
           && head_.find("\n\n") == std::string::npos) {
      if (head_.size() >= http_limits::max_head)
        return 431;
      if (!ready(sock_, POLLIN, deadline))
        return 408;
      auto room = http_limits::max_head - head_.size();
      auto n = ::recv(sock_, buf, std::min(sizeof(buf), room), 0);
      if (n <= 0)
        return -1;
      head_.append(buf, static_cast<std::size_t>(n));
    }
    return 0;
  }

  void address_of(bool peer, std::string& ip, int& port) const {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    auto sa = reinterpret_cast<sockaddr*>(&addr);
    if ((peer ? ::getpeername(sock_, sa, &len) : ::getsockname(sock_, sa, &len))
        != 0)
      return;
    char host[NI_MAXHOST];
    char serv[NI_MAXSERV];
    if (::getnameinfo(sa, len, host, sizeof(host), serv, sizeof(serv),
                      NI_NUMERICHOST | NI_NUMERICSERV)
        == 0) {
      ip = host;
      port = std::atoi(serv);
    }
  }

  socket_t sock_;
  std::string head_;
  std::size_t pos_ = 0;
  clock_type::time_point write_deadline_;
};

/// Set while a connection that found the queue full is closed on the
/// accepting thread.
thread_local bool queue_full = false;

/// httplib's thread pool with a bounded queue: a connection that finds
/// max_waiting others waiting is closed at once instead of holding a file
/// descriptor until a thread is free.
class bounded_pool final : public httplib::TaskQueue {
public:
  bounded_pool() {
    for (std::size_t i = 0; i < http_limits::threads; ++i)
      threads_.emplace_back([this] { work(); });
  }

  void enqueue(std::function<void()> fn) override {
    std::unique_lock<std::mutex> lock{mtx_};
    if (jobs_.size() >= http_limits::max_waiting) {
      lock.unlock();
      queue_full = true;
      fn();
      queue_full = false;
      return;
    }
    jobs_.push_back(std::move(fn));
    lock.unlock();
    cv_.notify_one();
  }

  void shutdown() override {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_)
      t.join();
  }

private:
  void work() {
    for (;;) {
      std::unique_lock<std::mutex> lock{mtx_};
      cv_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
      if (jobs_.empty())
        return;
      auto fn = std::move(jobs_.front());
      jobs_.pop_front();
      lock.unlock();
      fn();
    }
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> jobs_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

/// The reason phrase of the statuses that refuse a request.
const char* reason(int status) {
  switch (status) {
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 413:
      return "Payload Too Large";
    default:
      return "Request Header Fields Too Large";
  }
}

/// Refuses what no endpoint serves before anything after the head is read:
/// a body above the limit (413), a method other than GET and HEAD (405).
bool refused(const httplib::Request& req, httplib::Response& res) {
  if (req.has_header("Transfer-Encoding")
      || req.get_header_value<uint64_t>("Content-Length")
           > http_limits::max_body)
    res.status = 413;
  else if (req.method != "GET" && req.method != "HEAD")
    res.status = 405;
  else
    return false;
  if (res.status == 405)
    res.set_header("Allow", "GET, HEAD");
  res.set_content(std::string{reason(res.status)} + "\n", "text/plain");
  return true;
}

class bounded_server final : public httplib::Server {
public:
  bounded_server() {
    new_task_queue = [this] {
      // httplib listens with a backlog of 5: a burst of a few connections
      // would wait for the peers to send SYN again (1 s later).
      ::listen(svr_sock_, SOMAXCONN);
      return new bounded_pool;
    };
    set_payload_max_length(http_limits::max_body);
    set_pre_routing_handler(
      [](const httplib::Request& req, httplib::Response& res) {
        return refused(req, res) ? HandlerResponse::Handled
                                 : HandlerResponse::Unhandled;
      });
    // No "100 Continue" for a request about to be refused.
    set_expect_100_continue_handler(
      [](const httplib::Request& req, httplib::Response& res) {
        return refused(req, res) ? res.status : 100;
      });
  }

private:
  bool process_and_close_socket(socket_t sock) override {
    auto ok = false;
    if (!queue_full) {
      request_stream strm{sock};
      auto status = strm.read_head();
      if (status == 0) {
        auto closed = true;
        ok = process_request(strm, true, closed, nullptr);
      } else if (status > 0) {
        strm.write_format("HTTP/1.1 %d %s\r\nConnection: close\r\n"
                          "Content-Length: 0\r\n\r\n",
                          status, reason(status));
      }
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return ok;
  }
};

} // namespace

std::unique_ptr<httplib::Server> make_http_server() {
  return std::make_unique<bounded_server>();
}

} // namespace rpcbatch
