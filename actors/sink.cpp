#include "actors/sink.hpp"

#include <cstdio>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/serializer.hpp>

#include "actors/status.hpp"
#include "services/histogram.hpp"
#include "services/kafka_producer.hpp"
#include "services/log.hpp"

namespace rpcbatch {

std::string output_json(std::string_view word, int32_t length) {
  // Boost.JSON escapes the word; the rest is fixed text (no allocation but
  // the result's).
  std::string out;
  out.reserve(word.size() + 28);
  out += R"({"word":)";
  boost::json::serializer sr;
  boost::json::string_view sv{word.data(), word.size()};
  sr.reset(sv);
  char buf[256];
  while (!sr.done())
    out += sr.read(buf);
  out += R"(,"length":)";
  out += std::to_string(length);
  out += '}';
  return out;
}

std::string dead_letter_json(const element& e, std::string_view reason,
                             std::size_t max_word) {
  boost::json::object obj;
  obj["word"] = std::string_view{e.word}.substr(0, max_word);
  obj["word_bytes"] = e.word.size();
  obj["partition"] = e.partition;
  obj["offset"] = e.offset;
  obj["timestamp"] = e.timestamp;
  obj["reason"] = reason;
  return boost::json::serialize(obj);
}

namespace {

using self_ptr = sink_actor::stateful_pointer<sink_state>;

/// Acknowledgement of a batch: the words of each record, merging
/// neighbours.
delivery_ack ack_of(const std::vector<element>& elements) {
  delivery_ack ack;
  ack.positions.reserve(elements.size());
  for (auto& e : elements) {
    auto& r = ack.records;
    if (!r.empty() && r.back().partition == e.partition
        && r.back().offset == e.offset && r.back().epoch == e.epoch)
      ++r.back().words;
    else
      r.push_back(record_words{e.partition, e.offset, 1, e.epoch});
    ack.positions.push_back(e.index);
  }
  return ack;
}

/// Opens a delivery group whose completion acknowledges `elements` to the
/// source and records their latency; a failed delivery is fatal.
std::shared_ptr<delivery_group> open_group(self_ptr self,
                                           const std::vector<element>& elements) {
  auto& st = self->state;
  std::vector<int64_t> stamps;
  stamps.reserve(elements.size());
  for (auto& e : elements)
    stamps.push_back(e.timestamp);
  return st.producer->open_group(
    [ack = ack_of(elements), stamps = std::move(stamps), to = st.ack_to,
     node = st.node, latency = st.latency](const std::string& error) mutable {
      if (!error.empty()) {
        caf::anon_send(node, fatal_atom::value,
                       "output delivery failed: " + error);
        return;
      }
      auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
      for (auto ts : stamps)
        latency->record(now - ts);
      caf::anon_send(to, std::move(ack));
    });
}

void produce_dead_letter(self_ptr self, const element& e,
                         std::string_view reason, delivery_group& group) {
  auto& st = self->state;
  std::string error;
  auto key = std::string_view{e.word}.substr(0, 1024);
  auto status = st.producer->produce(st.cfg.dead_letter_topic, key,
                                     dead_letter_json(e, reason), group, error);
  if (status == produce_status::queued) {
    ++st.dead_letters;
    return;
  }
  ++st.produce_errors;
  group.fail("cannot write to the dead-letter topic "
             + st.cfg.dead_letter_topic + ": " + error);
}

} // namespace

sink_actor::behavior_type
sink(sink_actor::stateful_pointer<sink_state> self, sink_config cfg,
     std::shared_ptr<kafka_producer> producer,
     std::shared_ptr<latency_histogram> latency, node_actor node) {
  self->state.cfg = std::move(cfg);
  self->state.producer = std::move(producer);
  self->state.latency = std::move(latency);
  self->state.node = std::move(node);
  return {
    [=](source_actor& source) { self->state.ack_to = std::move(source); },
    [=](resolved_batch& batch) {
      auto& st = self->state;
      ++st.batches;
      auto group = open_group(self, batch.elements);
      std::string echo;
      std::string error;
      for (std::size_t i = 0; i < batch.elements.size(); ++i) {
        auto& e = batch.elements[i];
        auto value = output_json(e.word, batch.lengths[i]);
        auto status = st.producer->produce(st.cfg.output_topic, e.word, value,
                                           *group, error);
        if (status == produce_status::queued) {
          ++st.outputs;
          if (st.cfg.echo) {
            echo += value;
            echo += '\n';
          }
        } else if (status == produce_status::too_large) {
          ++st.too_large;
          log::warn("sink", "output record for a word of ", e.word.size(),
                    " bytes is too large (", error,
                    "): written to the dead-letter topic");
          produce_dead_letter(self, e, "output record too large: " + error,
                              *group);
        } else {
          // Never acknowledged: the group reports the failure as fatal.
          ++st.produce_errors;
          group->fail("cannot produce to " + st.cfg.output_topic + ": "
                      + error);
        }
      }
      st.producer->close(*group);
      if (!echo.empty()) {
        std::fwrite(echo.data(), 1, echo.size(), stdout);
        std::fflush(stdout);
      }
    },
    [=](failed_batch& batch) {
      auto& st = self->state;
      auto group = open_group(self, batch.elements);
      for (auto& e : batch.elements)
        produce_dead_letter(self, e, batch.reason, *group);
      st.producer->close(*group);
    },
    [=](status_atom) {
      auto& st = self->state;
      return status_json(self,
        {{"output_topic", st.cfg.output_topic},
         {"dead_letter_topic", st.cfg.dead_letter_topic},
         {"batches", st.batches},
         {"outputs", st.outputs},
         {"dead_letters", st.dead_letters},
         {"too_large", st.too_large},
         {"produce_errors", st.produce_errors},
         {"delivered", st.producer->delivered()},
         {"delivery_failures", st.producer->failed()},
         {"queued", st.producer->outq_len()},
         {"latency_ms_p50", st.latency->quantile(0.5)},
         {"latency_ms_p99", st.latency->quantile(0.99)}});
    },
  };
}

} // namespace rpcbatch
