#include "actors/batcher.hpp"

#include <string_view>
#include <unordered_map>


#include "actors/status.hpp"

namespace rpcbatch {

rpc_job make_rpc_job(std::vector<element> bag, uint32_t bucket,
                     flush_trigger trigger) {
  rpc_job job;
  job.bucket = bucket;
  job.trigger = static_cast<uint8_t>(trigger);
  job.word_index.reserve(bag.size());
  std::unordered_map<std::string_view, uint32_t> seen;
  seen.reserve(bag.size());
  for (auto& e : bag) {
    auto [i, added] = seen.emplace(e.word,
                                   static_cast<uint32_t>(job.words.size()));
    if (added)
      job.words.push_back(e.word);
    job.word_index.push_back(i->second);
  }
  job.elements = std::move(bag);
  return job;
}

void batcher_state::flush(flush_trigger trigger) {
  // Moving the generation on makes any scheduled timer stale (CAF 0.17
  // timers cannot be cancelled).
  ++generation;
  timer_armed = false;
  if (counter == 0)
    return;
  ++flushes[static_cast<int>(trigger)];
  elements_flushed += counter;
  counter = 0;
  bag_bytes = 0;
  std::vector<element> out;
  out.swap(bag);
  bag.reserve(cfg.batch_size);
  caf::anon_send(rpc, make_rpc_job(std::move(out), cfg.bucket, trigger));
}

batcher_actor::behavior_type
batcher(batcher_actor::stateful_pointer<batcher_state> self,
        batcher_config cfg, rpc_caller_actor rpc) {
  self->state.cfg = cfg;
  self->state.rpc = std::move(rpc);
  self->state.bag.reserve(cfg.batch_size);
  return {
    [=](word_batch& batch) {
      auto& st = self->state;
      for (auto& e : batch.elements) {
        if (st.counter == 0) {
          // First element into an empty bag: arm the processing-time timer.
          ++st.generation;
          st.timer_armed = true;
          st.deadline = self->clock().now() + st.cfg.max_wait;
          self->delayed_send(self, st.cfg.max_wait, flush_atom::value,
                             st.generation);
        }
        st.bag_bytes += e.word.size();
        st.bag.push_back(std::move(e));
        ++st.counter;
        if (st.counter >= st.cfg.batch_size)
          st.flush(flush_trigger::count);
        else if (st.cfg.max_batch_bytes > 0
                 && st.bag_bytes >= st.cfg.max_batch_bytes)
          st.flush(flush_trigger::bytes);
      }
    },
    [=](flush_atom, uint64_t generation) {
      auto& st = self->state;
      if (generation == st.generation && st.timer_armed)
        st.flush(flush_trigger::timer);
      else
        ++st.stale_timers;
    },
    [=](eow_atom) -> uint64_t {
      auto& st = self->state;
      auto n = st.counter;
      st.flush(flush_trigger::end_of_window);
      return n;
    },
    [=](status_atom) {
      auto& st = self->state;
      boost::json::object flushes;
      for (int i = 0; i < 4; ++i)
        flushes[to_string(static_cast<flush_trigger>(i))] = st.flushes[i];
      int64_t ms_to_flush = -1;
      if (st.timer_armed)
        ms_to_flush = std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(
               st.deadline - self->clock().now())
               .count());
      return status_json(self, {{"bucket", st.cfg.bucket},
                                {"bag_size", st.bag.size()},
                                {"counter", st.counter},
                                {"bag_bytes", st.bag_bytes},
                                {"generation", st.generation},
                                {"timer_armed", st.timer_armed},
                                {"ms_to_flush", ms_to_flush},
                                {"flushes", std::move(flushes)},
                                {"elements_flushed", st.elements_flushed},
                                {"stale_timers", st.stale_timers}});
    },
  };
}

} // namespace rpcbatch
