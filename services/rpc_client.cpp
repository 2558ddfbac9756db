#include "services/rpc_client.hpp"

#include "services/log.hpp"

#include "service.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <condition_variable>
#include <exception>
#include <iterator>
#include <mutex>
#include <utility>

namespace rpcbatch {

namespace {

constexpr int max_message_bytes = 64 << 20;

/// One call in flight: owns what gRPC reads and writes until the callback.
/// Linked into the client's list so that the destructor can cancel it.
struct call {
  call* prev = nullptr;
  call* next = nullptr;
  grpc::ClientContext ctx;
  rpc_client::batch_callback cb;

  virtual ~call() = default;
};

struct batch_call final : call {
  chapter3::RequestList req;
  chapter3::ResponseList resp;
};

struct single_call final : call {
  chapter3::Request req;
  chapter3::Response resp;
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
  mutable std::mutex mtx;
  std::condition_variable idle;
  call* head = nullptr; // the calls in flight
  std::size_t count = 0;
  bool cancelling = false; // the destructor runs
  call* finished = nullptr; // completed while cancelling, not yet deleted

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

  /// Runs the callback, then unlinks and deletes the call; while the
  /// destructor cancels, it leaves the deletion to the destructor.
  void complete(call* c, rpc_result result) {
    try {
      c->cb(std::move(result));
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
      if (cancelling) {
        c->next = finished;
        finished = c;
        c = nullptr;
      }
      if (--count == 0)
        idle.notify_all();
    }
    delete c;
  }
};

rpc_client::rpc_client(const std::string& target)
  : impl_(std::make_unique<impl>()) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(max_message_bytes);
  args.SetMaxSendMessageSize(max_message_bytes);
  impl_->target = target;
  impl_->channel = grpc::CreateCustomChannel(
    target, grpc::InsecureChannelCredentials(), args);
  impl_->stub = chapter3::RpcService::NewStub(impl_->channel);
}

rpc_client::~rpc_client() {
  // TryCancel may run a callback on this thread, so it is called without
  // holding the lock; the calls it touches stay alive until the end.
  std::vector<call*> pending;
  {
    std::lock_guard<std::mutex> guard{impl_->mtx};
    impl_->cancelling = true;
    pending.reserve(impl_->count);
    for (auto* c = impl_->head; c != nullptr; c = c->next)
      pending.push_back(c);
  }
  for (auto* c : pending)
    c->ctx.TryCancel();
  std::unique_lock<std::mutex> lock{impl_->mtx};
  impl_->idle.wait(lock, [this] { return impl_->count == 0; });
  while (impl_->finished != nullptr)
    delete std::exchange(impl_->finished, impl_->finished->next);
}

void rpc_client::resolve_batch(std::vector<std::string> inputs,
                               std::chrono::milliseconds deadline,
                               batch_callback cb) {
  auto* c = new batch_call;
  auto* requests = c->req.mutable_request();
  requests->Reserve(static_cast<int>(inputs.size()));
  for (auto& input : inputs)
    requests->Add()->set_input(std::move(input));
  impl_->track(*c, std::move(cb), deadline);
  auto* self = impl_.get();
  auto n = inputs.size();
  self->stub->async()->resolveBatch(
    &c->ctx, &c->req, &c->resp, [self, c, n](grpc::Status status) {
      if (!status.ok())
        return self->complete(c, failure(status));
      rpc_result result;
      result.lengths.reserve(c->resp.response_size());
      for (const auto& r : c->resp.response())
        result.lengths.push_back(r.output());
      check_batch_size(result, n);
      self->complete(c, std::move(result));
    });
}

void rpc_client::resolve(std::string input, std::chrono::milliseconds deadline,
                         batch_callback cb) {
  auto* c = new single_call;
  c->req.set_input(std::move(input));
  impl_->track(*c, std::move(cb), deadline);
  auto* self = impl_.get();
  self->stub->async()->resolve(
    &c->ctx, &c->req, &c->resp, [self, c](grpc::Status status) {
      if (!status.ok())
        return self->complete(c, failure(status));
      rpc_result result;
      result.lengths.push_back(c->resp.output());
      self->complete(c, std::move(result));
    });
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
