#include "actors/pipeline/sink.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "actors/observe/reporting.hpp"
#include "actors/observe/histogram.hpp"
#include "actors/pipeline/formats.hpp"
#include "services/adapters/kafka_producer.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

using self_ptr = sink_actor::stateful_pointer<sink_state>;

int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

/// Adds one word to an acknowledgement, merging it with its neighbour of
/// the same record.
void acknowledge(delivery_ack& ack, const element& e) {
  auto& r = ack.records;
  if (!r.empty() && r.back().partition == e.partition
      && r.back().offset == e.offset && r.back().epoch == e.epoch)
    ++r.back().words;
  else
    r.push_back(record_word_count{e.partition, e.offset, 1, e.epoch});
  ack.positions.push_back(e.index);
}

/// The callback of a delivery group (it runs on the producer's poll
/// thread): acknowledges the words whose records the broker confirmed and
/// hands the others back to the sink with their errors. A group holds
/// either outputs (`lengths`) or dead letters (`reasons`).
struct group_outcome {
  std::vector<element> elements;
  std::vector<int32_t> lengths;
  std::vector<std::string> reasons;
  source_actor ack_to;
  sink_actor sink;
  std::shared_ptr<latency_histogram> latency;
  std::shared_ptr<sink_confirmed> confirmed;

  void operator()(std::vector<delivery_failure> failures) {
    bool outputs = reasons.empty();
    delivery_ack ack;
    auto delivered = elements.size()
                     - std::min(failures.size(), elements.size());
    ack.records.reserve(delivered);
    ack.positions.reserve(delivered);
    undelivered_batch failed;
    auto now = now_ms();
    auto next = failures.begin();
    for (uint32_t i = 0; i < elements.size(); ++i) {
      auto& e = elements[i];
      if (next == failures.end() || next->index != i) {
        latency->record(now - e.timestamp);
        acknowledge(ack, e);
        continue;
      }
      failed.errors.push_back(next++->code);
      if (outputs)
        failed.lengths.push_back(lengths[i]);
      else
        failed.reasons.push_back(std::move(reasons[i]));
      failed.elements.push_back(std::move(e));
    }
    auto done = ack.positions.size();
    (outputs ? confirmed->outputs : confirmed->dead_letters) += done;
    if (done > 0)
      caf::anon_send(ack_to, std::move(ack));
    if (!failed.elements.empty())
      caf::anon_send(sink, std::move(failed));
  }
};

group_outcome outcome_of(self_ptr self, std::vector<element> elements,
                         std::vector<int32_t> lengths,
                         std::vector<std::string> reasons) {
  auto& st = self->state;
  return {std::move(elements), std::move(lengths), std::move(reasons),
          st.ack_to,           caf::actor_cast<sink_actor>(self),
          st.latency,          st.confirmed};
}

/// Produces one output record per element as one delivery group; `echo`
/// prints the values (first attempts only).
void write_outputs(self_ptr self, std::vector<element> elements,
                   std::vector<int32_t> lengths, bool echo) {
  auto& st = self->state;
  auto n = static_cast<uint32_t>(elements.size());
  auto group = st.producer->open_group(n);
  std::string printed;
  std::string value;
  value.reserve(64);
  for (uint32_t i = 0; i < n; ++i) {
    auto& e = elements[i];
    write_output_json(value, e.word, lengths[i]);
    auto code = st.producer->produce(st.cfg.output_topic, e.word, value,
                                     *group, i);
    if (code == 0) {
      if (echo) {
        printed += value;
        printed += '\n';
      }
      continue;
    }
    // The group reports the failure; the undelivered handler decides.
    ++st.counters.produce_errors;
    if (kafka_error_name(code) == "MSG_SIZE_TOO_LARGE") {
      ++st.counters.too_large;
      log::warn("sink", "output record for a word of ", e.word.size(),
                " bytes is too large: written to the dead-letter topic");
    }
  }
  st.producer->close(*group, outcome_of(self, std::move(elements),
                                        std::move(lengths), {}));
  if (!printed.empty()) {
    std::fwrite(printed.data(), 1, printed.size(), stdout);
    std::fflush(stdout);
  }
}

