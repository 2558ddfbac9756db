#include "services/resolver_service.hpp"

#include "services/cli.hpp"
#include "services/log.hpp"

#include "service.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <thread>
#include <vector>

namespace rpcbatch {

namespace {

constexpr int max_message_bytes = 64 << 20;
constexpr const char* component = "resolver";

using clock_type = std::chrono::steady_clock;

/// Finishes delayed calls when they are due: one thread for all of them, so
/// that a delay holds no gRPC thread.
class delay_queue {
public:
  delay_queue() : thread_([this] { run(); }) {
    // nop
  }

  ~delay_queue() {
    stop();
  }

  /// Finishes `reactor` with `status` at `due`; at once after stop().
  void finish_at(clock_type::time_point due, grpc::ServerUnaryReactor* reactor,
                 grpc::Status status) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!stopping_) {
        queue_.push(entry{due, seq_++, reactor, std::move(status)});
        cv_.notify_one();
        return;
      }
    }
    reactor->Finish(status);
  }

  /// Finishes every pending call now and joins the thread. Idempotent.
  void stop() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      stopping_ = true;
      cv_.notify_one();
    }
    if (thread_.joinable())
      thread_.join();
  }

private:
  struct entry {
    clock_type::time_point due;
    uint64_t seq; // keeps calls due at the same time in arrival order
    grpc::ServerUnaryReactor* reactor;
    grpc::Status status;

    bool operator>(const entry& other) const {
      return due != other.due ? due > other.due : seq > other.seq;
    }
  };

  void run() {
    std::unique_lock<std::mutex> lock{mtx_};
    for (;;) {
      if (queue_.empty()) {
        if (stopping_)
          return;
        cv_.wait(lock);
        continue;
      }
      // A copy: wait_until reads its argument while push() may reallocate.
      auto due_at = queue_.top().due;
      if (!stopping_ && due_at > clock_type::now()) {
        cv_.wait_until(lock, due_at);
        continue;
      }
      auto due = queue_.top();
      queue_.pop();
      lock.unlock();
      due.reactor->Finish(due.status);
      lock.lock();
    }
  }

  std::mutex mtx_;
  std::condition_variable cv_;
  std::priority_queue<entry, std::vector<entry>, std::greater<>> queue_;
  uint64_t seq_ = 0;
  bool stopping_ = false;
  std::thread thread_;
};

/// SplitMix64: a well-mixed 64-bit value for each counter value.
uint64_t splitmix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class service final : public chapter3::RpcService::CallbackService {
public:
  service(const resolver_options& opts, delay_queue* delays)
    : opts_(opts), delays_(delays) {
    // nop
  }

  grpc::ServerUnaryReactor* resolve(grpc::CallbackServerContext* ctx,
                                    const chapter3::Request* req,
                                    chapter3::Response* resp) override {
    resolve_calls_.fetch_add(1, std::memory_order_relaxed);
    if (inject_failure()) {
      if (opts_.verbose)
        log::info(component, "resolve: ", req->input(), " -> UNAVAILABLE");
      return answer(ctx, injected_failure());
    }
    auto n = static_cast<int32_t>(code_points(req->input()));
    resp->set_output(n);
    inputs_.fetch_add(1, std::memory_order_relaxed);
    if (opts_.verbose)
      log::info(component, "resolve: ", req->input(), " -> ", n);
    return answer(ctx, grpc::Status::OK);
  }

  grpc::ServerUnaryReactor*
  resolveBatch(grpc::CallbackServerContext* ctx,
               const chapter3::RequestList* req,
               chapter3::ResponseList* resp) override {
    batch_calls_.fetch_add(1, std::memory_order_relaxed);
    auto size = req->request_size();
    auto n = static_cast<uint64_t>(size);
    auto largest = max_batch_.load(std::memory_order_relaxed);
    while (n > largest && !max_batch_.compare_exchange_weak(largest, n)) {
      // another call raised it meanwhile; compare again
    }
    if (inject_failure()) {
      if (opts_.verbose)
        log::info(component, "resolveBatch: ", size, " inputs -> UNAVAILABLE");
      return answer(ctx, injected_failure());
    }
    if (opts_.verbose)
      log::info(component, "resolveBatch: ", size, " inputs");
    auto* out = resp->mutable_response();
    out->Reserve(size);
    for (const auto& r : req->request())
      out->Add()->set_output(static_cast<int32_t>(code_points(r.input())));
    inputs_.fetch_add(static_cast<uint64_t>(size), std::memory_order_relaxed);
    return answer(ctx, grpc::Status::OK);
  }

  resolver_counts counts() const {
    resolver_counts c;
    c.resolve_calls = resolve_calls_.load();
    c.batch_calls = batch_calls_.load();
    c.inputs = inputs_.load();
    c.failed_calls = failed_calls_.load();
    c.max_batch = max_batch_.load();
    return c;
  }

private:
  static grpc::Status injected_failure() {
    return {grpc::StatusCode::UNAVAILABLE, "injected failure (--fail-rate)"};
  }

  /// Draws from a counter-based sequence: thread-safe and the same sequence
  /// in every run, although concurrent calls may take the draws in any order.
  bool inject_failure() {
    if (opts_.fail_rate <= 0)
      return false;
    bool fail = opts_.fail_rate >= 1;
    if (!fail) {
      auto draw = splitmix64(draws_.fetch_add(1, std::memory_order_relaxed));
      fail = static_cast<double>(draw >> 11) * 0x1.0p-53 < opts_.fail_rate;
    }
    if (fail)
      failed_calls_.fetch_add(1, std::memory_order_relaxed);
    return fail;
  }

  grpc::ServerUnaryReactor* answer(grpc::CallbackServerContext* ctx,
                                   grpc::Status status) {
    auto* reactor = ctx->DefaultReactor();
    if (delays_ == nullptr) {
      reactor->Finish(status);
    } else {
      auto delay = std::chrono::milliseconds{opts_.latency_ms};
      delays_->finish_at(clock_type::now() + delay, reactor, std::move(status));
    }
    return reactor;
  }

  resolver_options opts_;
  delay_queue* delays_;
  std::atomic<uint64_t> resolve_calls_{0};
  std::atomic<uint64_t> batch_calls_{0};
  std::atomic<uint64_t> inputs_{0};
  std::atomic<uint64_t> failed_calls_{0};
  std::atomic<uint64_t> max_batch_{0};
  std::atomic<uint64_t> draws_{0};
};

} // namespace

