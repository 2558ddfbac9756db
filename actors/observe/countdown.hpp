// Fan-out and tally: a request goes to each of N actors, and something runs
// once every one has answered or failed. Each answer handler folds its
// answer into state of its own and calls settle(); the last call runs
// `done`. With N = 0, `done` runs at once.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <utility>

namespace rpcbatch {

class countdown {
public:
  /// A countdown from `n` (shared by the answer handlers).
  static std::shared_ptr<countdown> start(std::size_t n,
                                          std::function<void()> done) {
    auto c = std::shared_ptr<countdown>(new countdown(n, std::move(done)));
    if (n == 0)
      c->finish();
    return c;
  }

  /// One answer or failure came in.
  void settle() {
    if (pending_ > 0 && --pending_ == 0)
      finish();
  }

private:
  countdown(std::size_t n, std::function<void()> done)
    : pending_(n), done_(std::move(done)) {
    // nop
  }

  void finish() {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done)
      done();
  }

  std::size_t pending_;
  std::function<void()> done_;
};

} // namespace rpcbatch
