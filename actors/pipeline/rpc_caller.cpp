#include "actors/pipeline/rpc_caller.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

#include "actors/observe/reporting.hpp"
#include "services/adapters/log.hpp"
#include "services/adapters/rpc_client.hpp"

namespace rpcbatch {

rpc_failure classify_rpc_failure(int code) {
  switch (code) {
    case rpc_code::invalid_argument:
    case rpc_code::out_of_range:
      return rpc_failure::permanent;
    default:
      return rpc_failure::target;
  }
}

std::string malformed_job(const rpc_job& job) {
  if (job.word_index.size() != job.elements.size())
    return std::to_string(job.word_index.size()) + " word indexes for "
           + std::to_string(job.elements.size()) + " elements";
  for (auto i : job.word_index)
    if (i >= job.words.size())
      return "word index " + std::to_string(i) + " of "
             + std::to_string(job.words.size()) + " words";
  return {};
}

bool element_lengths(const rpc_job& job, const std::vector<int32_t>& lengths,
                     std::vector<int32_t>& out, std::string& error) {
  if (auto why = malformed_job(job); !why.empty()) {
    error = "malformed job: " + why;
    return false;
  }
  if (lengths.size() != job.words.size()) {
    error = "resolveBatch answered " + std::to_string(lengths.size())
            + " lengths for " + std::to_string(job.words.size()) + " words";
    return false;
  }
  for (std::size_t i = 0; i < lengths.size(); ++i) {
    auto& word = job.words[i];
    if (lengths[i] < 0
        || static_cast<std::size_t>(lengths[i]) > code_points(word)) {
      error = "resolveBatch answered length " + std::to_string(lengths[i])
              + " for a word of " + std::to_string(code_points(word))
              + " code point(s) ('" + word.substr(0, 64) + "')";
      return false;
    }
  }
  out.clear();
  out.reserve(job.word_index.size());
  for (auto i : job.word_index)
    out.push_back(lengths[i]);
  return true;
}

namespace {

using self_ptr = rpc_caller_actor::stateful_pointer<rpc_caller_state>;
using phase = rpc_caller_state::phase;
using job_entry = rpc_caller_state::job_entry;

int64_t to_ms(caf::timespan d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

int64_t to_us(caf::timespan d) {
  return std::chrono::duration_cast<std::chrono::microseconds>(d).count();
}

std::string make_batch_id(uint64_t prefix, uint64_t id) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%016llx-%llx",
                static_cast<unsigned long long>(prefix),
                static_cast<unsigned long long>(id));
  return buf;
}

/// Marks a job as failing from `now` on, unless it already is.
void mark_failing(rpc_caller_state& st, uint64_t id, job_entry& entry,
                  rpc_caller_state::time_point now) {
  if (entry.failing)
    return;
  entry.failing = true;
  entry.failing_since = now;
  if (st.cfg.give_up.count() > 0)
    st.give_up_at.emplace(now + st.cfg.give_up, id);
}

void clear_failing(rpc_caller_state& st, uint64_t id, job_entry& entry) {
  if (!entry.failing)
    return;
  entry.failing = false;
  st.give_up_at.erase({entry.failing_since + st.cfg.give_up, id});
}

/// Puts a job in line for a call.
void enqueue(rpc_caller_state& st, uint64_t id, job_entry& entry) {
  entry.at = phase::waiting;
  st.waiting.emplace(entry.oldest, id);
}

/// The lowest sequence number of the elements (0 for none).
uint64_t oldest_of(const std::vector<element>& elements) {
  if (elements.empty())
    return 0;
  auto out = elements.front().seq;
  for (auto& e : elements)
    out = std::min(out, e.seq);
  return out;
}

/// Takes a job that got its answer, goes to the dead-letter topic or was
/// cancelled out of every index.
job_entry take(rpc_caller_state& st, uint64_t id) {
  auto i = st.jobs.find(id);
  auto& entry = i->second;
  clear_failing(st, id, entry);
  if (entry.at == phase::waiting)
    st.waiting.erase({entry.oldest, id});
  else if (entry.at == phase::backing_off)
    --st.backing_off;
  st.words_waiting -= entry.job.elements.size();
  auto out = std::move(entry);
  st.jobs.erase(i);
  return out;
}

void dead_letter(self_ptr self, uint64_t id, std::string reason,
                 bool quiet = false) {
  auto& st = self->state;
  auto entry = take(st, id);
  ++st.counters.dead_letter_jobs;
  st.events.add(event_kind::dead_letter, "batch " + entry.batch_id + " of "
                                 + std::to_string(entry.job.elements.size())
                                 + " element(s): " + reason);
  if (!quiet)
    log::warn("rpc-caller", "job of ", entry.job.elements.size(),
              " elements (bucket ", entry.job.bucket, ", batch ",
              entry.batch_id, ") goes to the dead-letter topic after ",
              entry.attempts, " attempt(s): ", reason);
  self->send(st.sink, failed_batch{std::move(entry.job.elements),
                                   std::move(reason)});
  if (entry.answers_to != nullptr)
    self->send(entry.answers_to,
               word_answers{std::move(entry.job.words), {}, true});
}

std::string give_up_reason(const rpc_caller_state& st,
                           const job_entry& entry,
                           rpc_caller_state::time_point now) {
  auto& error = entry.last_error.empty() ? st.last_error : entry.last_error;
  return "no answer after " + std::to_string(to_ms(now - entry.failing_since))
         + " ms of failure (give-up after "
         + std::to_string(to_ms(st.cfg.give_up)) + " ms): " + error;
}

void start_call(self_ptr self, uint64_t id) {
  auto& st = self->state;
  auto& entry = st.jobs.at(id);
  st.waiting.erase({entry.oldest, id});
  entry.at = phase::inflight;
  ++entry.attempts;
  ++st.inflight;
  ++st.counters.calls;
  st.counters.words_requested += entry.job.words.size();
  entry.started = self->clock().now();
  auto handle = caf::actor_cast<rpc_caller_actor>(self);
  st.transport->resolve_batch(entry.job.words, st.cfg.deadline,
                              entry.batch_id, [handle, id](rpc_result r) {
                                caf::anon_send(handle,
                                               rpc_reply{id, r.code,
                                                         std::move(r.error),
                                                         std::move(
                                                           r.lengths)});
                              });
}

/// Starts waiting jobs, oldest first, while slots are free: all of them
/// while the breaker is closed, only the probe while it is open.
void start_waiting(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  while (st.inflight < st.limit.current() && !st.waiting.empty()) {
    auto id = st.waiting.begin()->second;
    if (!st.breaker.closed()) {
      if (!st.breaker.probe_due(now))
        return;
      // The next job after the last probe, round the waiting ones.
      auto next = st.waiting.upper_bound(st.last_probe);
      auto key = next != st.waiting.end() ? *next : *st.waiting.begin();
      id = key.second;
      st.breaker.probe_started();
      st.probe_job = id;
      st.last_probe = key;
      ++st.counters.probes;
      log::debug("rpc-caller", "probing the target with batch ",
                 st.jobs.at(id).batch_id);
    }
    start_call(self, id);
  }
}

/// Dead-letters the jobs that have been failing for give_up and are not in
/// flight (a call in flight is judged by its answer).
void give_up_due(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  uint64_t jobs = 0;
  uint64_t words = 0;
  std::string reason;
  while (!st.give_up_at.empty() && st.give_up_at.begin()->first <= now) {
    auto id = st.give_up_at.begin()->second;
    st.give_up_at.erase(st.give_up_at.begin());
    auto& entry = st.jobs.at(id);
    if (entry.at == phase::inflight)
      continue;
    ++jobs;
    words += entry.job.elements.size();
    reason = give_up_reason(st, entry, now);
    ++st.counters.given_up_jobs;
    dead_letter(self, id, reason, true);
  }
  if (jobs > 0)
    log::warn("rpc-caller", jobs, " job(s) with ", words,
              " elements go to the dead-letter topic: ", reason);
}

/// Arms one tick for the next probe or give-up, unless an earlier one is
/// pending (CAF 0.17 timers cannot be cancelled: a tick that finds nothing
/// due does nothing).
void schedule_wakeup(self_ptr self) {
  auto& st = self->state;
  std::optional<rpc_caller_state::time_point> due;
  if (!st.give_up_at.empty())
    due = st.give_up_at.begin()->first;
  if (st.breaker.current() == circuit_breaker::state::open
      && !st.waiting.empty())
    due = due ? std::min(*due, st.breaker.next_probe())
              : st.breaker.next_probe();
  if (!due || (st.wakeup_armed && st.wakeup_at <= *due))
    return;
  st.wakeup_armed = true;
  st.wakeup_at = *due;
  auto delay = std::max(caf::timespan{0}, *due - self->clock().now());
  self->delayed_send(self, delay, tick_atom::value);
}

/// After every event: give up what is due, start what may start, and
/// arm the next wake-up.
void pump(self_ptr self) {
  give_up_due(self);
  start_waiting(self);
  schedule_wakeup(self);
}

void on_breaker_opened(self_ptr self, const std::string& error) {
  auto& st = self->state;
  auto now = self->clock().now();
  log::warn("rpc-caller", "circuit breaker open after ",
            st.cfg.breaker_threshold, " failed calls in a row (", error,
            "): jobs wait, one probe at a time asks the target");
  st.events.add(event_kind::breaker_open, "circuit breaker open after " + error
                                  + ": calls wait for the RPC target");
  // Jobs held from now on are failing from now on (for give_up).
  for (auto& [oldest, id] : st.waiting)
    mark_failing(st, id, st.jobs.at(id), now);
}

void on_breaker_closed(self_ptr self, caf::timespan was_open) {
  auto& st = self->state;
  log::info("rpc-caller", "circuit breaker closed after ", to_ms(was_open),
            " ms open: ", st.words_waiting, " words in ", st.jobs.size(),
            " job(s) waited and go now");
  st.events.add(event_kind::breaker_closed, "circuit breaker closed after "
                                    + std::to_string(to_ms(was_open))
                                    + " ms: waiting calls go");
  st.probe_job = 0;
  // Jobs that only waited are no longer failing.
  for (auto& [id, entry] : st.jobs)
    if (!entry.failed_call)
      clear_failing(st, id, entry);
}

/// The target answered (successfully or with a verdict on the inputs).
void target_answered(self_ptr self) {
  auto& st = self->state;
  ++st.answers;
  auto was_open = st.breaker.open_for(self->clock().now());
  if (st.breaker.success())
    on_breaker_closed(self, was_open);
}

/// Writes a job's outputs; `answers` are the lengths of its unique words,
/// `lengths` those of its elements.
void resolved(self_ptr self, uint64_t id, std::vector<int32_t> answers,
              std::vector<int32_t> lengths) {
  auto& st = self->state;
  auto entry = take(st, id);
  if (entry.answers_to != nullptr)
    self->send(entry.answers_to,
               word_answers{std::move(entry.job.words), std::move(answers),
                            false});
  ++st.counters.ok_calls;
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(
              self->clock().now() - entry.started)
              .count();
  st.counters.latency.record(static_cast<uint64_t>(std::max<int64_t>(us, 0)));
  st.counters.elements_resolved += lengths.size();
  self->send(st.sink, resolved_batch{std::move(entry.job.elements),
                                     std::move(lengths)});
}

/// A call failed because of the target: the job waits and goes again, or
/// goes to the dead-letter topic once it has been failing for give_up.
void target_failed(self_ptr self, uint64_t id, std::string error,
                   bool probe) {
  auto& st = self->state;
  auto now = self->clock().now();
  auto& entry = st.jobs.at(id);
  entry.failed_call = true;
  entry.last_error = error;
  st.last_error = error;
  mark_failing(st, id, entry, now);
  if (st.breaker.failure(now, probe))
    on_breaker_opened(self, error);
  auto& give_up = st.cfg.give_up;
  if (give_up.count() > 0 && now - entry.failing_since >= give_up) {
    ++st.counters.given_up_jobs;
    dead_letter(self, id, give_up_reason(st, entry, now));
    return;
  }
  entry.failed_alone = st.answers > entry.answers_seen ? entry.failed_alone + 1
                                                       : 0;
  entry.answers_seen = st.answers;
  if (st.cfg.failing_alone_limit > 0
      && entry.failed_alone >= st.cfg.failing_alone_limit) {
    ++st.counters.failed_alone_jobs;
    dead_letter(self, id,
                "failed " + std::to_string(entry.failed_alone)
                  + " times in a row while the target answered other "
                    "batches: "
                  + error);
    return;
  }
  ++st.counters.retries;
  st.events.add(event_kind::retry, "batch " + entry.batch_id + " again after " + error);
  if (!st.breaker.closed()) {
    // The breaker decides when calls go again.
    enqueue(st, id, entry);
    return;
  }
  auto base = st.cfg.backoff_base.count();
  auto cap = st.cfg.backoff_max.count();
  auto doublings = std::min(entry.attempts - 1, 20);
  auto full = std::min<decltype(base)>(base << doublings, cap);
  // "Equal jitter": half fixed, half random, so retries of many jobs spread.
  std::uniform_int_distribution<decltype(base)> dist(0, full / 2);
  auto delay = caf::timespan{full / 2 + dist(st.rng)};
  entry.at = phase::backing_off;
  ++st.backing_off;
  log::debug("rpc-caller", "retrying batch ", entry.batch_id, " in ",
             to_ms(delay), " ms after ", error);
  self->delayed_send(self, delay, retry_atom::value, id);
}

void on_job(self_ptr self, rpc_job& job, batcher_actor answers_to = {}) {
  auto& st = self->state;
  // A job that would index past its answers is never called: its elements
  // are dead letters at once, and its batcher asks its words again.
  if (auto why = malformed_job(job); !why.empty()) {
    ++st.counters.dead_letter_jobs;
    st.events.add(event_kind::dead_letter, "malformed job of "
                                   + std::to_string(job.elements.size())
                                   + " element(s): " + why);
    log::error("rpc-caller", "a malformed job of ", job.elements.size(),
               " elements (bucket ", job.bucket,
               ") goes to the dead-letter topic: ", why);
    self->send(st.sink, failed_batch{std::move(job.elements),
                                     "malformed job: " + why});
    if (answers_to != nullptr)
      self->send(answers_to, word_answers{std::move(job.words), {}, true});
    return;
  }
  auto id = st.next_id++;
  auto& entry = st.jobs[id];
  entry.job = std::move(job);
  entry.oldest = oldest_of(entry.job.elements);
  entry.answers_to = std::move(answers_to);
  entry.batch_id = make_batch_id(st.batch_prefix, id);
  entry.answers_seen = st.answers;
  st.words_waiting += entry.job.elements.size();
  enqueue(st, id, entry);
  if (!st.breaker.closed())
    mark_failing(st, id, entry, self->clock().now());
  pump(self);
}

/// Counts a failed call by its code, as an event with its error.
void call_failed(rpc_caller_state& st, const char* code,
                 const std::string& error) {
  ++st.counters.failed_calls;
  ++st.counters.errors_by_code[code];
  st.events.add(event_kind::rpc_error, error);
}

/// Tells the limit what a call's answer says of the service: its latency
/// if it succeeded, overload on RESOURCE_EXHAUSTED and DEADLINE_EXCEEDED
/// (other failures say nothing of load). A decrease is an event.
void feed_limit(self_ptr self, const job_entry& entry, int32_t code,
                std::size_t inflight) {
  auto& st = self->state;
  auto now = self->clock().now();
  auto before = st.limit.current();
  if (code == 0)
    st.limit.succeeded(entry.started, now, inflight);
  else if (code == rpc_code::resource_exhausted
           || code == rpc_code::deadline_exceeded)
    st.limit.overloaded(entry.started, now);
  else
    return;
  auto after = st.limit.current();
  if (after == before)
    return;
  auto why = code != 0 ? std::string{rpc_code_name(code)}
             : st.limit.measuring()
               ? std::string{"measuring the no-load latency"}
               : "window latency "
                   + std::to_string(to_us(st.limit.last_window()))
                   + " us, no-load "
                   + std::to_string(to_us(st.limit.baseline())) + " us";
  log::debug("rpc-caller", "calls in flight limit ", before, " -> ", after,
             " (", why, ")");
  // An event when the service said it is overloaded, or when latency takes
  // the limit off the max (not for every step while it finds its level).
  if (after < before && !st.limit.measuring()
      && (code != 0 || before == st.limit.settings().max))
    st.events.add(event_kind::limit, "calls in flight limit " + std::to_string(before)
                             + " -> " + std::to_string(after) + ": " + why);
}

void on_reply(self_ptr self, rpc_reply& reply) {
  auto& st = self->state;
  --st.inflight;
  auto i = st.jobs.find(reply.job);
  if (i == st.jobs.end() || i->second.at != phase::inflight) {
    pump(self);
    return;
  }
  auto probe = reply.job == st.probe_job;
  if (probe)
    st.probe_job = 0;
  auto& entry = i->second;
  feed_limit(self, entry, reply.code, st.inflight + 1);
  std::string error;
  std::vector<int32_t> lengths;
  if (reply.code == 0
      && element_lengths(entry.job, reply.lengths, lengths, error)) {
    target_answered(self);
    resolved(self, reply.job, std::move(reply.lengths), std::move(lengths));
  } else if (reply.code == 0
             || classify_rpc_failure(reply.code) == rpc_failure::permanent) {
    if (reply.code != 0)
      error = std::string{rpc_code_name(reply.code)} + ": " + reply.error;
    call_failed(st, reply.code == 0 ? "BAD_REPLY" : rpc_code_name(reply.code),
                reply.code == 0 ? "BAD_REPLY: " + error : error);
    target_answered(self);
    ++st.counters.permanent_failures;
    dead_letter(self, reply.job, std::move(error));
  } else {
    error = std::string{rpc_code_name(reply.code)} + ": " + reply.error;
    call_failed(st, rpc_code_name(reply.code), error);
    target_failed(self, reply.job, std::move(error), probe);
  }
  pump(self);
}

void on_retry(self_ptr self, uint64_t id) {
  auto& st = self->state;
  auto i = st.jobs.find(id);
  if (i == st.jobs.end() || i->second.at != phase::backing_off)
    return;
  --st.backing_off;
  enqueue(st, id, i->second);
  pump(self);
}

void on_tick(self_ptr self) {
  auto& st = self->state;
  if (self->clock().now() >= st.wakeup_at)
    st.wakeup_armed = false;
  pump(self);
}

/// Drops the elements of `revoked` partitions' epochs from every job not
/// in flight; a job left without elements is forgotten, and the batcher
/// that waits for its words is told that it failed (its cache stops
/// waiting for them, and elements that waited for them go into its bag
/// again). Jobs keep their words: a batcher with a cache waits for the
/// answer of each. Answers how many elements were dropped.
uint64_t on_cancel(self_ptr self,
                   const std::vector<partition_epoch>& revoked) {
  auto& st = self->state;
  uint64_t dropped = 0;
  std::vector<uint64_t> emptied;
  for (auto& [id, entry] : st.jobs) {
    if (entry.at == phase::inflight)
      continue;
    auto& job = entry.job;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < job.elements.size(); ++i) {
      auto& e = job.elements[i];
      if (cancelled(revoked, e.partition, e.epoch))
        continue;
      if (kept != i) {
        job.elements[kept] = std::move(e);
        job.word_index[kept] = job.word_index[i];
      }
      ++kept;
    }
    auto n = job.elements.size() - kept;
    if (n == 0)
      continue;
    job.elements.erase(job.elements.begin() + kept, job.elements.end());
    job.word_index.erase(job.word_index.begin() + kept, job.word_index.end());
    dropped += n;
    st.words_waiting -= n;
    if (kept == 0) {
      emptied.push_back(id);
      continue;
    }
    // Its oldest words may have gone: its place in line follows.
    auto oldest = oldest_of(job.elements);
    if (entry.at == phase::waiting && oldest != entry.oldest) {
      st.waiting.erase({entry.oldest, id});
      st.waiting.emplace(oldest, id);
    }
    entry.oldest = oldest;
  }
  for (auto id : emptied) {
    auto entry = take(st, id);
    if (entry.answers_to != nullptr)
      self->send(entry.answers_to,
                 word_answers{std::move(entry.job.words), {}, true});
  }
  if (dropped > 0) {
    st.counters.cancelled += dropped;
    st.counters.cancelled_jobs += emptied.size();
    st.events.add(event_kind::cancel, std::to_string(dropped)
                              + " element(s) of revoked partitions dropped, "
                              + std::to_string(emptied.size())
                              + " job(s) left empty");
    log::info("rpc-caller", "revoke: ", dropped,
              " element(s) not yet called dropped, ", emptied.size(),
              " job(s) left empty");
  }
  return dropped;
}

