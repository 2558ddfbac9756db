#include "actors/pipeline/source.hpp"

#include <algorithm>

#include "actors/observe/reporting.hpp"
#include "actors/pipeline/formats.hpp"
#include "actors/pipeline/words.hpp"
#include "services/adapters/kafka_consumer.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

template <class T>
std::vector<int32_t> partitions_of(const std::vector<T>& xs) {
  std::vector<int32_t> out;
  for (auto& x : xs)
    out.push_back(x.partition);
  return out;
}

int64_t to_ms(caf::timespan d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
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
    if (!is_current(rec.partition, rec.epoch)) {
      // Of an epoch that is over (revoked, or its log restarted): the
      // partition's owner reads it again from the commit point.
      ++counters.records_of_revoked_partitions;
      continue;
    }
    // Within an epoch the consumer hands a record over once (an offset
    // handed over again starts a new epoch); should one come again, it is
    // tracked once, so it goes on once.
    if (tracker.dispatched_before(rec.partition, rec.offset)) {
      ++again;
      continue;
    }
    if (cfg.replay_dead_letters && !to_replay(rec))
      ++unusable;
    // The one scan of the value: its words go on with it (and its pieces)
    // to the tokenizer.
    rec.words = measure_words(rec.value);
    auto n = static_cast<uint32_t>(rec.words.size());
    ++counters.records;
    counters.words += n;
    counters.null_records += rec.null_value ? 1 : 0;
    counters.records_without_words += !rec.null_value && n == 0 ? 1 : 0;
    tracker.dispatched(rec.partition, rec.offset, n);
    rec.seq = ++seq;
    mark_position(rec.partition, rec.offset + 1);
    if (n == 0)
      continue; // done already
    held.push_back(held_record{std::move(rec), n, 0, 0, number});
    held_words += n;
    ++kept;
  }
  if (again > 0) {
    counters.records_handed_over_again += again;
    log::warn("source", "the consumer handed over ", again,
              " record(s) again in the same epoch: skipped, they are ",
              "tracked already");
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

bool source_state::is_current(int32_t partition, uint32_t epoch) const {
  auto i = assigned.find(partition);
  return i != assigned.end() && i->second == epoch;
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
                     false,           h.rec.epoch,  h.sent,  h.rec.seq};
  if (h.sent == 0 && n == h.words) {
    piece.value = std::move(h.rec.value);
    piece.words = std::move(h.rec.words);
  } else {
    if (h.sent == 0)
      ++counters.records_in_pieces;
    // From the end of the last piece to the end of its n-th word (the last
    // piece: to the end of the value), with its words where they are in it.
    auto first = h.rec.words.begin() + h.sent;
    auto last = first + n;
    auto end = h.sent + n == h.words ? h.rec.value.size() : last[-1].end();
    piece.value.assign(h.rec.value, h.at, end - h.at);
    piece.words.reserve(n);
    for (auto w = first; w != last; ++w)
      piece.words.push_back(
        word_span{static_cast<uint32_t>(w->at - h.at), w->size});
    h.at = end;
  }
  tracker.sent(h.rec.partition, h.rec.offset, h.rec.epoch, n);
  h.sent += n;
  held_words -= n;
  ++counters.pieces;
  return piece;
}

void source_state::feed() {
  auto window = this->window.size();
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
  if (!out.records.empty()) {
    this->window.sent(self->clock().now());
    self->send(tokenizer, std::move(out));
  }
  auto stalled = !held.empty();
  if (stalled)
    this->window.limited();
  if (stalled && !waiting_for_credit) {
    ++counters.credit_stalls;
    events.add(event_kind::credit, "credit window spent: consuming waits");
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
    window.confirmed(fresh);
  }
  update_window();
  feed();
  end_finished_waits();
}

void source_state::update_window() {
  auto before = window.size();
  if (!window.update(self->clock().now()))
    return;
  auto after = window.size();
  // Only changes of a quarter or more are events: the window follows the
  // rate closely.
  if (after < before * 3 / 4 || after > before * 5 / 4)
    events.add(event_kind::credit, "credit window " + std::to_string(before) + " -> "
                           + std::to_string(after) + " words ("
                           + std::to_string(static_cast<int64_t>(window.rate()))
                           + " words/s confirmed)");
}

// -- assignments, epochs and revokes ------------------------------------------

