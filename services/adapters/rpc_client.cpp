#include "services/adapters/rpc_client.hpp"

#include "services/adapters/log.hpp"

#include "service.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <absl/synchronization/mutex.h>

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>
#include <thread>
#include <utility>

namespace rpcbatch {

namespace {

constexpr int max_message_bytes = 64 << 20;

/// One call in flight: owns what gRPC reads and writes until its completion
/// comes out of the client's completion queue, whose tag is the call itself.
/// Linked into the client's list so that the destructor can cancel it.
struct call {
  call* prev = nullptr;
  call* next = nullptr;
  grpc::ClientContext ctx;
  grpc::Status status;
  rpc_client::batch_callback cb;
  /// Stored (release) just before the call goes to gRPC, loaded (acquire)
  /// first on its completion. gRPC's completion queue orders the two
  /// already, but inside libgrpc, where ThreadSanitizer does not see it:
  /// this shows it the hand-over of the call. One atomic a call.
  std::atomic<bool> handed{false};

  virtual ~call() = default;

  /// The result once the completion arrived.
  virtual rpc_result result() = 0;
};

rpc_result failure(const grpc::Status& status);

/// A batch call's request and response live in an arena whose first block
/// is part of the call: a batch of the usual size allocates nothing for its
/// messages, where it took an allocation per word and message before.
struct batch_call final : call {
  static constexpr std::size_t first_block = 4096;
  alignas(std::max_align_t) char block[first_block];
  google::protobuf::Arena arena{block, first_block};
  chapter3::RequestList& req
    = *google::protobuf::Arena::CreateMessage<chapter3::RequestList>(&arena);
  chapter3::ResponseList& resp
    = *google::protobuf::Arena::CreateMessage<chapter3::ResponseList>(&arena);
  std::unique_ptr<grpc::ClientAsyncResponseReader<chapter3::ResponseList>>
    reader;

  rpc_result result() override {
    if (!status.ok())
      return failure(status);
    rpc_result r;
    r.lengths.reserve(static_cast<std::size_t>(resp.response_size()));
    for (const auto& x : resp.response())
      r.lengths.push_back(x.output());
    return r;
  }
};

struct single_call final : call {
  chapter3::Request req;
  chapter3::Response resp;
  std::unique_ptr<grpc::ClientAsyncResponseReader<chapter3::Response>> reader;

  rpc_result result() override {
    if (!status.ok())
      return failure(status);
    rpc_result r;
    r.lengths.push_back(resp.output());
    return r;
  }
};

rpc_result failure(const grpc::Status& status) {
  rpc_result result;
  result.code = static_cast<int>(status.error_code());
  result.error = status.error_message();
  if (result.error.empty())
    result.error = rpc_code_name(result.code);
  return result;
}

} // namespace

bool rpc_retryable(int code) {
  switch (static_cast<grpc::StatusCode>(code)) {
    case grpc::StatusCode::UNAVAILABLE:
    case grpc::StatusCode::DEADLINE_EXCEEDED:
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return true;
    default:
      return false;
  }
}

static_assert(rpc_code::invalid_argument
                == static_cast<int>(grpc::StatusCode::INVALID_ARGUMENT));
static_assert(rpc_code::unavailable
                == static_cast<int>(grpc::StatusCode::UNAVAILABLE));
static_assert(rpc_code::unauthenticated
                == static_cast<int>(grpc::StatusCode::UNAUTHENTICATED));

const char* rpc_code_name(int code) {
  static constexpr const char* names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
    "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
    "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  if (code < 0 || code >= static_cast<int>(std::size(names)))
    return "UNKNOWN_CODE";
  return names[code];
}

void check_batch_size(rpc_result& result, std::size_t inputs) {
  if (!result.ok() || result.lengths.size() == inputs)
    return;
  auto answered = result.lengths.size();
  result.code = static_cast<int>(grpc::StatusCode::INTERNAL);
  result.error = "resolveBatch answered " + std::to_string(answered)
                 + " lengths for " + std::to_string(inputs) + " inputs";
  result.lengths.clear();
}

struct rpc_client::impl {
  std::string target;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<chapter3::RpcService::Stub> stub;
  // Every call completes into this queue, and one thread runs the callbacks:
  // cheaper per call than gRPC's callback API, whose completions hop between
  // the threads of its pool.
  grpc::CompletionQueue cq;
  std::thread completions;
  mutable std::mutex mtx;
  std::condition_variable idle;
  call* head = nullptr; // the calls in flight
  std::size_t count = 0;

  /// Prepares `c` and links it; the call starts right after.
  void track(call& c, batch_callback cb, std::chrono::milliseconds deadline) {
    c.cb = std::move(cb);
    c.ctx.set_deadline(std::chrono::system_clock::now() + deadline);
    std::lock_guard<std::mutex> guard{mtx};
    c.next = head;
    if (head != nullptr)
      head->prev = &c;
    head = &c;
    ++count;
  }

  /// The completion thread: until the queue is shut down and drained.
  void run() {
    void* tag = nullptr;
    bool ok = false;
    while (cq.Next(&tag, &ok))
      complete(static_cast<call*>(tag));
  }

