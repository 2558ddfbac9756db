#include "actors/source.hpp"

#include <algorithm>
#include <limits>

#include "actors/sink.hpp"
#include "actors/status.hpp"
#include "actors/tokenizer.hpp"
#include "actors/adapters/kafka_consumer.hpp"
#include "actors/adapters/log.hpp"

namespace rpcbatch {

namespace {

std::vector<int32_t> partitions_of(const partition_offsets& xs) {
  std::vector<int32_t> out;
  for (auto& x : xs.entries)
    out.push_back(x.partition);
  return out;
}

double seconds_between(caf::actor_clock::time_point from,
                       caf::actor_clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

} // namespace

// -- taking records in --------------------------------------------------------

void source_state::take(record_batch& batch) {
  if (draining) {
    // Not tracked, so never committed: read again by the next run.
    counters.dropped_while_draining += batch.records.size();
    consumer->batch_taken();
    return;
  }
  if (!first_record)
    first_record = self->clock().now();
  auto number = ++batches;
  uint64_t again = 0;
  uint64_t unusable = 0;
  std::size_t kept = 0;
  for (auto& rec : batch.records) {
    if (assigned.count(rec.partition) == 0) {
      // Read before a revoke that is done: the partition's new owner reads
      // it from the commit point.
      ++counters.records_of_revoked_partitions;
      continue;
    }
    // The consumer may hand a record over again: it is tracked once, so it
    // goes on once.
    if (tracker.dispatched_before(rec.partition, rec.offset)) {
      ++again;
      continue;
    }
    if (cfg.replay_dead_letters && !to_replay(rec))
      ++unusable;
    auto n = static_cast<uint32_t>(
      std::min<std::size_t>(count_words(rec.value),
                            std::numeric_limits<uint32_t>::max()));
    ++counters.records;
    counters.words += n;
    counters.null_records += rec.null_value ? 1 : 0;
    counters.records_without_words += !rec.null_value && n == 0 ? 1 : 0;
    rec.epoch = tracker.dispatched(rec.partition, rec.offset, n);
    mark_position(rec.partition, rec.offset + 1);
    if (n == 0)
      continue; // done already
    held.push_back(held_record{std::move(rec), n, 0, 0, number});
    held_words += n;
    ++kept;
  }
  if (again > 0) {
    counters.records_handed_over_again += again;
    log::info("source", "the consumer handed over ", again,
              " record(s) again: skipped, they are tracked already");
  }
  if (unusable > 0) {
    counters.not_replayable += unusable;
    log::warn("source", unusable, " record(s) of the dead-letter topic ",
              "cannot be replayed (no dead letter, or its word was cut): ",
              "skipped");
  }
  if (kept == 0)
    consumer->batch_taken();
  else
    held_per_batch[number] = kept;
  feed();
  end_finished_waits();
}

bool source_state::to_replay(input_record& rec) {
  auto letter = parse_dead_letter(rec.value);
  if (!letter || letter->truncated()) {
    rec.value.clear();
    return false;
  }
  rec.value = std::move(letter->word);
  return true;
}

input_record source_state::next_piece(held_record& h, uint32_t n) {
  input_record piece{h.rec.partition, h.rec.offset, h.rec.timestamp, {},
                     false,           h.rec.epoch,  h.sent};
  if (h.sent == 0 && n == h.words) {
    piece.value = std::move(h.rec.value);
  } else {
    if (h.sent == 0)
      ++counters.records_in_pieces;
    auto rest = std::string_view{h.rec.value}.substr(h.at);
    auto len = h.sent + n == h.words ? rest.size() : words_end(rest, n);
    piece.value.assign(rest.substr(0, len));
    h.at += len;
  }
  tracker.sent(h.rec.partition, h.rec.offset, h.rec.epoch, n);
  h.sent += n;
  held_words -= n;
  ++counters.pieces;
  return piece;
}

void source_state::feed() {
  auto window = cfg.max_inflight_words;
  auto min_piece = std::max<int64_t>(1, window / 4);
  record_batch out;
  while (!held.empty()) {
    auto& h = held.front();
    auto room = window - tracker.words_in_flight();
    int64_t rest = h.words - h.sent;
    auto n = rest <= room ? rest : room >= min_piece ? room : 0;
    if (n <= 0)
      break;
    out.records.push_back(next_piece(h, static_cast<uint32_t>(n)));
    if (h.sent == h.words)
      pop_front_held();
  }
  if (!out.records.empty())
    self->send(tokenizer, std::move(out));
  auto stalled = !held.empty();
  if (stalled && !waiting_for_credit) {
    ++counters.credit_stalls;
    events.add("credit", "credit window spent: consuming waits");
  }
  waiting_for_credit = stalled;
  if (held.empty() && end_of_window_wanted) {
    end_of_window_wanted = false;
    // Through the tokenizer, so that it reaches the router after the words.
    self->request(tokenizer, caf::infinite, end_of_window_atom::value)
      .then([st = this](uint64_t) { st->end_finished_waits(); },
            [st = this](caf::error&) { st->end_finished_waits(); });
  }
}

void source_state::pop_front_held() {
  auto batch = held.front().batch;
  held.pop_front();
  batch_done(batch);
}

void source_state::batch_done(uint64_t batch) {
  auto i = held_per_batch.find(batch);
  if (i != held_per_batch.end() && --i->second == 0) {
    held_per_batch.erase(i);
    consumer->batch_taken();
  }
}

void source_state::drop_held(const std::vector<int32_t>& partitions) {
  auto gone = [&](const held_record& h) {
    return std::find(partitions.begin(), partitions.end(), h.rec.partition)
           != partitions.end();
  };
  for (auto i = held.begin(); i != held.end();) {
    if (!gone(*i)) {
      ++i;
      continue;
    }
    held_words -= i->words - i->sent;
    auto batch = i->batch;
    i = held.erase(i);
    batch_done(batch);
  }
}

void source_state::mark_position(int32_t partition, int64_t next) {
  auto i = end_offsets.find(partition);
  if (i != end_offsets.end() && next >= i->second)
    finished.insert(partition);
}

// -- confirmations, windows, revokes and drains -------------------------------

void source_state::confirm(const delivery_ack& ack) {
  std::size_t at = 0;
  for (auto& r : ack.records) {
    auto fresh = tracker.acked(r, ack.positions, at);
    at += r.words;
    counters.words_acked += fresh;
    counters.words_confirmed_again += r.words - fresh;
  }
  feed();
  end_finished_waits();
}

void source_state::end_of_window() {
  end_of_window_wanted = true;
  feed();
}

caf::typed_response_promise<bool, partition_offsets> source_state::drain() {
  drain_promise = self->make_response_promise<bool, partition_offsets>();
  draining = true;
  consumer->stop_for_drain();
  drain_deadline = self->clock().now() + cfg.drain_timeout;
  end_of_window();
  end_finished_waits();
  return drain_promise;
}

void source_state::revoked(const partition_offsets& parts) {
  ++counters.revokes;
  events.add("rebalance",
             "partitions revoked " + list_text(partitions_of(parts)));
  revoke = wait{partitions_of(parts), self->clock().now() + cfg.drain_timeout};
  // End of window for what is pending, so that it completes.
  end_of_window();
  end_finished_waits();
}

void source_state::end_finished_waits() {
  check_revoke();
  check_drain();
  check_input_end();
}

void source_state::check_revoke() {
  if (!revoke)
    return;
  auto& parts = revoke->partitions;
  auto done = std::all_of(parts.begin(), parts.end(), [&](int32_t p) {
    return tracker.pending_records(p) == 0;
  });
  if (!done && self->clock().now() < revoke->deadline)
    return;
  if (!done)
    log::warn("source", "revoke: giving up waiting for words; the ",
              "partitions are committed up to what is done");
  consumer->release(tracker.commits_of(parts));
  drop_held(parts);
  for (auto p : parts) {
    tracker.forget(p);
    assigned.erase(p);
    marks.erase(p);
  }
  revoke.reset();
  feed();
}

void source_state::check_drain() {
  if (!drain_deadline || !drain_promise.pending())
    return;
  auto done = tracker.pending_records() == 0;
  if (!done && self->clock().now() < *drain_deadline)
    return;
  if (!done)
    log::warn("source", "drain: ", tracker.pending_records(),
              " record(s) still pending; committing what is done");
  drain_promise.deliver(done, partition_offsets{
                                tracker.commits_of(tracker.partitions())});
}

void source_state::check_input_end() {
  if (!cfg.bounded || input_end_sent || assigned.empty())
    return;
  for (auto p : assigned)
    if (finished.count(p) == 0)
      return;
  input_end_sent = true;
  self->send(node, input_end_atom::value);
}

// -- the periodic tick --------------------------------------------------------

void source_state::tick() {
  auto commits = tracker.take_commits();
  if (!commits.empty()) {
    ++commit_requests;
    consumer->commit(std::move(commits));
  }
  // The router forgets the words it kept of records now done.
  self->send(router, tracker.progress());
  check_stuck();
  end_finished_waits();
}

void source_state::check_stuck() {
  if (cfg.stuck_after.count() <= 0)
    return;
  auto now = self->clock().now();
  for (auto p : tracker.partitions()) {
    auto point = tracker.commit_point(p).value_or(-1);
    auto confirmed = tracker.confirmed_words(p);
    auto pending = tracker.pending_records(p);
    auto& m = marks[p];
    // Words confirmed count as progress: a record in pieces may keep the
    // commit point for long while its words go through.
    if (point != m.point || confirmed != m.confirmed || pending == 0) {
      if (m.reported)
        log::info("source", "partition ", p, " moves again after ",
                  seconds_between(m.since, now), " s");
      m = progress_mark{point, confirmed, now, false};
      continue;
    }
    if (m.reported || now - m.since < cfg.stuck_after)
      continue;
    m.reported = true;
    ++counters.stuck_reports;
    log::warn("source", "partition ", p, " is stuck: its commit point ",
              point, " and its words have not moved for ",
              seconds_between(m.since, now),
              " s while ", pending, " record(s) wait (",
              tracker.words_in_flight(), " word(s) in flight, ", held.size(),
              " record(s) waiting for credit)");
  }
}

word_batch source_state::unconfirmed(word_batch words) const {
  auto& es = words.elements;
  es.erase(std::remove_if(es.begin(), es.end(),
                          [&](const element& e) {
                            return tracker.confirmed(e);
                          }),
           es.end());
  return words;
}

actor_status source_state::status() const {
  auto out = counters;
  out.words_in_flight = tracker.words_in_flight();
  out.window = cfg.max_inflight_words;
  out.waiting_for_credit = waiting_for_credit;
  out.held_records = held.size();
  out.held_words = held_words;
  out.records_pending = tracker.pending_records();
  for (auto p : assigned) {
    out.assigned.push_back(p);
    if (auto point = tracker.commit_point(p))
      out.commit_points[p] = *point;
  }
  for (auto& [p, m] : marks)
    if (m.reported)
      out.stuck_partitions.push_back(p);
  if (first_record)
    out.active_seconds = seconds_between(*first_record, self->clock().now());
  out.commits = consumer->commits();
  out.commit_failures = consumer->commit_failures();
  out.draining = draining;
  return status_of(self, std::move(out), events);
}

// -- the behaviour ------------------------------------------------------------

source_actor::behavior_type
source(source_actor::stateful_pointer<source_state> self, source_config cfg,
       std::shared_ptr<source_consumer> consumer, tokenizer_actor tokenizer,
       router_actor router, node_actor node) {
  auto& st = self->state;
  st.self = self;
  st.cfg = cfg;
  st.consumer = std::move(consumer);
  st.tokenizer = std::move(tokenizer);
  st.router = std::move(router);
  st.node = std::move(node);
  self->delayed_send(self, cfg.commit_interval, tick_atom::value);
  return {
    [=](record_batch& batch) { self->state.take(batch); },
    [=](delivery_ack& ack) { self->state.confirm(ack); },
    [=](assigned_atom, partition_offsets& parts) {
      auto& st = self->state;
      for (auto& p : parts.entries) {
        st.assigned.insert(p.partition);
        if (p.offset >= 0)
          st.end_offsets[p.partition] = p.offset;
      }
      st.events.add("rebalance", "partitions assigned "
                                   + list_text(partitions_of(parts)));
      st.end_finished_waits();
    },
    [=](revoked_atom, partition_offsets& parts) {
      self->state.revoked(parts);
    },
    [=](eof_atom, partition_offset& at) {
      self->state.mark_position(at.partition, at.offset);
      self->state.end_finished_waits();
    },
    [=](tick_atom) {
      if (!from_itself(self))
        return;
      self->state.tick();
      self->delayed_send(self, self->state.cfg.commit_interval,
                         tick_atom::value);
    },
    [=](lost_atom, word_batch& words) {
      return self->state.unconfirmed(std::move(words));
    },
    [=](drain_atom) -> caf::result<bool, partition_offsets> {
      return self->state.drain();
    },
    [=](status_atom) { return self->state.status(); },
  };
}

} // namespace rpcbatch