void source_state::assign(const partition_offsets& parts) {
  std::vector<partition_epoch> ended;
  for (auto& p : parts.entries) {
    start_epoch(p.partition, p.epoch, ended);
    if (p.offset >= 0)
      end_offsets[p.partition] = p.offset;
  }
  events.add(event_kind::rebalance,
             "partitions assigned " + list_text(partitions_of(parts.entries)));
  end_epochs(ended);
  end_finished_waits();
}

void source_state::start_epoch(int32_t partition, uint32_t epoch,
                               std::vector<partition_epoch>& ended) {
  if (auto i = assigned.find(partition); i != assigned.end()) {
    if (i->second == epoch)
      return;
    // The consumer gave the partition up (a revoke it stopped waiting
    // for) or its log restarted, and it is assigned again: what was
    // tracked of the older epoch is over.
    ++counters.epochs_superseded;
    log::warn("source", "partition ", partition, " starts epoch ", epoch,
              " while epoch ", i->second, " was tracked: that one is over ",
              "(its words still waiting are dropped, nothing of it is ",
              "committed)");
    ended.push_back(partition_epoch{partition, i->second});
  }
  // A revoke of the partition still waiting is over too.
  for (auto& w : revokes) {
    auto& ps = w.partitions;
    ps.erase(std::remove_if(ps.begin(), ps.end(),
                            [&](const partition_epoch& x) {
                              return x.partition == partition;
                            }),
             ps.end());
  }
  assigned[partition] = epoch;
  tracker.start(partition, epoch);
  finished.erase(partition);
  marks.erase(partition);
}

void source_state::end_epochs(const std::vector<partition_epoch>& ended) {
  if (ended.empty())
    return;
  drop_held(partitions_of(ended));
  self->request(tokenizer, caf::infinite, cancel_atom::value, ended)
    .then([st = this](uint64_t n) { st->counters.words_cancelled += n; },
          [](caf::error&) {});
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
  std::vector<partition_epoch> asked;
  std::vector<partition_epoch> mine;
  for (auto& p : parts.entries) {
    asked.push_back(partition_epoch{p.partition, p.epoch});
    if (is_current(p.partition, p.epoch))
      mine.push_back(asked.back());
  }
  if (mine.empty()) {
    // Epochs that are over here: nothing to wait for or commit (and if the
    // consumer gave up on this revoke already, it ignores the answer).
    log::info("source", "revoke of ", parts.entries.size(),
              " partition(s) in epochs that are over: released at once");
    consumer->release(std::move(asked), {});
    return;
  }
  ++counters.revokes;
  events.add(event_kind::rebalance,
             "partitions revoked " + list_text(partitions_of(mine)));
  auto now = self->clock().now();
  revoke_wait w{++revoke_ids, asked, mine, now, now + cfg.revoke_timeout};
  revokes.push_back(w);
  // Records not let in yet are simply not sent; the words waiting in bags
  // and in the RPC queue are dropped (the partitions' next owner redoes
  // them); only the calls and writes in flight are awaited.
  drop_held(partitions_of(mine));
  auto answered = [st = this, id = w.id](uint64_t dropped) {
    st->counters.words_cancelled += dropped;
    for (auto& x : st->revokes)
      if (x.id == id) {
        x.cancel_answered = true;
        x.dropped += static_cast<int64_t>(dropped);
      }
    st->end_finished_waits();
  };
  self->request(tokenizer, caf::infinite, cancel_atom::value, mine)
    .then(answered, [answered](caf::error&) { answered(0); });
  self->delayed_send(self, cfg.revoke_timeout, revoked_atom::value, w.id);
  feed();
}

void source_state::end_finished_waits() {
  check_revokes();
  check_drain();
  check_input_end();
}

void source_state::check_revokes() {
  auto now = self->clock().now();
  for (auto i = revokes.begin(); i != revokes.end();) {
    int64_t in_flight = 0;
    for (auto& p : i->partitions)
      in_flight += tracker.words_in_flight(p.partition);
    auto done = i->cancel_answered && in_flight <= i->dropped;
    if (!done && now < i->deadline) {
      ++i;
      continue;
    }
    auto w = std::move(*i);
    i = revokes.erase(i);
    // A revoke whose partitions were all assigned again is over: the
    // consumer gave up on it.
    if (!w.partitions.empty())
      finish_revoke(w, done);
  }
}

