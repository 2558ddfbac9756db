#include "services/tools/resolver_service.hpp"

#include "services/config/addresses.hpp"
#include "services/adapters/log.hpp"
#include "services/adapters/rpc_client.hpp"

#include "service.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <absl/synchronization/mutex.h>

#include <algorithm>
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

/// A call that has its answer and waits to send it with a status.
class finishable {
public:
  virtual void finish(grpc::Status status) = 0;

protected:
  ~finishable() = default;
};

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

  /// Finishes `call` with `status` at `due`; at once after stop().
  void finish_at(clock_type::time_point due, finishable* call,
                 grpc::Status status) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (!stopping_) {
        queue_.push(entry{due, seq_++, call, std::move(status)});
        cv_.notify_one();
        return;
      }
    }
    call->finish(std::move(status));
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
    finishable* call;
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
      due.call->finish(std::move(due.status));
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

/// What RpcService answers, and the counts; the transport is in `server`.
class service {
public:
  explicit service(const resolver_options& opts) : opts_(opts) {
    // nop
  }

  grpc::Status resolve(const grpc::ServerContext&, const chapter3::Request& req,
                       chapter3::Response& resp) {
    resolve_calls_.fetch_add(1, std::memory_order_relaxed);
    if (rejects(req.input())) {
      if (opts_.verbose)
        log::info(component, "resolve: ", req.input(), " -> INVALID_ARGUMENT");
      return rejected(req.input());
    }
    if (inject_failure()) {
      if (opts_.verbose)
        log::info(component, "resolve: ", req.input(), " -> UNAVAILABLE");
      return injected_failure();
    }
    auto n = static_cast<int32_t>(code_points(req.input()));
    resp.set_output(n);
    inputs_.fetch_add(1, std::memory_order_relaxed);
    if (opts_.verbose)
      log::info(component, "resolve: ", req.input(), " -> ", n);
    return grpc::Status::OK;
  }

  grpc::Status resolve_batch(const grpc::ServerContext& ctx,
                             const chapter3::RequestList& req,
                             chapter3::ResponseList& resp) {
    batch_calls_.fetch_add(1, std::memory_order_relaxed);
    auto size = req.request_size();
    auto n = static_cast<uint64_t>(size);
    auto largest = max_batch_.load(std::memory_order_relaxed);
    while (n > largest && !max_batch_.compare_exchange_weak(largest, n)) {
      // another call raised it meanwhile; compare again
    }
    std::string call;
    if (opts_.verbose)
      call = "resolveBatch" + batch_id_of(ctx) + ": " + std::to_string(size)
             + " inputs";
    for (const auto& r : req.request())
      if (rejects(r.input())) {
        if (opts_.verbose)
          log::info(component, call, " -> INVALID_ARGUMENT");
        return rejected(r.input());
      }
    if (inject_failure()) {
      if (opts_.verbose)
        log::info(component, call, " -> UNAVAILABLE");
      return injected_failure();
    }
    if (opts_.verbose)
      log::info(component, call);
    auto* out = resp.mutable_response();
    out->Reserve(size);
    for (const auto& r : req.request())
      out->Add()->set_output(static_cast<int32_t>(code_points(r.input())));
    inputs_.fetch_add(static_cast<uint64_t>(size), std::memory_order_relaxed);
    return grpc::Status::OK;
  }

  resolver_counts counts() const {
    resolver_counts c;
    c.resolve_calls = resolve_calls_.load();
    c.batch_calls = batch_calls_.load();
    c.inputs = inputs_.load();
    c.failed_calls = failed_calls_.load();
    c.rejected_calls = rejected_calls_.load();
    c.max_batch = max_batch_.load();
    return c;
  }

private:
  static grpc::Status injected_failure() {
    return {grpc::StatusCode::UNAVAILABLE, "injected failure (--fail-rate)"};
  }

  bool rejects(const std::string& input) const {
    return !opts_.reject_word.empty() && input == opts_.reject_word;
  }

  grpc::Status rejected(const std::string& input) {
    rejected_calls_.fetch_add(1, std::memory_order_relaxed);
    return {grpc::StatusCode::INVALID_ARGUMENT,
            "word '" + input + "' rejected (--reject-word)"};
  }