actor_status status_of_caller(self_ptr self) {
  auto& st = self->state;
  auto out = st.counters;
  out.inflight = st.inflight;
  out.max_inflight = st.limit.settings().max;
  out.min_inflight = st.limit.settings().min;
  out.inflight_limit = st.limit.current();
  out.limit_increases = st.limit.increases();
  out.limit_decreases = st.limit.decreases();
  out.limit_measuring = st.limit.measuring();
  out.baseline_latency_us = static_cast<uint64_t>(to_us(st.limit.baseline()));
  out.window_latency_us
    = static_cast<uint64_t>(to_us(st.limit.last_window()));
  out.waiting = st.waiting.size();
  out.backing_off = st.backing_off;
  out.jobs_waiting = st.jobs.size();
  out.words_waiting = st.words_waiting;
  out.breaker = to_string(st.breaker.current());
  out.breaker_opens = st.breaker.opens();
  out.breaker_open_ms = to_ms(st.breaker.open_for(self->clock().now()));
  out.give_up_ms = to_ms(st.cfg.give_up);
  out.mean_latency_us = out.ok_calls ? out.latency.sum_us / out.ok_calls : 0;
  return status_of(self, std::move(out), st.events);
}

} // namespace

rpc_caller_actor::behavior_type
rpc_caller(rpc_caller_actor::stateful_pointer<rpc_caller_state> self,
           rpc_caller_config cfg, std::shared_ptr<rpc_transport> transport,
           sink_actor sink) {
  auto& st = self->state;
  st.cfg = cfg;
  st.transport = std::move(transport);
  st.sink = std::move(sink);
  st.breaker = circuit_breaker{{cfg.breaker_threshold, cfg.backoff_base,
                                cfg.backoff_max}};
  auto limit = cfg.limit;
  limit.max = cfg.max_inflight;
  limit.min = cfg.min_inflight;
  limit.initial = cfg.initial_inflight;
  st.limit = concurrency_limit{limit};
  st.batch_prefix = st.rng();
  return {
    [=](rpc_job& job) { on_job(self, job); },
    [=](rpc_job& job, batcher_actor& answers_to) {
      on_job(self, job, std::move(answers_to));
    },
    [=](rpc_reply& reply) { on_reply(self, reply); },
    [=](retry_atom, uint64_t id) { on_retry(self, id); },
    [=](tick_atom) { on_tick(self); },
    [=](cancel_atom, std::vector<partition_epoch>& revoked) {
      return on_cancel(self, revoked);
    },
    [=](status_atom) { return status_of_caller(self); },
  };
}

} // namespace rpcbatch