void source_state::finish_revoke(const revoke_wait& w, bool complete) {
  auto parts = partitions_of(w.partitions);
  auto ms = to_ms(self->clock().now() - w.started);
  counters.last_revoke_ms = static_cast<uint64_t>(ms);
  counters.longest_revoke_ms
    = std::max(counters.longest_revoke_ms, counters.last_revoke_ms);
  if (!complete) {
    ++counters.revokes_given_up;
    log::warn("source", "revoke of ", list_text(parts), ": words still in ",
              "flight after ", ms, " ms (--revoke-timeout-secs); ",
              "committing what is done and letting go");
  } else {
    log::info("source", "revoke of ", list_text(parts), " done in ", ms,
              " ms");
  }
  consumer->release(w.asked, tracker.commits_of(parts));
  for (auto p : parts) {
    tracker.forget(p);
    assigned.erase(p);
    marks.erase(p);
  }
  feed();
}

void source_state::check_drain() {
  if (!drain_deadline || !drain_promise.pending())
    return;
  auto done = tracker.pending_records() == 0;
  if (!done && self->clock().now() < *drain_deadline)
    return;
  drain_deadline.reset();
  if (!done)
    log::warn("source", "drain: ", tracker.pending_records(),
              " record(s) still pending; committing what is done");
  drain_promise.deliver(done, partition_offsets{
                                tracker.commits_of(tracker.partitions())});
}

void source_state::check_input_end() {
  if (!cfg.bounded || input_end_sent || assigned.empty())
    return;
  for (auto& [p, epoch] : assigned)
    if (finished.count(p) == 0)
      return;
  input_end_sent = true;
  self->send(node, input_end_atom::value);
}

// -- the periodic tick --------------------------------------------------------

void source_state::tick() {
  auto commits = tracker.take_commits();
  // Only partitions assigned now, in their epochs (the consumer checks
  // again against its own assignment).
  commits.erase(std::remove_if(commits.begin(), commits.end(),
                               [&](const partition_offset& x) {
                                 return !is_current(x.partition, x.epoch);
                               }),
                commits.end());
  if (!commits.empty()) {
    ++commit_requests;
    consumer->commit(std::move(commits));
  }
  // The router forgets the words it kept of records now done.
  self->send(router, tracker.progress());
  check_assignment();
  check_stuck();
  update_window();
  flush_stalled();
  end_finished_waits();
}

void source_state::flush_stalled() {
  auto confirmed = counters.words_acked != acked_at_tick;
  acked_at_tick = counters.words_acked;
  if (confirmed)
    stall_flushed = false;
  if (confirmed || !waiting_for_credit || tracker.words_in_flight() == 0
      || stall_flushed)
    return;
  stall_flushed = true;
  ++counters.stall_flushes;
  // Through the tokenizer, so that it reaches the router after the words.
  self->request(tokenizer, caf::infinite, end_of_window_atom::value)
    .then(
      [st = this](uint64_t n) {
        if (n > 0)
          st->events.add(event_kind::credit, "credit window spent and nothing "
                                   "confirmed for a tick: "
                                     + std::to_string(n)
                                     + " word(s) flushed from the bags");
      },
      [](caf::error&) {});
}

void source_state::check_assignment() {
  std::map<int32_t, uint32_t> consumer_only;
  std::set<int32_t> here_only;
  std::set<int32_t> theirs;
  for (auto& c : consumer->assignment()) {
    theirs.insert(c.partition);
    if (!is_current(c.partition, c.epoch))
      consumer_only.emplace(c.partition, c.epoch);
  }
  auto revoking = [&](int32_t p) {
    return std::any_of(revokes.begin(), revokes.end(), [&](auto& w) {
      return cancelled(w.partitions, p, assigned[p]);
    });
  };
  for (auto& [p, epoch] : assigned)
    if (theirs.count(p) == 0 && !revoking(p))
      here_only.insert(p);
  // What differed at the last tick and still does is repaired: every
  // message of the consumer sent before that tick has arrived since.
  std::vector<partition_epoch> ended;
  for (auto i = consumer_only.begin(); i != consumer_only.end();) {
    auto [p, epoch] = *i;
    auto before = only_in_consumer.find(p);
    if (before == only_in_consumer.end() || before->second != epoch) {
      ++i;
      continue;
    }
    ++counters.assignment_repairs;
    log::warn("source", "partition ", p, " is assigned to the consumer in ",
              "epoch ", epoch, " but was not tracked: tracking it now");
    start_epoch(p, epoch, ended);
    i = consumer_only.erase(i);
  }
  for (auto i = here_only.begin(); i != here_only.end();) {
    auto p = *i;
    if (only_here.count(p) == 0) {
      ++i;
      continue;
    }
    ++counters.assignment_repairs;
    log::warn("source", "partition ", p, " was tracked but is not assigned ",
              "to the consumer: forgetting it without a commit");
    ended.push_back(partition_epoch{p, assigned[p]});
    tracker.forget(p);
    assigned.erase(p);
    marks.erase(p);
    i = here_only.erase(i);
  }
  end_epochs(ended);
  only_in_consumer = std::move(consumer_only);
  only_here = std::move(here_only);
}

