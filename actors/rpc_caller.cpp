#include "actors/rpc_caller.hpp"

#include <algorithm>

#include "actors/status.hpp"
#include "services/log.hpp"
#include "services/rpc_client.hpp"

namespace rpcbatch {

bool answer_elements(const rpc_job& job, const std::vector<int32_t>& lengths,
                     std::vector<int32_t>& out, std::string& error) {
  if (lengths.size() != job.words.size()) {
    error = "resolveBatch answered " + std::to_string(lengths.size())
            + " lengths for " + std::to_string(job.words.size()) + " words";
    return false;
  }
  out.clear();
  out.reserve(job.word_index.size());
  for (auto i : job.word_index)
    out.push_back(lengths[i]);
  return true;
}

namespace {

using self_ptr = rpc_caller_actor::stateful_pointer<rpc_caller_state>;

void start_call(self_ptr self, uint64_t id) {
  auto& st = self->state;
  auto& entry = st.jobs.at(id);
  ++entry.attempts;
  ++st.inflight;
  ++st.calls;
  st.words_requested += entry.job.words.size();
  entry.started = self->clock().now();
  auto handle = caf::actor_cast<rpc_caller_actor>(self);
  st.client->resolve_batch(entry.job.words, st.cfg.deadline, "",
                           [handle, id](rpc_result r) {
                             caf::anon_send(handle,
                                            rpc_reply{id, r.code,
                                                      std::move(r.error),
                                                      std::move(r.lengths)});
                           });
}

void start_waiting(self_ptr self) {
  auto& st = self->state;
  while (st.inflight < st.cfg.max_inflight && !st.waiting.empty()) {
    auto id = st.waiting.front();
    st.waiting.pop_front();
    start_call(self, id);
  }
}

caf::timespan backoff(rpc_caller_state& st, int attempts) {
  auto base = st.cfg.backoff_base.count();
  auto cap = st.cfg.backoff_max.count();
  auto exp = base << std::min(attempts - 1, 20);
  auto full = std::min<decltype(base)>(exp, cap);
  // "Equal jitter": half fixed, half random, so retries of many jobs spread.
  std::uniform_int_distribution<decltype(base)> dist(0, full / 2);
  return caf::timespan{full / 2 + dist(st.rng)};
}

void dead_letter(self_ptr self, uint64_t id, std::string reason) {
  auto& st = self->state;
  auto& entry = st.jobs.at(id);
  ++st.dead_letter_jobs;
  log::warn("rpc-caller", "job of ", entry.job.elements.size(),
            " elements (bucket ", entry.job.bucket, ") goes to the ",
            "dead-letter topic after ", entry.attempts, " attempt(s): ",
            reason);
  self->send(st.sink, failed_batch{std::move(entry.job.elements),
                                   std::move(reason)});
  st.jobs.erase(id);
}

} // namespace

rpc_caller_actor::behavior_type
rpc_caller(rpc_caller_actor::stateful_pointer<rpc_caller_state> self,
           rpc_caller_config cfg, std::shared_ptr<rpc_client> client,
           sink_actor sink) {
  self->state.cfg = cfg;
  self->state.client = std::move(client);
  self->state.sink = std::move(sink);
  return {
    [=](rpc_job& job) {
      auto& st = self->state;
      auto id = st.next_id++;
      rpc_caller_state::job_entry entry;
      entry.job = std::move(job);
      st.jobs.emplace(id, std::move(entry));
      if (st.inflight < st.cfg.max_inflight)
        start_call(self, id);
      else
        st.waiting.push_back(id);
    },
    [=](rpc_reply& reply) {
      auto& st = self->state;
      --st.inflight;
      auto i = st.jobs.find(reply.job);
      if (i == st.jobs.end()) {
        start_waiting(self);
        return;
      }
      auto& entry = i->second;
      std::string error;
      std::vector<int32_t> lengths;
      if (reply.code == 0
          && answer_elements(entry.job, reply.lengths, lengths, error)) {
        ++st.ok_calls;
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                    self->clock().now() - entry.started)
                    .count();
        st.latency_us_sum += us;
        st.latency_us_max = std::max<uint64_t>(st.latency_us_max, us);
        auto& bounds = rpc_caller_state::latency_bounds_us;
        auto bucket = std::lower_bound(bounds.begin(), bounds.end(),
                                       static_cast<uint64_t>(us))
                      - bounds.begin();
        ++st.latency_counts[bucket];
        st.elements_resolved += lengths.size();
        self->send(st.sink, resolved_batch{std::move(entry.job.elements),
                                           std::move(lengths)});
        st.jobs.erase(i);
      } else {
        ++st.failed_calls;
        if (reply.code != 0)
          error = std::string{rpc_code_name(reply.code)} + ": " + reply.error;
        else
          reply.code = 13; // INTERNAL: a reply that does not fit the request
        ++st.errors_by_code[rpc_code_name(reply.code)];
        if (rpc_retryable(reply.code) && entry.attempts < st.cfg.max_attempts) {
          ++st.retries;
          ++st.backing_off;
          auto delay = backoff(st, entry.attempts);
          log::debug("rpc-caller", "retrying job ", reply.job, " in ",
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                       delay)
                       .count(),
                     " ms after ", error);
          self->delayed_send(self, delay, retry_atom::value, reply.job);
        } else {
          dead_letter(self, reply.job, std::move(error));
        }
      }
      start_waiting(self);
    },
    [=](retry_atom, uint64_t id) {
      auto& st = self->state;
      --st.backing_off;
      if (st.jobs.count(id) == 0)
        return;
      // A retry goes first: it has waited longest.
      st.waiting.push_front(id);
      start_waiting(self);
    },
    [=](status_atom) {
      auto& st = self->state;
      boost::json::object errors;
      for (auto& [code, n] : st.errors_by_code)
        errors[code] = n;
      auto mean_us = st.ok_calls ? st.latency_us_sum / st.ok_calls : 0;
      boost::json::array bounds;
      boost::json::array counts;
      for (auto b : rpc_caller_state::latency_bounds_us)
        bounds.push_back(b);
      for (auto n : st.latency_counts)
        counts.push_back(n);
      return status_json(self, {{"calls", st.calls},
                                {"ok_calls", st.ok_calls},
                                {"failed_calls", st.failed_calls},
                                {"retries", st.retries},
                                {"dead_letter_jobs", st.dead_letter_jobs},
                                {"inflight", st.inflight},
                                {"max_inflight", st.cfg.max_inflight},
                                {"waiting", st.waiting.size()},
                                {"backing_off", st.backing_off},
                                {"words_requested", st.words_requested},
                                {"elements_resolved", st.elements_resolved},
                                {"mean_latency_us", mean_us},
                                {"max_latency_us", st.latency_us_max},
                                {"latency_us_sum", st.latency_us_sum},
                                {"latency_bounds_us", std::move(bounds)},
                                {"latency_counts", std::move(counts)},
                                {"errors_by_code", std::move(errors)}});
    },
  };
}

} // namespace rpcbatch