std::size_t code_points(std::string_view utf8) {
  std::size_t n = 0;
  for (unsigned char c : utf8)
    n += (c & 0xC0) != 0x80;
  return n;
}

struct resolver_server::impl {
  resolver_options opts;
  std::mutex mtx; // serialises start() and stop()
  // Destroyed in reverse order: the server before the service it calls, the
  // service before the delay queue it uses.
  std::unique_ptr<delay_queue> delays;
  std::unique_ptr<service> svc;
  std::unique_ptr<grpc::Server> server;
  std::string address;
  bool started = false;
};

resolver_server::resolver_server(resolver_options opts)
  : impl_(std::make_unique<impl>()) {
  impl_->opts = std::move(opts);
}

resolver_server::~resolver_server() {
  stop();
}

int resolver_server::start() {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  auto& opts = impl_->opts;
  if (impl_->started)
    throw std::runtime_error("resolver already started");
  auto [host, wanted_port] = split_host_port(opts.listen);
  if (opts.latency_ms < 0 || opts.fail_rate < 0 || opts.fail_rate > 1)
    throw std::runtime_error("resolver: latency_ms must be >= 0 and fail_rate"
                             " in [0, 1]");
  if (opts.latency_ms > 0)
    impl_->delays = std::make_unique<delay_queue>();
  impl_->svc = std::make_unique<service>(opts, impl_->delays.get());
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(opts.listen, grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(impl_->svc.get());
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind a
  // port that is in use; a bind must fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port == 0) {
    impl_->server.reset();
    impl_->svc.reset();
    impl_->delays.reset();
    throw std::runtime_error("cannot listen on " + opts.listen
                             + ": address in use or not available");
  }
  if (host.find(':') != std::string::npos)
    host = "[" + host + "]";
  impl_->address = host + ":" + std::to_string(port);
  impl_->started = true;
  return port;
}

std::string resolver_server::address() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->address;
}

void resolver_server::stop() {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  if (!impl_->server)
    return;
  // Answer the delayed calls first: Shutdown() waits for every call.
  if (impl_->delays)
    impl_->delays->stop();
  impl_->server->Shutdown(std::chrono::system_clock::now()
                          + std::chrono::seconds{2});
  impl_->server->Wait();
  impl_->server.reset();
}

resolver_counts resolver_server::counts() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->svc ? impl_->svc->counts() : resolver_counts{};
}

} // namespace rpcbatch