void source_state::check_stuck() {
  if (cfg.stuck_after.count() <= 0)
    return;
  auto now = self->clock().now();
  unread.clear();
  for (auto& c : consumer->assignment())
    if (c.unread_for >= cfg.stuck_after) {
      unread.push_back(c.partition);
      if (unread_reported.insert(c.partition).second) {
        ++counters.stuck_reports;
        log::warn("source", "partition ", c.partition, " is stuck: it has ",
                  c.lag, " record(s) to read and none was read for ",
                  to_ms(c.unread_for), " ms");
      }
    } else {
      unread_reported.erase(c.partition);
    }
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
  out.window = window.size();
  out.max_window = cfg.max_inflight_words;
  out.confirm_rate = window.rate();
  out.window_shrinks = window.shrinks();
  out.window_grows = window.grows();
  out.revoking = revokes.size();
  out.log_restarts = consumer->log_restarts();
  out.consumer_lag = consumer->lag();
  out.operator_paused = consumer->paused_by_operator();
  out.paused_for_credit = consumer->paused_for_credit();
  out.offsets_out_of_range = consumer->offsets_out_of_range();
  for (auto& [p, e] : only_in_consumer)
    out.unmatched_partitions.push_back(p);
  out.unmatched_partitions.insert(out.unmatched_partitions.end(),
                                  only_here.begin(), only_here.end());
  out.waiting_for_credit = waiting_for_credit;
  out.held_records = held.size();
  out.held_words = held_words;
  out.records_pending = tracker.pending_records();
  for (auto& [p, epoch] : assigned) {
    out.assigned.push_back(p);
    out.epochs[p] = epoch;
    if (auto point = tracker.commit_point(p))
      out.commit_points[p] = *point;
  }
  for (auto& [p, m] : marks)
    if (m.reported)
      out.stuck_partitions.push_back(p);
  for (auto p : unread)
    if (std::find(out.stuck_partitions.begin(), out.stuck_partitions.end(), p)
        == out.stuck_partitions.end())
      out.stuck_partitions.push_back(p);
  if (first_record)
    out.active_seconds = seconds_between(*first_record, self->clock().now());
  out.commits = consumer->commits();
  out.commit_failures = consumer->commit_failures();
  out.draining = draining;
  return status_of(self, std::move(out), events);
}

// -- wiring -------------------------------------------------------------------

consumer_events events_for(source_actor src,
                           std::function<void(const std::string&)> fatal) {
  consumer_events events;
  events.records = [src](record_batch&& b) {
    caf::anon_send(src, std::move(b));
  };
  events.assigned = [src](std::vector<partition_offset>&& parts) {
    caf::anon_send(src, assigned_atom::value,
                   partition_offsets{std::move(parts)});
  };
  events.revoked = [src](std::vector<partition_offset>&& parts) {
    caf::anon_send(src, revoked_atom::value,
                   partition_offsets{std::move(parts)});
  };
  events.end_of_partition = [src](partition_offset at) {
    caf::anon_send(src, eof_atom::value, at);
  };
  events.fatal = std::move(fatal);
  return events;
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
  st.window = credit_window{{cfg.max_inflight_words, cfg.min_inflight_words,
                             cfg.max_inflight_time}};
  self->delayed_send(self, cfg.commit_interval, tick_atom::value);
  return {
    [=](record_batch& batch) { self->state.take(batch); },
    [=](delivery_ack& ack) { self->state.confirm(ack); },
    [=](assigned_atom, partition_offsets& parts) {
      self->state.assign(parts);
    },
    [=](revoked_atom, partition_offsets& parts) {
      self->state.revoked(parts);
    },
    [=](revoked_atom, uint64_t) { self->state.end_finished_waits(); },
    [=](eof_atom, partition_offset& at) {
      if (!self->state.is_current(at.partition, at.epoch))
        return;
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
    [=](pause_atom, bool paused) {
      self->state.consumer->pause_for_operator(paused);
      return self->state.consumer->paused_by_operator();
    },
    [=](status_atom) { return self->state.status(); },
  };
}

} // namespace rpcbatch