  /// " [batch id]" from the call's metadata, or "" without one.
  static std::string batch_id_of(const grpc::ServerContext& ctx) {
    auto& meta = ctx.client_metadata();
    auto i = meta.find(batch_id_key);
    if (i == meta.end())
      return "";
    return " [" + std::string{i->second.data(), i->second.size()} + "]";
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

  resolver_options opts_;
  std::atomic<uint64_t> resolve_calls_{0};
  std::atomic<uint64_t> batch_calls_{0};
  std::atomic<uint64_t> inputs_{0};
  std::atomic<uint64_t> failed_calls_{0};
  std::atomic<uint64_t> rejected_calls_{0};
  std::atomic<uint64_t> max_batch_{0};
  std::atomic<uint64_t> draws_{0};
};

/// The completion-queue threads of the server. gRPC's asynchronous API: each
/// thread polls its own queue and serves the calls that complete into it, so
/// a call costs fewer thread hops than with the callback API. One thread
/// serves a small batch in some 25 us of CPU; on 2 cores a second thread only
/// adds contention, so there is one per 4 hardware threads.
unsigned server_threads() {
  return std::max(1u, std::thread::hardware_concurrency() / 4);
}

/// A queued event: a call ready to be served, or one whose answer went out.
class event {
public:
  virtual void proceed(bool ok) = 0;

protected:
  ~event() = default;
};

/// What the calls share: the service, the delays, and the guard that keeps
/// new calls from being requested once the queues shut down.
struct call_context {
  chapter3::RpcService::AsyncService api;
  service* svc = nullptr;
  delay_queue* delays = nullptr;
  int latency_ms = 0;
  std::mutex mtx;
  bool closing = false;
};

/// One unary call of method `Request` -> `Response`: waits in the queue until
/// a client calls, then serves it, asks for the next such call, and sends the
/// answer now or after the delay.
template <class Request, class Response>
class unary_call final : public event, public finishable {
public:
  using request_fn = void (chapter3::RpcService::AsyncService::*)(
    grpc::ServerContext*, Request*, grpc::ServerAsyncResponseWriter<Response>*,
    grpc::CompletionQueue*, grpc::ServerCompletionQueue*, void*);
  using handle_fn = grpc::Status (service::*)(const grpc::ServerContext&,
                                              const Request&, Response&);

  /// Waits for the next call in `cq`, unless the server closes.
  static void expect(call_context& shared, grpc::ServerCompletionQueue* cq,
                     request_fn request, handle_fn handle) {
    std::lock_guard<std::mutex> guard{shared.mtx};
    if (shared.closing)
      return;
    auto* c = new unary_call(shared, cq, request, handle);
    (shared.api.*request)(&c->ctx_, &c->req_, &c->writer_, cq, cq,
                          static_cast<event*>(c));
  }

  void proceed(bool ok) override {
    handed_.load(std::memory_order_acquire);
    if (!ok || answered_) { // shut down before a call came, or done
      delete this;
      return;
    }
    answered_ = true;
    expect(shared_, cq_, request_, handle_);
    auto status = (shared_.svc->*handle_)(ctx_, req_, resp_);
    if (shared_.delays == nullptr) {
      finish(std::move(status));
    } else {
      auto due = clock_type::now()
                 + std::chrono::milliseconds{shared_.latency_ms};
      shared_.delays->finish_at(due, this, std::move(status));
    }
  }

  void finish(grpc::Status status) override {
    handed_.store(true, std::memory_order_release);
    writer_.Finish(resp_, status, static_cast<event*>(this));
  }

private:
  unary_call(call_context& shared, grpc::ServerCompletionQueue* cq,
             request_fn request, handle_fn handle)
    : shared_(shared), cq_(cq), request_(request), handle_(handle) {
    // nop
  }