/// Produces one dead letter per element, with its reason, as one delivery
/// group.
void write_dead_letters(self_ptr self, std::vector<element> elements,
                        std::vector<std::string> reasons);

/// A batch from the rpc-caller (perhaps on another node): its outputs, or
/// dead letters if it does not hold one length per element.
void write_resolved(self_ptr self, resolved_batch& batch) {
  auto& st = self->state;
  ++st.counters.batches;
  auto n = batch.elements.size();
  if (n == 0)
    return;
  if (batch.lengths.size() == n) {
    write_outputs(self, std::move(batch.elements), std::move(batch.lengths),
                  st.cfg.echo);
    return;
  }
  log::error("sink", "a resolved batch of ", n, " element(s) came with ",
             batch.lengths.size(), " length(s): written as dead letters");
  std::vector<std::string> reasons(n, "resolved batch without one length "
                                      "per element");
  write_dead_letters(self, std::move(batch.elements), std::move(reasons));
}

/// Produces one dead letter per element, with its reason, as one delivery
/// group.
void write_dead_letters(self_ptr self, std::vector<element> elements,
                        std::vector<std::string> reasons) {
  auto& st = self->state;
  auto n = static_cast<uint32_t>(elements.size());
  auto group = st.producer->open_group(n);
  for (uint32_t i = 0; i < n; ++i) {
    auto& e = elements[i];
    auto key = std::string_view{e.word}.substr(0, 1024);
    auto value = dead_letter_json(e, st.cfg.input_topic, reasons[i]);
    if (st.producer->produce(st.cfg.dead_letter_topic, key, value, *group, i)
        != 0)
      ++st.counters.produce_errors;
  }
  st.producer->close(*group, outcome_of(self, std::move(elements), {},
                                        std::move(reasons)));
}

/// Tells the node that nothing more can be written (once).
void fail(self_ptr self, const std::string& error) {
  auto& st = self->state;
  if (st.failed)
    return;
  st.failed = true;
  log::error("sink", error);
  self->send(st.node, fatal_atom::value, error);
}

/// Keeps element `i` of `batch` for the next retry round.
void retry_later(self_ptr self, undelivered_batch& batch, std::size_t i) {
  auto& st = self->state;
  st.last_transient = batch.errors[i];
  if (batch.reasons.empty()) {
    st.outputs_again.elements.push_back(std::move(batch.elements[i]));
    st.outputs_again.lengths.push_back(batch.lengths[i]);
  } else {
    st.letters_again.push_back(std::move(batch.elements[i]));
    st.reasons_again.push_back(std::move(batch.reasons[i]));
  }
  if (!st.retry_armed) {
    st.retry_armed = true;
    self->delayed_send(self, st.cfg.retry_backoff, retry_atom::value);
  }
}

