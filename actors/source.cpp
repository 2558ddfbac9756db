#include "actors/source.hpp"

#include <algorithm>

#include "actors/status.hpp"
#include "services/kafka_consumer.hpp"
#include "services/log.hpp"

namespace rpcbatch {

namespace {

using self_ptr = source_actor::stateful_pointer<source_state>;

std::vector<int32_t> partitions_of(const partition_offsets& xs) {
  std::vector<int32_t> out;
  for (auto& x : xs.entries)
    out.push_back(x.partition);
  return out;
}

bool all_settled(const source_state& st, const std::vector<int32_t>& parts) {
  for (auto p : parts)
    if (st.tracker.pending_records(p) > 0)
      return false;
  return true;
}

/// Everything that may change when words complete or time passes.
void check_progress(self_ptr self) {
  auto& st = self->state;
  auto now = self->clock().now();
  // Backpressure with hysteresis.
  auto in_flight = st.tracker.words_in_flight();
  if (!st.paused && !st.draining && in_flight > st.cfg.max_inflight_words) {
    st.paused = true;
    ++st.pauses;
    st.consumer->set_paused(true);
    log::debug("source", "pausing: ", in_flight, " words in flight");
  } else if (st.paused && !st.draining
             && in_flight <= st.cfg.max_inflight_words / 2) {
    st.paused = false;
    st.consumer->set_paused(false);
  }
  // A revoke releases its partitions once their words are confirmed.
  if (st.revoke) {
    auto& parts = st.revoke->partitions;
    auto done = all_settled(st, parts);
    if (done || now >= st.revoke->deadline) {
      if (!done)
        log::warn("source", "revoke: giving up waiting for words; the ",
                  "partitions are committed up to what is done");
      st.consumer->release(st.tracker.commits_of(parts));
      for (auto p : parts) {
        st.tracker.forget(p);
        st.assigned.erase(p);
      }
      st.revoke.reset();
    }
  }
  // Drain completes when nothing is pending any more.
  if (st.drain_deadline && st.drain_promise.pending()) {
    auto done = st.tracker.pending_records() == 0;
    if (done || now >= *st.drain_deadline) {
      if (!done)
        log::warn("source", "drain: ", st.tracker.pending_records(),
                  " record(s) still pending; committing what is done");
      st.drain_promise.deliver(done, partition_offsets{st.tracker.commits_of(
                                       st.tracker.partitions())});
    }
  }
  // Bounded input: every assigned partition reached its start-up end.
  if (st.cfg.bounded && !st.input_end_sent && !st.assigned.empty()) {
    bool all = true;
    for (auto p : st.assigned)
      all = all && st.finished.count(p) > 0;
    if (all) {
      st.input_end_sent = true;
      self->send(st.node, input_end_atom::value);
    }
  }
}

/// Ends the window of every bucket now.
void send_end_of_window(self_ptr self) {
  self->request(self->state.router, caf::infinite, eow_atom::value)
    .then([=](uint64_t) { check_progress(self); },
          [=](caf::error&) { check_progress(self); });
}

/// Ends the window of every bucket once the words of every record handed
/// to the tokenizer so far reached the router; sent at once, the end of
/// window could overtake them and leave them in their bags until max-wait.
void end_of_window(self_ptr self) {
  auto& st = self->state;
  if (st.batches_counted >= st.batches_sent)
    send_end_of_window(self);
  else
    st.eow_after.push_back(st.batches_sent);
}

/// The tokenizer answered one more batch.
void batch_counted(self_ptr self) {
  auto& st = self->state;
  ++st.batches_counted;
  while (!st.eow_after.empty() && st.eow_after.front() <= st.batches_counted) {
    st.eow_after.pop_front();
    send_end_of_window(self);
  }
}

/// Stops consuming and flushes every bucket; the drain promise is kept
/// once every record is done (check_progress).
void begin_drain(self_ptr self) {
  auto& st = self->state;
  st.draining = true;
  st.consumer->stop_fetching();
  st.drain_deadline = self->clock().now() + st.cfg.drain_timeout;
  end_of_window(self);
}

void mark_position(source_state& st, int32_t partition, int64_t next) {
  auto i = st.end_offsets.find(partition);
  if (i != st.end_offsets.end() && next >= i->second)
    st.finished.insert(partition);
}

} // namespace

source_actor::behavior_type
source(source_actor::stateful_pointer<source_state> self, source_config cfg,
       std::shared_ptr<kafka_consumer> consumer, tokenizer_actor tokenizer,
       router_actor router, node_actor node) {
  auto& st = self->state;
  st.cfg = cfg;
  st.consumer = std::move(consumer);
  st.tokenizer = std::move(tokenizer);
  st.router = std::move(router);
  st.node = std::move(node);
  self->delayed_send(self, cfg.commit_interval, tick_atom::value);
  return {
    [=](record_batch& batch) {
      auto& st = self->state;
      if (st.draining) {
        // Not tracked, so never committed: read again by the next run.
        st.dropped_while_draining += batch.records.size();
        st.consumer->batch_taken();
        return;
      }
      if (!st.first_record)
        st.first_record = self->clock().now();
      // The consumer may hand a record over again (librdkafka can fetch
      // again after a pause): it is tracked once, so it goes on once.
      auto& recs = batch.records;
      auto kept = recs.begin();
      uint64_t again = 0;
      for (auto& rec : recs) {
        if (st.assigned.count(rec.partition) == 0) {
          // Read before a revoke that is done: the partition's new owner
          // reads it from the commit point.
          ++st.stale_records;
          continue;
        }
        if (st.tracker.dispatched_before(rec.partition, rec.offset)) {
          ++again;
          continue;
        }
        rec.epoch = st.tracker.dispatched(rec.partition, rec.offset);
        mark_position(st, rec.partition, rec.offset + 1);
        if (&*kept != &rec)
          *kept = std::move(rec);
        ++kept;
      }
      recs.erase(kept, recs.end());
      if (again > 0) {
        st.redelivered += again;
        log::info("source", "the consumer handed over ", again,
                  " record(s) again: skipped, they are tracked already");
      }
      if (recs.empty()) {
        st.consumer->batch_taken();
        return;
      }
      st.records += batch.records.size();
      ++st.batches_sent;
      self->request(st.tokenizer, caf::infinite, std::move(batch))
        .then(
          [=](word_counts& counts) {
            auto& st = self->state;
            for (auto& r : counts.records) {
              st.tracker.counted(r);
              st.words += r.words;
            }
            batch_counted(self);
            check_progress(self);
            st.consumer->batch_taken();
          },
          [=](caf::error& err) {
            batch_counted(self);
            caf::anon_send(self->state.node, fatal_atom::value,
                           "tokenizer failed: " + self->system().render(err));
          });
    },
    [=](delivery_ack& ack) {
      auto& st = self->state;
      std::size_t at = 0;
      for (auto& r : ack.records) {
        auto fresh = st.tracker.acked(r, ack.positions, at);
        at += r.words;
        st.words_acked += fresh;
        st.words_confirmed_again += r.words - fresh;
      }
      check_progress(self);
    },
    [=](assigned_atom, partition_offsets& parts) {
      auto& st = self->state;
      for (auto& p : parts.entries) {
        st.assigned.insert(p.partition);
        if (p.offset >= 0)
          st.end_offsets[p.partition] = p.offset;
      }
      check_progress(self);
    },
    [=](revoked_atom, partition_offsets& parts) {
      auto& st = self->state;
      ++st.revokes;
      st.revoke = source_state::wait{partitions_of(parts),
                                     self->clock().now()
                                       + st.cfg.drain_timeout};
      // End of window for what is pending, so that it completes.
      end_of_window(self);
    },
    [=](eof_atom, int32_t partition, int64_t offset) {
      auto& st = self->state;
      mark_position(st, partition, offset);
      check_progress(self);
    },
    [=](tick_atom) {
      auto& st = self->state;
      auto commits = st.tracker.take_commits();
      if (!commits.empty()) {
        ++st.commit_requests;
        st.consumer->commit(std::move(commits));
      }
      // The router forgets the words it kept of records now done.
      self->send(st.router, st.tracker.progress());
      check_progress(self);
      self->delayed_send(self, st.cfg.commit_interval, tick_atom::value);
    },
    [=](lost_atom, word_batch& words) {
      auto& st = self->state;
      auto& es = words.elements;
      es.erase(std::remove_if(es.begin(), es.end(),
                              [&](const element& e) {
                                return st.tracker.confirmed(e);
                              }),
               es.end());
      return std::move(words);
    },
    [=](drain_atom) -> caf::result<bool, partition_offsets> {
      auto& st = self->state;
      st.drain_promise = self->make_response_promise<bool, partition_offsets>();
      auto result = st.drain_promise;
      begin_drain(self);
      return result;
    },
    [=](status_atom) {
      auto& st = self->state;
      boost::json::array assigned;
      boost::json::object committed;
      for (auto p : st.assigned) {
        assigned.push_back(p);
        if (auto point = st.tracker.commit_point(p))
          committed[std::to_string(p)] = *point;
      }
      double active = 0;
      if (st.first_record)
        active = std::chrono::duration<double>(self->clock().now()
                                               - *st.first_record)
                   .count();
      return status_json(self,
        {{"records", st.records},
         {"active_seconds", active},
         {"words", st.words},
         {"words_acked", st.words_acked},
         {"words_confirmed_again", st.words_confirmed_again},
         {"words_in_flight", st.tracker.words_in_flight()},
         {"records_pending", st.tracker.pending_records()},
         {"assigned", std::move(assigned)},
         {"commit_points", std::move(committed)},
         {"commits", st.consumer->commits()},
         {"commit_failures", st.consumer->commit_failures()},
         {"paused", st.paused},
         {"pauses", st.pauses},
         {"revokes", st.revokes},
         {"draining", st.draining},
         {"dropped_while_draining", st.dropped_while_draining},
         {"records_handed_over_again", st.redelivered},
         {"records_of_revoked_partitions", st.stale_records}});
    },
  };
}

} // namespace rpcbatch