  call_context& shared_;
  grpc::ServerCompletionQueue* cq_;
  request_fn request_;
  handle_fn handle_;
  grpc::ServerContext ctx_;
  Request req_;
  Response resp_;
  grpc::ServerAsyncResponseWriter<Response> writer_{&ctx_};
  bool answered_ = false;
  /// Stored (release) as the answer goes to gRPC, perhaps on the delay
  /// thread, loaded (acquire) when a completion comes out on a server
  /// thread: the completion queue orders the two inside libgrpc, where
  /// ThreadSanitizer does not see it.
  std::atomic<bool> handed_{false};
};

using resolve_call = unary_call<chapter3::Request, chapter3::Response>;
using batch_call = unary_call<chapter3::RequestList, chapter3::ResponseList>;

/// Serves the queue until it is shut down and drained.
void serve(call_context& shared, grpc::ServerCompletionQueue* cq) {
  resolve_call::expect(shared, cq,
                       &chapter3::RpcService::AsyncService::Requestresolve,
                       &service::resolve);
  batch_call::expect(shared, cq,
                     &chapter3::RpcService::AsyncService::RequestresolveBatch,
                     &service::resolve_batch);
  void* tag = nullptr;
  bool ok = false;
  while (cq->Next(&tag, &ok))
    static_cast<event*>(tag)->proceed(ok);
}

std::shared_ptr<grpc::ServerCredentials>
server_credentials(const resolver_options& opts) {
  if (opts.tls_certificate.empty() && opts.tls_key.empty())
    return grpc::InsecureServerCredentials();
  grpc::SslServerCredentialsOptions o{
    opts.tls_client_cafile.empty()
      ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
      : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY};
  o.pem_key_cert_pairs.push_back(
    {read_pem(opts.tls_key, "--tls-key"),
     read_pem(opts.tls_certificate, "--tls-certificate")});
  if (!opts.tls_client_cafile.empty())
    o.pem_root_certs = read_pem(opts.tls_client_cafile, "--tls-client-cafile");
  return grpc::SslServerCredentials(o);
}

} // namespace

struct resolver_server::impl {
  resolver_options opts;
  std::mutex mtx; // serialises start() and stop()
  // Destroyed in reverse order: the server before the queues and the service
  // it uses, the service before the delay queue.
  std::unique_ptr<delay_queue> delays;
  std::unique_ptr<service> svc;
  std::unique_ptr<call_context> calls;
  std::vector<std::unique_ptr<grpc::ServerCompletionQueue>> queues;
  std::unique_ptr<grpc::Server> server;
  std::vector<std::thread> threads;
  std::string address;
  bool started = false;

  /// Tears down whatever start() built, in order.
  void close() {
    {
      std::lock_guard<std::mutex> guard{calls->mtx};
      calls->closing = true;
    }
    for (auto& q : queues)
      q->Shutdown();
    for (auto& t : threads)
      t.join();
    threads.clear();
    server.reset();
    queues.clear();
  }
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
  // See rpc_client(): Debian's Abseil checks lock order on every lock.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  auto [host, wanted_port] = split_host_port(opts.listen);
  if (opts.latency_ms < 0 || opts.fail_rate < 0 || opts.fail_rate > 1)
    throw std::runtime_error("resolver: latency_ms must be >= 0 and fail_rate"
                             " in [0, 1]");
  if (opts.latency_ms > 0)
    impl_->delays = std::make_unique<delay_queue>();
  impl_->svc = std::make_unique<service>(opts);
  impl_->calls = std::make_unique<call_context>();
  impl_->calls->svc = impl_->svc.get();
  impl_->calls->delays = impl_->delays.get();
  impl_->calls->latency_ms = opts.latency_ms;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(opts.listen, server_credentials(opts), &port);
  builder.RegisterService(&impl_->calls->api);
  builder.SetMaxReceiveMessageSize(max_message_bytes);
  builder.SetMaxSendMessageSize(max_message_bytes);
  // gRPC sets SO_REUSEPORT by default, which lets a second server bind a
  // port that is in use; a bind must fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  for (unsigned i = 0; i < server_threads(); ++i)
    impl_->queues.push_back(builder.AddCompletionQueue());
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || port == 0) {
    impl_->server.reset();
    impl_->close(); // no thread runs, and no call was requested yet
    impl_->calls.reset();
    impl_->svc.reset();
    impl_->delays.reset();
    throw std::runtime_error("cannot listen on " + opts.listen
                             + ": address in use or not available");
  }
  for (auto& q : impl_->queues)
    impl_->threads.emplace_back(
      [calls = impl_->calls.get(), q = q.get()] { serve(*calls, q); });
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
  // Answer the delayed calls first: Shutdown() waits for every call. The
  // queues keep being served until it returns.
  if (impl_->delays)
    impl_->delays->stop();
  impl_->server->Shutdown(std::chrono::system_clock::now()
                          + std::chrono::seconds{2});
  impl_->server->Wait();
  impl_->close();
}

resolver_counts resolver_server::counts() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->svc ? impl_->svc->counts() : resolver_counts{};
}

} // namespace rpcbatch
