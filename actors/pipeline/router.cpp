#include "actors/pipeline/router.hpp"

#include <algorithm>
#include <memory>

#include "actors/observe/countdown.hpp"
#include "actors/observe/reporting.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

using self_ptr = router_actor::stateful_pointer<router_state>;

bool moving(const router_state::bucket& b) {
  return b.next != nullptr;
}

/// Sends words to a batcher, keeping a copy when the router keeps them.
void deliver(self_ptr self, const batcher_actor& to, word_batch batch) {
  auto& st = self->state;
  if (st.keep_sent) {
    auto& by_partition = st.sent[to.node()];
    for (auto& e : batch.elements)
      by_partition[e.partition].push_back(e);
    st.kept += batch.elements.size();
  }
  self->send(to, std::move(batch));
}

/// Sends each element to its bucket's owner, or holds it; answers the
/// buckets that got words.
std::vector<bool> route(self_ptr self, std::vector<element>& elements) {
  auto& st = self->state;
  auto n = static_cast<uint32_t>(st.buckets.size());
  // Buckets first, so that every part is allocated once at its size.
  std::vector<uint32_t> bucket(elements.size());
  std::vector<uint32_t> sizes(n);
  for (std::size_t i = 0; i < elements.size(); ++i)
    ++sizes[bucket[i] = bucket_of(elements[i].word, n)];
  std::vector<word_batch> parts(n);
  for (uint32_t k = 0; k < n; ++k)
    parts[k].elements.reserve(sizes[k]);
  for (std::size_t i = 0; i < elements.size(); ++i)
    parts[bucket[i]].elements.push_back(std::move(elements[i]));
  std::vector<bool> got(n);
  for (uint32_t k = 0; k < n; ++k) {
    auto& part = parts[k].elements;
    if (part.empty())
      continue;
    got[k] = true;
    auto& b = st.buckets[k];
    b.routed += part.size();
    if (b.owner == nullptr || moving(b))
      b.held.insert(b.held.end(), std::make_move_iterator(part.begin()),
                    std::make_move_iterator(part.end()));
    else
      deliver(self, b.owner, std::move(parts[k]));
  }
  return got;
}

/// Gives the bucket its owner and sends the words it held.
void give_owner(self_ptr self, router_state::bucket& b, batcher_actor owner) {
  b.owner = std::move(owner);
  b.next = batcher_actor{};
  ++b.generation;
  if (b.owner != nullptr && !b.held.empty()) {
    word_batch held;
    held.elements.swap(b.held);
    deliver(self, b.owner, std::move(held));
  }
}

/// Words that were on a lost node go to their buckets' owners now, and are
/// flushed at once: they have waited long enough. `kept` is how many were
/// kept for the node.
void route_again(self_ptr self, std::vector<element>& again, size_t kept) {
  auto& st = self->state;
  log::info("router", "sending ", again.size(), " word(s) again: of the ",
            kept, " kept for the lost batcher node, the others are confirmed");
  st.counters.resent += again.size();
  st.events.add(event_kind::resend, std::to_string(again.size())
                            + " unconfirmed word(s) of a lost batcher node "
                              "sent to new owners");
  auto got = route(self, again);
  for (std::size_t k = 0; k < got.size(); ++k) {
    auto& b = st.buckets[k];
    if (got[k] && b.owner != nullptr && !moving(b))
      self->request(b.owner, std::chrono::seconds(30), end_of_window_atom::value)
        .then([](uint64_t) {}, [](caf::error&) {});
  }
}