/// Sorts what Kafka did not take: permanent refusals of outputs become
/// dead letters, transient failures wait for the next retry round, purged
/// records are dropped (never acknowledged, so never committed); a fatal
/// producer error or a refused dead letter stops the node.
void sort_undelivered(self_ptr self, undelivered_batch& batch) {
  auto& st = self->state;
  auto n = batch.elements.size();
  bool outputs = batch.lengths.size() == n && batch.reasons.empty();
  bool letters = batch.reasons.size() == n && batch.lengths.empty();
  if (batch.errors.size() != n || !(outputs || letters)) {
    log::error("sink", "ignored a malformed undelivered batch");
    return;
  }
  if (st.failed)
    return;
  if (auto error = st.producer->fatal_error(); !error.empty())
    return fail(self, "the Kafka producer failed: " + error);
  std::vector<element> refused;
  std::vector<std::string> reasons;
  for (std::size_t i = 0; i < n; ++i) {
    auto code = batch.errors[i];
    switch (classify_delivery_failure(code)) {
      case failure_kind::fatal:
        return fail(self, "the Kafka producer failed: "
                            + kafka_error_text(code));
      case failure_kind::purged:
        ++st.counters.purged;
        break;
      case failure_kind::permanent:
        if (!outputs)
          return fail(self, "the dead-letter topic " + st.cfg.dead_letter_topic
                              + " refused a dead letter: "
                              + kafka_error_text(code));
        ++st.counters.permanent_refusals;
        ++st.counters.refusals_by_error[kafka_error_name(code)];
        refused.push_back(std::move(batch.elements[i]));
        reasons.push_back("output refused by Kafka (" + kafka_error_name(code)
                          + "): " + kafka_error_text(code));
        break;
      case failure_kind::transient:
        retry_later(self, batch, i);
        break;
    }
  }
  if (refused.empty())
    return;
  log::warn("sink", refused.size(), " output record(s) refused: ",
            reasons.front(), ": written to the dead-letter topic");
  write_dead_letters(self, std::move(refused), std::move(reasons));
}

/// The backoff ran out: produces every record kept for a retry round.
void produce_again(self_ptr self) {
  auto& st = self->state;
  st.retry_armed = false;
  auto outputs = std::move(st.outputs_again);
  auto letters = std::move(st.letters_again);
  auto reasons = std::move(st.reasons_again);
  st.outputs_again = {};
  st.letters_again.clear();
  st.reasons_again.clear();
  auto n = outputs.elements.size() + letters.size();
  if (n == 0 || st.failed)
    return;
  st.counters.reproduced += n;
  log::warn("sink", "producing ", n, " record(s) again after ",
            kafka_error_text(st.last_transient));
  if (!outputs.elements.empty())
    write_outputs(self, std::move(outputs.elements),
                  std::move(outputs.lengths), false);
  if (!letters.empty())
    write_dead_letters(self, std::move(letters), std::move(reasons));
}

actor_status status_of_sink(self_ptr self) {
  auto& st = self->state;
  auto out = st.counters;
  out.input_topic = st.cfg.input_topic;
  out.output_topic = st.cfg.output_topic;
  out.dead_letter_topic = st.cfg.dead_letter_topic;
  out.outputs = st.confirmed->outputs.load();
  out.dead_letters = st.confirmed->dead_letters.load();
  out.waiting_to_reproduce = st.outputs_again.elements.size()
                             + st.letters_again.size();
  out.delivered = st.producer->delivered();
  out.delivery_failures = st.producer->failed();
  out.queued = st.producer->outq_len();
  out.latency_ms_p50 = st.latency->quantile(0.5);
  out.latency_ms_p99 = st.latency->quantile(0.99);
  return status_of(self, std::move(out));
}

} // namespace

sink_actor::behavior_type
sink(sink_actor::stateful_pointer<sink_state> self, sink_config cfg,
     std::shared_ptr<sink_producer> producer,
     std::shared_ptr<latency_histogram> latency, node_actor node) {
  self->state.cfg = std::move(cfg);
  self->state.producer = std::move(producer);
  self->state.latency = std::move(latency);
  self->state.node = std::move(node);
  return {
    [=](source_actor& source) { self->state.ack_to = std::move(source); },
    [=](resolved_batch& batch) { write_resolved(self, batch); },
    [=](failed_batch& batch) {
      std::vector<std::string> reasons(batch.elements.size(), batch.reason);
      if (!batch.elements.empty())
        write_dead_letters(self, std::move(batch.elements),
                           std::move(reasons));
    },
    [=](undelivered_batch& batch) { sort_undelivered(self, batch); },
    [=](retry_atom) { produce_again(self); },
    [=](status_atom) { return status_of_sink(self); },
  };
}

} // namespace rpcbatch
