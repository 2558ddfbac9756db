#include "actors/pipeline/batcher.hpp"

#include <algorithm>
#include <string_view>
#include <type_traits>
#include <unordered_map>

#include "actors/observe/reporting.hpp"

namespace rpcbatch {

static_assert(std::is_same_v<caf::actor_clock::time_point,
                             word_cache::clock::time_point>,
              "the cache runs on the actors' clock");

rpc_job make_rpc_job(std::vector<element> bag, uint32_t bucket,
                     flush_trigger trigger) {
  rpc_job job;
  job.bucket = bucket;
  job.trigger = static_cast<uint8_t>(trigger);
  job.word_index.reserve(bag.size());
  job.words.reserve(bag.size());
  // Small bags (the usual batch sizes) look their words up in the list
  // itself: no allocation per element; larger ones index them.
  constexpr std::size_t small = 32;
  std::unordered_map<std::string_view, uint32_t> seen;
  if (bag.size() > small)
    seen.reserve(bag.size());
  for (auto& e : bag) {
    auto index = static_cast<uint32_t>(job.words.size());
    if (bag.size() <= small) {
      auto i = std::find(job.words.begin(), job.words.end(), e.word);
      if (i != job.words.end())
        index = static_cast<uint32_t>(i - job.words.begin());
    } else {
      index = seen.emplace(e.word, index).first->second;
    }
    if (index == job.words.size())
      job.words.push_back(e.word);
    job.word_index.push_back(index);
  }
  job.elements = std::move(bag);
  return job;
}

void batcher_state::add_to_bag(element& e) {
  if (bag.empty()) {
    // First element into an empty bag: arm the processing-time timer.
    ++generation;
    timer_armed = true;
    deadline = self->clock().now() + cfg.max_wait;
    arm_timer(cfg.max_wait);
  }
  // With the cache on, the counter and the byte bound count distinct words.
  if (!cache || bag_words.insert(e.word).second) {
    ++counter;
    bag_bytes += e.word.size();
  }
  bag.push_back(std::move(e));
  // With the cache on, repeats of the bag's words hold credit while the bag
  // waits for new words: at ten times the batch size it goes anyway.
  if (counter >= cfg.batch_size || bag.size() >= cfg.batch_size * 10)
    flush(flush_trigger::count);
  else if (cfg.max_batch_bytes > 0 && bag_bytes >= cfg.max_batch_bytes)
    flush(flush_trigger::bytes);
}

void batcher_state::arm_timer(caf::timespan delay) {
  // One timer message at a time. Deadlines only move on, so the message on
  // its way is never due after the bag's deadline: when it comes, it flushes
  // or waits again for the rest. A message per bag (CAF 0.17's timers cannot
  // be cancelled) woke CAF's clock thread for every bag and came back stale
  // for nearly every one: two thread hand-overs per call at batch 10.
  if (timer_pending)
    return;
  timer_pending = true;
  self->delayed_send(self, delay, flush_atom::value, generation);
}

void batcher_state::timer_fired() {
  timer_pending = false;
  if (!timer_armed) {
    ++counters.stale_timers;
    return;
  }
  auto now = self->clock().now();
  if (now >= deadline) {
    flush(flush_trigger::timer);
    return;
  }
  arm_timer(deadline - now);
}

void batcher_state::take(std::vector<element>& elements) {
  if (!cache) {
    for (auto& e : elements)
      add_to_bag(e);
    return;
  }
  auto now = self->clock().now();
  resolved_batch hits;
  for (auto& e : elements) {
    if (auto length = cache->find(e.word, now)) {
      hits.lengths.push_back(*length);
      hits.elements.push_back(std::move(e));
    } else if (auto i = in_flight.find(e.word); i != in_flight.end()) {
      ++counters.coalesced;
      i->second.push_back(std::move(e));
    } else {
      add_to_bag(e);
    }
  }
  if (!hits.elements.empty()) {
    counters.answered_from_cache += hits.elements.size();
    self->send(sink, std::move(hits));
  }
}

void batcher_state::flush(flush_trigger trigger) {
  // The timer on its way finds no deadline, or the next bag's.
  timer_armed = false;
  if (bag.empty())
    return;
  ++counters.flushes[trigger];
  counters.elements_flushed += bag.size();
  events.add(event_kind::flush, std::string{"trigger "} + to_string(trigger) + ", size "
                        + std::to_string(bag.size()));
  counter = 0;
  bag_bytes = 0;
  std::vector<element> out;
  out.swap(bag);
  bag.reserve(cfg.batch_size);
  auto job = make_rpc_job(std::move(out), cfg.bucket, trigger);
  if (!cache) {
    self->send(rpc, std::move(job));
    return;
  }
  bag_words.clear();
  for (auto& w : job.words)
    in_flight.emplace(w, std::vector<element>{});
  self->send(rpc, std::move(job), caf::actor_cast<batcher_actor>(self));
}

void batcher_state::answered(word_answers& answers) {
  if (!cache)
    return;
  auto ok = !answers.failed && answers.lengths.size() == answers.words.size();
  auto now = self->clock().now();
  resolved_batch out;
  for (std::size_t k = 0; k < answers.words.size(); ++k) {
    auto& word = answers.words[k];
    auto i = in_flight.find(word);
    std::vector<element> waited;
    if (i != in_flight.end()) {
      waited = std::move(i->second);
      in_flight.erase(i);
    }
    if (!ok) {
      // Asked again, in a batch of their own choosing.
      for (auto& e : waited)
        add_to_bag(e);
      continue;
    }
    cache->put(word, answers.lengths[k], now);
    for (auto& e : waited) {
      out.lengths.push_back(answers.lengths[k]);
      out.elements.push_back(std::move(e));
    }
  }
  if (!out.elements.empty())
    self->send(sink, std::move(out));
}

uint64_t batcher_state::cancel(const std::vector<partition_epoch>& revoked) {
  auto gone = [&](const element& e) {
    return cancelled(revoked, e.partition, e.epoch);
  };
  auto drop = [&](std::vector<element>& xs) {
    auto first = std::remove_if(xs.begin(), xs.end(), gone);
    auto n = static_cast<uint64_t>(xs.end() - first);
    xs.erase(first, xs.end());
    return n;
  };
  // Words waiting for a call in flight (the cache on) wait no longer.
  uint64_t waiting = 0;
  for (auto& [word, elements] : in_flight)
    waiting += drop(elements);
  auto n = drop(bag);
  counters.cancelled += n + waiting;
  if (n > 0) {
    // The counter and the byte bound count what is left.
    bag_words.clear();
    counter = 0;
    bag_bytes = 0;
    for (auto& e : bag)
      if (!cache || bag_words.insert(e.word).second) {
        ++counter;
        bag_bytes += e.word.size();
      }
  }
  return n + waiting;
}

actor_status batcher_state::status() const {
  auto out = counters;
  out.bucket = cfg.bucket;
  out.bag_size = bag.size();
  out.counter = counter;
  out.bag_bytes = bag_bytes;
  out.generation = generation;
  out.timer_armed = timer_armed;
  if (timer_armed)
    out.ms_to_flush = std::max<int64_t>(
      0, std::chrono::duration_cast<std::chrono::milliseconds>(
           deadline - self->clock().now())
           .count());
  if (cache) {
    out.cache_capacity = cache->capacity();
    out.cache_entries = cache->size();
    out.cache_hits = cache->hits;
    out.cache_misses = cache->misses;
    out.cache_evictions = cache->evictions;
    out.cache_expirations = cache->expirations;
    out.words_in_flight = in_flight.size();
  }
  return status_of(self, std::move(out), events);
}

batcher_actor::behavior_type
batcher(batcher_actor::stateful_pointer<batcher_state> self,
        batcher_config cfg, rpc_caller_actor rpc, sink_actor sink) {
  auto& st = self->state;
  st.self = self;
  st.cfg = cfg;
  st.rpc = std::move(rpc);
  st.sink = std::move(sink);
  st.bag.reserve(cfg.batch_size);
  if (cfg.cache_entries > 0)
    st.cache.emplace(cfg.cache_entries, cfg.cache_ttl);
  return {
    [=](word_batch& batch) { self->state.take(batch.elements); },
    [=](flush_atom, uint64_t) { self->state.timer_fired(); },
    [=](end_of_window_atom) -> uint64_t {
      auto& st = self->state;
      auto n = st.bag.size();
      st.flush(flush_trigger::end_of_window);
      return n;
    },
    [=](cancel_atom, std::vector<partition_epoch>& revoked)
      -> caf::result<uint64_t> {
      auto n = self->state.cancel(revoked);
      // The rpc-caller gets this after every job this batcher sent it.
      auto rp = self->make_response_promise<uint64_t>();
      self->request(self->state.rpc, caf::infinite, cancel_atom::value,
                    std::move(revoked))
        .then([rp, n](uint64_t m) mutable { rp.deliver(n + m); },
              [rp, n](caf::error&) mutable { rp.deliver(n); });
      return rp;
    },
    [=](word_answers& answers) { self->state.answered(answers); },
    [=](status_atom) { return self->state.status(); },
  };
}

} // namespace rpcbatch