/// The words kept for the lost node whose output is not confirmed go
/// again (the source knows which).
void send_again(self_ptr self, const caf::node_id& lost) {
  auto& st = self->state;
  auto i = st.sent.find(lost);
  if (i == st.sent.end())
    return;
  word_batch again;
  for (auto& [partition, words] : i->second)
    again.elements.insert(again.elements.end(),
                          std::make_move_iterator(words.begin()),
                          std::make_move_iterator(words.end()));
  st.sent.erase(i);
  auto kept = again.elements.size();
  st.kept -= kept;
  if (st.source == nullptr) {
    route_again(self, again.elements, kept);
    return;
  }
  self->request(st.source, caf::infinite, lost_atom::value, std::move(again))
    .then([=](word_batch& left) { route_again(self, left.elements, kept); },
          [=](caf::error& err) {
            log::error("router", "cannot ask the source which words to send "
                       "again: ", self->system().render(err));
          });
}

/// Drops kept words of records that are done (or will be read again).
void forget_done(router_state& st, const std::vector<partition_progress>& done) {
  for (auto& [node, by_partition] : st.sent)
    for (auto& d : done) {
      auto i = by_partition.find(d.partition);
      if (i == by_partition.end())
        continue;
      auto& words = i->second;
      auto left = std::remove_if(words.begin(), words.end(),
                                 [&](const element& e) {
                                   return d.done(e.epoch, e.offset);
                                 });
      st.kept -= static_cast<uint64_t>(std::distance(left, words.end()));
      words.erase(left, words.end());
    }
}

/// The owners of the buckets, each once, with the owner a moving bucket
/// goes to.
std::vector<batcher_actor> owners_of(const router_state& st) {
  std::vector<batcher_actor> out;
  auto add = [&](const batcher_actor& b) {
    if (b != nullptr && std::find(out.begin(), out.end(), b) == out.end())
      out.push_back(b);
  };
  for (auto& b : st.buckets) {
    add(b.owner);
    add(b.next);
  }
  return out;
}

/// Asks every one of `owners` the same question (at most `timeout` each)
/// and delivers the sum of their answers (and `base`) to `rp` once all
/// answered or failed.
template <class Timeout, class... Ts>
void ask_and_sum(self_ptr self, const std::vector<batcher_actor>& owners,
                 caf::response_promise rp, Timeout timeout, uint64_t base,
                 Ts... xs) {
  auto sum = std::make_shared<uint64_t>(base);
  auto left = countdown::start(owners.size(), [sum, rp]() mutable {
    rp.deliver(*sum);
  });
  for (auto& owner : owners)
    self->request(owner, timeout, xs...)
      .then(
        [sum, left](uint64_t n) {
          *sum += n;
          left->settle();
        },
        [left](caf::error&) { left->settle(); });
}

/// Flushes every owned bucket; `rp` gets the number of elements flushed.
void end_window(self_ptr self, caf::response_promise rp) {
  std::vector<batcher_actor> owners;
  for (auto& b : self->state.buckets)
    if (b.owner != nullptr)
      owners.push_back(b.owner);
  ask_and_sum(self, owners, std::move(rp), caf::infinite, 0,
              end_of_window_atom::value);
}

/// Drops the held words of revoked partitions' epochs and has every owner
/// drop its own; `rp` gets how many were dropped. An owner on a node that
/// does not answer in time counts none (the revoke's bound covers it).
void cancel(self_ptr self, const std::vector<partition_epoch>& revoked,
            caf::response_promise rp) {
  auto& st = self->state;
  uint64_t dropped = 0;
  for (auto& b : st.buckets) {
    auto first = std::remove_if(b.held.begin(), b.held.end(),
                                [&](const element& e) {
                                  return cancelled(revoked, e.partition,
                                                   e.epoch);
                                });
    dropped += static_cast<uint64_t>(b.held.end() - first);
    b.held.erase(first, b.held.end());
  }
  st.counters.cancelled += dropped;
  ask_and_sum(self, owners_of(st), std::move(rp), std::chrono::seconds(5),
              dropped, cancel_atom::value, revoked);
}

