// The resolver server and the async client against each other in-process,
// on ephemeral ports; a fake server for the answers a real one never gives.
#include "services/tools/resolver_service.hpp"
#include "services/adapters/rpc_client.hpp"
#include "tests/support/process.hpp"

#include "service.grpc.pb.h"

#include <grpcpp/grpcpp.h>

#include <doctest/doctest.h>

#include <condition_variable>
#include <csignal>
#include <functional>
#include <future>
#include <mutex>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using rpcbatch::resolver_options;
using rpcbatch::resolver_server;
using rpcbatch::rpc_client;
using rpcbatch::rpc_result;

namespace {

using namespace rpcbatch::rpc_code;

resolver_options ephemeral(resolver_options opts = {}) {
  opts.listen = "127.0.0.1:0";
  return opts;
}

std::string started(resolver_server& server) {
  server.start();
  return server.address();
}

/// A resolver on an ephemeral port and a client connected to it.
struct fixture {
  explicit fixture(resolver_options opts = {})
    : server(ephemeral(std::move(opts))), client(started(server)) {
    // nop
  }

  resolver_server server;
  rpc_client client;
};

/// Starts a call with a callback and waits for its result.
rpc_result await(const std::function<void(rpc_client::batch_callback)>& start) {
  auto done = std::make_shared<std::promise<rpc_result>>();
  auto answer = done->get_future();
  start([done](rpc_result r) { done->set_value(std::move(r)); });
  return answer.get();
}

rpc_result resolve(rpc_client& c, std::string word,
                   std::chrono::milliseconds deadline = 10s) {
  return await([&](rpc_client::batch_callback cb) {
    c.resolve(std::move(word), deadline, std::move(cb));
  });
}

rpc_result resolve_batch(rpc_client& c, std::vector<std::string> words,
                         std::chrono::milliseconds deadline = 10s) {
  return await([&](rpc_client::batch_callback cb) {
    c.resolve_batch(std::move(words), deadline, "", std::move(cb));
  });
}

/// Collects the results of many calls in flight at once.
class collector {
public:
  rpc_client::batch_callback slot(std::size_t i) {
    std::lock_guard<std::mutex> guard{mtx_};
    results_.resize(std::max(results_.size(), i + 1));
    ++expected_;
    return [this, i](rpc_result r) {
      std::lock_guard<std::mutex> guard{mtx_};
      results_[i] = std::move(r);
      if (++received_ == expected_)
        cv_.notify_all();
    };
  }