  /// Runs the callback, then unlinks and deletes the call.
  void complete(call* c) {
    c->handed.load(std::memory_order_acquire);
    try {
      c->cb(c->result());
    } catch (const std::exception& e) {
      log::error("rpc-client", "callback threw: ", e.what());
    } catch (...) {
      log::error("rpc-client", "callback threw an unknown exception");
    }
    {
      std::lock_guard<std::mutex> guard{mtx};
      if (c->prev != nullptr)
        c->prev->next = c->next;
      else
        head = c->next;
      if (c->next != nullptr)
        c->next->prev = c->prev;
      if (--count == 0)
        idle.notify_all();
    }
    delete c;
  }
};

std::string read_pem(const std::string& path, const std::string& what) {
  std::ifstream in{path, std::ios::binary};
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || text.str().empty())
    throw std::runtime_error("cannot read " + what + " '" + path + "'");
  return text.str();
}

namespace {

std::shared_ptr<grpc::ChannelCredentials> credentials(const rpc_tls& tls) {
  if (!tls.enabled())
    return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions o;
  o.pem_root_certs = read_pem(tls.cafile, "--rpc-tls-cafile");
  if (!tls.certificate.empty() || !tls.key.empty()) {
    o.pem_cert_chain = read_pem(tls.certificate, "--rpc-tls-certificate");
    o.pem_private_key = read_pem(tls.key, "--rpc-tls-key");
  }
  return grpc::SslCredentials(o);
}

/// Starts a prepared call and hands it to the completion queue's thread.
template <class Call>
void start(Call* c) {
  c->reader->StartCall();
  // Nothing of the call is read after the hand-over, not even where its
  // reader and response are.
  auto* reader = c->reader.get();
  auto* resp = &c->resp;
  auto* status = &c->status;
  c->handed.store(true, std::memory_order_release);
  reader->Finish(resp, status, c);
}

} // namespace

rpc_client::rpc_client(const std::string& target, const rpc_tls& tls)
  : impl_(std::make_unique<impl>()) {
  // gRPC locks absl::Mutex everywhere, and Debian's Abseil is built with its
  // debug deadlock detection on: a global lock-order graph updated on every
  // lock, a few percent of the CPU of each call. Process-wide and idempotent.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  // The caller retries with its own backoff; gRPC's transparent retries
  // would cost a copy of every call's metadata and message.
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
  // While the target is down, calls fail at once until the channel's next
  // connection attempt; gRPC spaces those up to 120 s apart by default. The
  // rpc-caller probes at most 5 s apart, so reconnect at least as often:
  // a target that is back is used within seconds.
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
  args.SetInt(GRPC_ARG_ENABLE_CHANNELZ, 0);
  impl_->target = target;
  impl_->channel = grpc::CreateCustomChannel(target, credentials(tls), args);
  impl_->stub = chapter3::RpcService::NewStub(impl_->channel);
  impl_->completions = std::thread{[self = impl_.get()] { self->run(); }};
}

rpc_client::~rpc_client() {
  // Cancelling under the lock is safe: completions only surface through the
  // queue, so no callback runs on this thread, and no call can be deleted
  // before the lock is released.
  std::unique_lock<std::mutex> lock{impl_->mtx};
  for (auto* c = impl_->head; c != nullptr; c = c->next)
    c->ctx.TryCancel();
  impl_->idle.wait(lock, [this] { return impl_->count == 0; });
  lock.unlock();
  impl_->cq.Shutdown();
  impl_->completions.join();
}

void rpc_client::resolve_batch(std::vector<std::string> inputs,
                               std::chrono::milliseconds deadline,
                               const std::string& batch_id,
                               batch_callback cb) {
  auto* c = new batch_call;
  if (!batch_id.empty())
    c->ctx.AddMetadata(batch_id_key, batch_id);
  auto* requests = c->req.mutable_request();
  requests->Reserve(static_cast<int>(inputs.size()));
  for (auto& input : inputs)
    requests->Add()->set_input(std::move(input));
  impl_->track(*c, std::move(cb), deadline);
  c->reader = impl_->stub->PrepareAsyncresolveBatch(&c->ctx, c->req,
                                                    &impl_->cq);
  start(c);
}

void rpc_client::resolve(std::string input, std::chrono::milliseconds deadline,
                         batch_callback cb) {
  auto* c = new single_call;
  c->req.set_input(std::move(input));
  impl_->track(*c, std::move(cb), deadline);
  c->reader = impl_->stub->PrepareAsyncresolve(&c->ctx, c->req, &impl_->cq);
  start(c);
}

bool rpc_client::wait_connected(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::system_clock::now() + timeout;
  auto state = impl_->channel->GetState(true);
  while (state != GRPC_CHANNEL_READY) {
    if (!impl_->channel->WaitForStateChange(state, deadline))
      return false;
    state = impl_->channel->GetState(true);
  }
  return true;
}

std::size_t rpc_client::in_flight() const {
  std::lock_guard<std::mutex> guard{impl_->mtx};
  return impl_->count;
}

const std::string& rpc_client::target() const {
  return impl_->target;
}

} // namespace rpcbatch