/// Answers the end-of-window requests that waited for handovers.
void release_waiting(self_ptr self) {
  auto& st = self->state;
  if (std::any_of(st.buckets.begin(), st.buckets.end(), moving))
    return;
  auto waiting = std::move(st.waiting);
  st.waiting.clear();
  for (auto& rp : waiting)
    end_window(self, std::move(rp));
}

/// New owners of every bucket, at once (buckets' words held for a moving
/// bucket go to its new owner); false if the list does not fit.
bool reassign(self_ptr self, std::vector<batcher_actor>& owners) {
  auto& st = self->state;
  if (owners.size() != st.buckets.size())
    return false;
  for (std::size_t k = 0; k < owners.size(); ++k)
    give_owner(self, st.buckets[k], std::move(owners[k]));
  return true;
}

/// New owners of every bucket, handed over: a bucket that moves to another
/// owner waits until its old owner flushed its bag (whose answer comes
/// after every word sent to it).
void hand_over(self_ptr self, std::vector<batcher_actor>& owners) {
  auto& st = self->state;
  if (owners.size() != st.buckets.size())
    return;
  for (std::size_t k = 0; k < owners.size(); ++k) {
    auto& b = st.buckets[k];
    if (owners[k] == (moving(b) ? b.next : b.owner))
      continue;
    if (b.owner == nullptr || owners[k] == b.owner) {
      give_owner(self, b, std::move(owners[k]));
      continue;
    }
    ++st.counters.handovers;
    b.next = std::move(owners[k]);
    auto generation = ++b.generation;
    auto done = [=] {
      auto& b = self->state.buckets[k];
      if (b.generation != generation)
        return;
      give_owner(self, b, b.next);
      release_waiting(self);
    };
    self->request(b.owner, std::chrono::seconds(30), end_of_window_atom::value)
      .then([done](uint64_t) { done(); }, [done](caf::error&) { done(); });
  }
  release_waiting(self);
}

actor_status status_of_router(self_ptr self) {
  auto& st = self->state;
  auto out = st.counters;
  out.buckets = st.buckets.size();
  for (auto& b : st.buckets) {
    out.routed_by_bucket.push_back(b.routed);
    out.held_by_bucket.push_back(b.held.size());
    out.owned_buckets += b.owner != nullptr ? 1 : 0;
  }
  out.kept_for_resend = st.kept;
  return status_of(self, std::move(out), st.events);
}

} // namespace

router_actor::behavior_type
router(router_actor::stateful_pointer<router_state> self,
       std::vector<batcher_actor> batchers, bool keep_sent) {
  self->state.keep_sent = keep_sent;
  for (auto& b : batchers)
    self->state.buckets.push_back({std::move(b), {}, {}, 0, 0});
  return {
    [=](word_batch& batch) {
      route(self, batch.elements);
      ++self->state.counters.batches;
    },
    [=](std::vector<batcher_actor>& owners) {
      if (reassign(self, owners))
        release_waiting(self);
    },
    [=](lost_atom, caf::node_id& lost, std::vector<batcher_actor>& owners) {
      if (!reassign(self, owners))
        return;
      ++self->state.counters.batcher_nodes_lost;
      send_again(self, lost);
      release_waiting(self);
    },
    [=](std::vector<partition_progress>& done) {
      forget_done(self->state, done);
    },
    [=](source_actor& source) { self->state.source = std::move(source); },
    [=](handover_atom, std::vector<batcher_actor>& owners) {
      hand_over(self, owners);
    },
    [=](end_of_window_atom) -> caf::result<uint64_t> {
      auto& st = self->state;
      ++st.counters.end_of_windows;
      auto rp = self->make_response_promise<uint64_t>();
      st.waiting.push_back(rp);
      release_waiting(self);
      return rp;
    },
    [=](cancel_atom, std::vector<partition_epoch>& revoked) {
      auto rp = self->make_response_promise<uint64_t>();
      cancel(self, revoked, rp);
      return rp;
    },
    [=](status_atom) { return status_of_router(self); },
  };
}

} // namespace rpcbatch