  const std::vector<rpc_result>& wait() {
    std::unique_lock<std::mutex> lock{mtx_};
    cv_.wait(lock, [this] { return received_ == expected_; });
    return results_;
  }

private:
  std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<rpc_result> results_;
  std::size_t expected_ = 0;
  std::size_t received_ = 0;
};

/// Polls `pred` (state owned by gRPC threads) until it holds or 10 s pass.
bool eventually(const std::function<bool()>& pred) {
  auto give_up = std::chrono::steady_clock::now() + 10s;
  while (!pred()) {
    if (std::chrono::steady_clock::now() > give_up)
      return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

/// An address where nothing listens: a server's port after it stopped.
std::string closed_address() {
  resolver_server server{ephemeral()};
  auto address = started(server);
  server.stop();
  return address;
}

/// Answers resolveBatch with one length fewer than asked.
class short_service final : public chapter3::RpcService::CallbackService {
  grpc::ServerUnaryReactor*
  resolveBatch(grpc::CallbackServerContext* ctx,
               const chapter3::RequestList* req,
               chapter3::ResponseList* resp) override {
    for (int i = 1; i < req->request_size(); ++i)
      resp->add_response()->set_output(1);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

/// Answers resolveBatch with one length per input and records the batch id
/// of every call ("(none)" without one).
class id_service final : public chapter3::RpcService::CallbackService {
public:
  std::vector<std::string> ids() {
    std::lock_guard<std::mutex> guard{mtx_};
    return ids_;
  }

private:
  grpc::ServerUnaryReactor*
  resolveBatch(grpc::CallbackServerContext* ctx,
               const chapter3::RequestList* req,
               chapter3::ResponseList* resp) override {
    auto& meta = ctx->client_metadata();
    auto i = meta.find(rpcbatch::batch_id_key);
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ids_.push_back(i == meta.end()
                       ? std::string{"(none)"}
                       : std::string{i->second.data(), i->second.size()});
    }
    for (int k = 0; k < req->request_size(); ++k)
      resp->add_response()->set_output(1);
    auto* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

  std::mutex mtx_;
  std::vector<std::string> ids_;
};

} // namespace

TEST_SUITE("resolver") {

TEST_CASE("resolver: code_points counts code points like Python's len()") {
  CHECK(rpcbatch::code_points("") == 0);
  CHECK(rpcbatch::code_points("Hello") == 5);
  CHECK(rpcbatch::code_points("h\xc3\xa9llo") == 5); // héllo
  CHECK(rpcbatch::code_points("\xe6\x97\xa5\xe6\x9c\xac") == 2); // 日本
  CHECK(rpcbatch::code_points("\xf0\x9f\x98\x80") == 1); // an emoji
}

TEST_CASE("resolver: resolve answers the length in code points") {
  fixture f;
  auto r = resolve(f.client, "Hello");
  REQUIRE(r.ok());
  CHECK(r.lengths == std::vector<int32_t>{5});
  CHECK(resolve(f.client, "").lengths == std::vector<int32_t>{0});
  CHECK(resolve(f.client, "h\xc3\xa9llo").lengths == std::vector<int32_t>{5});
  CHECK(resolve(f.client, "\xe6\x97\xa5\xe6\x9c\xac").lengths
        == std::vector<int32_t>{2});
}

TEST_CASE("resolver: resolveBatch answers each input in request order") {
  fixture f;
  auto r = resolve_batch(f.client, {"Beautiful", "is", "better", "than",
                                    "ugly"});
  REQUIRE(r.ok());
  CHECK(r.lengths == std::vector<int32_t>{9, 2, 6, 4, 4});
  auto empty = resolve_batch(f.client, {});
  CHECK(empty.ok());
  CHECK(empty.lengths.empty());
  auto mixed = resolve_batch(f.client, {"", "h\xc3\xa9llo", "don't"});
  CHECK(mixed.lengths == std::vector<int32_t>{0, 5, 5});
}

TEST_CASE("resolver: resolveBatch takes 10,000 inputs and over 4 MiB") {
  fixture f;
  std::vector<std::string> words;
  std::vector<int32_t> expected;
  for (int i = 0; i < 10000; ++i) {
    auto word = std::string(static_cast<std::size_t>(i % 37), 'x');
    if (i % 3 == 0)
      word += "\xc3\xa9"; // é: two bytes, one code point
    expected.push_back(i % 37 + (i % 3 == 0 ? 1 : 0));
    words.push_back(std::move(word));
  }
  auto r = resolve_batch(f.client, words);
  REQUIRE(r.ok());
  REQUIRE(r.lengths.size() == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i)
    CHECK_MESSAGE(r.lengths[i] == expected[i], "input ", i);
  // gRPC's default limit is 4 MiB; both sides raise it.
  std::vector<std::string> big(100000, std::string(50, 'y'));
  auto large = resolve_batch(f.client, big);
  REQUIRE_MESSAGE(large.ok(), large.error);
  CHECK(large.lengths == std::vector<int32_t>(100000, 50));
  CHECK(f.server.counts().inputs == 110000);
}

TEST_CASE("resolver: fail-rate 1 answers every call with UNAVAILABLE") {
  resolver_options opts;
  opts.fail_rate = 1.0;
  fixture f{opts};
  auto r = resolve(f.client, "Hello");
  CHECK(r.code == unavailable);
  CHECK(rpcbatch::rpc_retryable(r.code));
  CHECK(r.lengths.empty());
  auto b = resolve_batch(f.client, {"a", "b"});
  CHECK(b.code == unavailable);
  CHECK(b.error.find("injected") != std::string::npos);
  auto n = f.server.counts();
  CHECK(n.failed_calls == 2);
  CHECK(n.inputs == 0);
}

TEST_CASE("resolver: reject-word answers INVALID_ARGUMENT for calls that "
          "ask for it") {
  resolver_options opts;
  opts.reject_word = "bad";
  fixture f{opts};
  auto r = resolve_batch(f.client, {"good", "bad", "worse"});
  CHECK(r.code == invalid_argument);
  CHECK(r.error == "word 'bad' rejected (--reject-word)");
  CHECK(r.lengths.empty());
  CHECK(resolve(f.client, "bad").code == invalid_argument);
  // A word that merely contains it, and calls without it, are answered.
  auto fine = resolve_batch(f.client, {"badge", "good"});
  REQUIRE(fine.ok());
  CHECK(fine.lengths == std::vector<int32_t>{5, 4});
  auto n = f.server.counts();
  CHECK(n.rejected_calls == 2);
  CHECK(n.failed_calls == 0);
  CHECK(n.batch_calls == 2);
  CHECK(n.inputs == 2);
}

TEST_CASE("resolver: fail-rate 0.3 gives a mix of answers and failures") {
  resolver_options opts;
  opts.fail_rate = 0.3;
  fixture f{opts};
  collector results;
  for (std::size_t i = 0; i < 200; ++i)
    f.client.resolve_batch({"abc"}, 10s, "", results.slot(i));
  std::size_t failed = 0;
  for (auto& r : results.wait()) {
    if (r.ok()) {
      CHECK(r.lengths == std::vector<int32_t>{3});
    } else {
      CHECK(r.code == unavailable);
      ++failed;
    }
  }
  CHECK(failed > 20);
  CHECK(failed < 120);
  auto n = f.server.counts();
  CHECK(n.failed_calls == failed);
  CHECK(n.inputs == 200 - failed);
}

TEST_CASE("resolver: latency injection delays answers without losing any") {
  resolver_options opts;
  opts.latency_ms = 30;
  fixture f{opts};
  CHECK(resolve(f.client, "Hello").lengths == std::vector<int32_t>{5});
  auto r = resolve_batch(f.client, {"a", "bb"});
  CHECK(r.lengths == std::vector<int32_t>{1, 2});
  auto n = f.server.counts();
  CHECK(n.resolve_calls == 1);
  CHECK(n.batch_calls == 1);
  CHECK(n.inputs == 3);
}

TEST_CASE("resolver: 200 delayed calls in flight are all answered") {
  resolver_options opts;
  opts.latency_ms = 20;
  fixture f{opts};
  collector results;
  for (std::size_t i = 0; i < 200; ++i)
    f.client.resolve_batch({std::string(i % 13, 'z'), "ab"}, 30s, "",
                           results.slot(i));
  auto& all = results.wait();
  for (std::size_t i = 0; i < all.size(); ++i) {
    REQUIRE_MESSAGE(all[i].ok(), all[i].error);
    CHECK(all[i].lengths
          == std::vector<int32_t>{static_cast<int32_t>(i % 13), 2});
  }
  CHECK(f.server.counts().batch_calls == 200);
  CHECK(f.server.counts().inputs == 400);
}

TEST_CASE("resolver: counts match the calls made") {
  fixture f;
  resolve(f.client, "one");
  resolve(f.client, "two");
  resolve_batch(f.client, {"a", "b", "c"});
  resolve_batch(f.client, {});
  auto n = f.server.counts();
  CHECK(n.resolve_calls == 2);
  CHECK(n.batch_calls == 2);
  CHECK(n.inputs == 5);
  CHECK(n.failed_calls == 0);
  f.server.stop();
  f.server.stop(); // idempotent
  CHECK(f.server.counts().inputs == 5);
}

TEST_CASE("resolver: stop answers the calls still waiting for their delay") {
  resolver_options opts;
  opts.latency_ms = 600000;
  fixture f{opts};
  collector results;
  for (std::size_t i = 0; i < 3; ++i)
    f.client.resolve_batch({"abcd"}, 600s, "", results.slot(i));
  REQUIRE(eventually([&] { return f.server.counts().batch_calls == 3; }));
  f.server.stop();
  for (auto& r : results.wait())
    CHECK(r.lengths == std::vector<int32_t>{4});
}

TEST_CASE("resolver: a second server on a bound address fails to start") {
  resolver_server first{ephemeral()};
  auto address = started(first);
  resolver_options opts;
  opts.listen = address;
  resolver_server second{opts};
  CHECK_THROWS_AS(second.start(), std::runtime_error);
  CHECK_THROWS_AS(first.start(), std::runtime_error); // already started
}

/// Serves `svc` on a free loopback port (stored in `port`).
std::unique_ptr<grpc::Server> serve_on_loopback(grpc::Service& svc,
                                                int& port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&svc);
  auto server = builder.BuildAndStart();
  REQUIRE(server);
  return server;
}

TEST_CASE("rpc_client: a batch answer of the wrong size is handed over as "
          "it came") {
  short_service svc;
  int port = 0;
  auto server = serve_on_loopback(svc, port);
  {
    rpc_client client{"127.0.0.1:" + std::to_string(port)};
    auto r = resolve_batch(client, {"a", "b", "c"});
    // The rpc-caller judges the answer (a permanent failure); other callers
    // check its size first.
    CHECK(r.ok());
    CHECK(r.lengths == std::vector<int32_t>{1, 1});
    rpcbatch::check_batch_size(r, 3);
    CHECK(r.code == internal);
    CHECK(r.lengths.empty());
    CHECK(r.error == "resolveBatch answered 2 lengths for 3 inputs");
  }
  server->Shutdown();
}

TEST_CASE("rpc_client: the batch id goes as x-rpcbatch-batch-id metadata") {
  id_service svc;
  int port = 0;
  auto server = serve_on_loopback(svc, port);
  {
    rpc_client client{"127.0.0.1:" + std::to_string(port)};
    for (std::string id : {"00c0ffee00c0ffee-1", "", "00c0ffee00c0ffee-2"})
      await([&](rpc_client::batch_callback cb) {
        client.resolve_batch({"a"}, 10s, id, std::move(cb));
      });
  }
  server->Shutdown();
  CHECK(svc.ids() == std::vector<std::string>{"00c0ffee00c0ffee-1", "(none)",
                                              "00c0ffee00c0ffee-2"});
}

TEST_CASE("rpc_client: check_batch_size keeps matches and errors as they are") {
  rpc_result r;
  r.lengths = {1, 2};
  rpcbatch::check_batch_size(r, 2);
  CHECK(r.ok());
  rpcbatch::check_batch_size(r, 3);
  CHECK(r.code == internal);
  rpc_result failed;
  failed.code = unavailable;
  failed.error = "down";
  rpcbatch::check_batch_size(failed, 3);
  CHECK(failed.code == unavailable);
  CHECK(failed.error == "down");
}

TEST_CASE("rpc_client: a closed port fails within the deadline") {
  rpc_client client{closed_address()};
  auto r = resolve_batch(client, {"a"}, 2s);
  CHECK((r.code == unavailable || r.code == deadline_exceeded));
  CHECK(rpcbatch::rpc_retryable(r.code));
  CHECK_FALSE(r.error.empty());
  CHECK(resolve(client, "a", 2s).code != ok);
  CHECK_FALSE(client.wait_connected(200ms));
}

TEST_CASE("rpc_client: wait_connected is true once the server is up") {
  fixture f;
  CHECK(f.client.wait_connected(10s));
}

TEST_CASE("rpc_client: the destructor cancels calls and runs each callback") {
  resolver_options opts;
  opts.latency_ms = 600000;
  resolver_server server{ephemeral(opts)};
  auto address = started(server);
  collector results;
  {
    rpc_client client{address};
    for (std::size_t i = 0; i < 5; ++i)
      client.resolve_batch({"a"}, 600s, "", results.slot(i));
    CHECK(client.in_flight() == 5);
    REQUIRE(eventually([&] { return server.counts().batch_calls == 5; }));
  }
  for (auto& r : results.wait())
    CHECK(r.code == cancelled);
}

TEST_CASE("rpc_client: status code names") {
  CHECK(std::string(rpcbatch::rpc_code_name(0)) == "OK");
  CHECK(std::string(rpcbatch::rpc_code_name(14)) == "UNAVAILABLE");
  CHECK(std::string(rpcbatch::rpc_code_name(4)) == "DEADLINE_EXCEEDED");
  CHECK(std::string(rpcbatch::rpc_code_name(99)) == "UNKNOWN_CODE");
  CHECK(rpcbatch::rpc_retryable(8));
  CHECK_FALSE(rpcbatch::rpc_retryable(3));
}

TEST_CASE("rpcbatch-resolver exits 1 when it cannot bind, 2 on bad values") {
  resolver_server busy{ephemeral()};
  auto address = started(busy);
  std::string bin = RPCBATCH_BIN_DIR "/rpcbatch-resolver";
  auto in_use = rpcbatch::test::run_process({bin, "--listen=" + address});
  CHECK(in_use.exit_code == 1);
  CHECK(in_use.err.find("cannot listen on " + address) != std::string::npos);
  CHECK(rpcbatch::test::run_process({bin, "--fail-rate=2"}).exit_code == 2);
  CHECK(rpcbatch::test::run_process({bin, "--listen=nohost"}).exit_code == 2);
  CHECK(rpcbatch::test::run_process({bin, "--latency-ms=x"}).exit_code == 2);
}

TEST_CASE("rpcbatch-resolver --verbose logs batch ids, --reject-word refuses "
          "a word") {
  rpcbatch::test::child_process resolver{
    {RPCBATCH_BIN_DIR "/rpcbatch-resolver", "--listen=127.0.0.1:0",
     "--verbose", "--reject-word=bad"}};
  const std::string listening = "listening on ";
  REQUIRE(eventually([&] {
    auto out = resolver.out();
    return out.find(listening) != std::string::npos
           && out.find('\n', out.find(listening)) != std::string::npos;
  }));
  auto out = resolver.out();
  auto from = out.find(listening) + listening.size();
  auto address = out.substr(from, out.find('\n', from) - from);
  {
    rpc_client client{address};
    auto ok = await([&](rpc_client::batch_callback cb) {
      client.resolve_batch({"good"}, 10s, "feed-1", std::move(cb));
    });
    CHECK(ok.ok());
    auto refused = await([&](rpc_client::batch_callback cb) {
      client.resolve_batch({"good", "bad"}, 10s, "feed-2", std::move(cb));
    });
    CHECK(refused.code == invalid_argument);
  }
  REQUIRE(resolver.signal(SIGTERM));
  REQUIRE(resolver.wait(10s) == 0);
  REQUIRE(resolver.wait_output_closed(10s));
  CHECK(resolver.err().find("resolveBatch [feed-1]: 1 inputs\n")
        != std::string::npos);
  CHECK(resolver.err().find("resolveBatch [feed-2]: 2 inputs -> "
                            "INVALID_ARGUMENT\n")
        != std::string::npos);
  CHECK(resolver.out().find(" failed_calls=0 rejected_calls=1\n")
        != std::string::npos);
}

} // TEST_SUITE
