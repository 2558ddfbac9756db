// The messages that cross CAF nodes, as a peer could send them: the first
// byte picks a type, the rest goes to CAF's binary_deserializer. Whatever
// deserializes must serialize and deserialize again to the same bytes, and
// the receiving side's checks must cope with it: the source's confirmation
// of a delivery_ack on an offset tracker with records in flight, the
// rpc-caller's answer to an rpc_job, a partition_progress's questions, the
// sink's output and dead-letter values for resolved, failed and
// undelivered batches.
#include <limits>
#include <vector>

#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>

#include "actors/pipeline/formats.hpp"
#include "actors/pipeline/offset_tracker.hpp"
#include "actors/pipeline/rpc_caller.hpp"
#include "messages/types.hpp"
#include "services/adapters/rpc_client.hpp"
#include "tests/fuzz/fuzz.hpp"

using namespace rpcbatch;

namespace {

template <class T>
std::vector<char> serialize(T& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{nullptr, buf};
  auto err = sink(x);
  FUZZ_CHECK(!err);
  return buf;
}

/// Deserializes a T from the input; on success checks the round trip and
/// hands the value to `check`.
template <class T, class F>
void decode(std::string_view bytes, F check) {
  T x;
  caf::binary_deserializer src{nullptr, bytes.data(), bytes.size()};
  if (src(x))
    return;
  auto once = serialize(x);
  T y;
  caf::binary_deserializer again{nullptr, once};
  FUZZ_CHECK(!again(y));
  FUZZ_CHECK(again.remaining() == 0);
  FUZZ_CHECK(serialize(y) == once);
  check(x);
}

void nothing(const void*) {
  // nop
}

/// The source's side of a delivery_ack (source_state::confirm) on a
/// tracker with records of 1, 3, 64, 65 and 200 words in partitions 0 and
/// 1: whatever a peer acknowledges, words in flight never go below zero or
/// above what was sent, a record is done only when every word it has is
/// confirmed, and the commit point only moves forward.
void confirm(const delivery_ack& ack) {
  offset_tracker t;
  static constexpr uint32_t sizes[] = {1, 3, 64, 65, 200};
  int64_t sent = 0;
  for (int32_t p = 0; p < 2; ++p)
    for (int64_t o = 0; o < 5; ++o) {
      auto epoch = t.dispatched(p, o, sizes[o]);
      t.sent(p, o, epoch, sizes[o]);
      sent += sizes[o];
    }
  FUZZ_CHECK(t.words_in_flight() == sent);
  uint64_t fresh_total = 0;
  std::size_t at = 0;
  for (auto& r : ack.records) {
    auto before = t.commit_point(r.partition);
    auto fresh = t.acked(r, ack.positions, at);
    at += r.words;
    FUZZ_CHECK(fresh <= r.words);
    fresh_total += fresh;
    auto after = t.commit_point(r.partition);
    FUZZ_CHECK(before.has_value() == after.has_value());
    if (before)
      FUZZ_CHECK(*after >= *before);
    FUZZ_CHECK(t.words_in_flight() >= 0);
    FUZZ_CHECK(t.words_in_flight() == sent - static_cast<int64_t>(fresh_total));
  }
  for (int32_t p = 0; p < 2; ++p) {
    auto point = t.commit_point(p).value_or(-1);
    FUZZ_CHECK(point >= 0 && point <= 5);
    FUZZ_CHECK(t.confirmed_words(p) <= 333);
    // Every record below the commit point is done: all its words are
    // confirmed.
    for (int64_t o = 0; o < point; ++o)
      for (uint32_t i = 0; i < sizes[o]; ++i)
        FUZZ_CHECK(t.confirmed(element{"w", p, o, 0, 0, i}));
  }
  FUZZ_CHECK(t.pending_records() <= 10);
}

/// The rpc-caller's side of a job: answered with a valid length for every
/// unique word, it gives every element a length, or refuses the job.
void answer(const rpc_job& job) {
  std::vector<int32_t> lengths;
  for (auto& w : job.words)
    lengths.push_back(static_cast<int32_t>(code_points(w)));
  std::vector<int32_t> out;
  std::string error;
  if (element_lengths(job, lengths, out, error)) {
    FUZZ_CHECK(out.size() == job.elements.size());
    for (std::size_t i = 0; i < out.size(); ++i)
      FUZZ_CHECK(out[i] == lengths[job.word_index[i]]);
  } else {
    FUZZ_CHECK(!error.empty());
  }
}

void ask(const partition_progress& d) {
  auto before = [](int64_t x) {
    return x == std::numeric_limits<int64_t>::min() ? x : x - 1;
  };
  for (auto o : {before(d.commit_point), d.commit_point, before(d.read_end), d.read_end, int64_t{0}})
    for (auto epoch : {d.epoch, d.epoch + 1, d.epoch - 1})
      nothing(d.done(epoch, o) ? &d : nullptr);
  for (auto o : d.pending)
    nothing(d.done(d.epoch, o) ? &d : nullptr);
}

/// What the sink writes for elements: outputs when there is one length per
/// element, dead letters with the reason otherwise.
void write(const std::vector<element>& elements,
           const std::vector<int32_t>& lengths, std::string_view reason) {
  std::string value;
  for (std::size_t i = 0; i < elements.size(); ++i) {
    if (lengths.size() == elements.size()) {
      write_output_json(value, elements[i].word, lengths[i]);
      FUZZ_CHECK(!value.empty());
    } else {
      // Readable by the replay whatever the word and the reason; a
      // negative partition or offset is no record's provenance, and the
      // replay refuses it.
      auto& e = elements[i];
      auto letter = parse_dead_letter(dead_letter_json(e, "input-topic", reason));
      FUZZ_CHECK(letter || e.partition < 0 || e.offset < 0);
    }
  }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, std::size_t size) {
  if (size == 0)
    return 0;
  std::string_view bytes{reinterpret_cast<const char*>(data) + 1, size - 1};
  switch (data[0] % 12) {
    case 0:
      decode<word_batch>(bytes, [](word_batch& x) { write(x.elements, {}, "r"); });
      break;
    case 1:
      decode<resolved_batch>(bytes, [](resolved_batch& x) {
        write(x.elements, x.lengths, "resolved batch without one length");
      });
      break;
    case 2:
      decode<failed_batch>(bytes, [](failed_batch& x) {
        write(x.elements, {}, x.reason);
      });
      break;
    case 3:
      decode<undelivered_batch>(bytes, [](undelivered_batch& x) {
        auto n = x.elements.size();
        if (x.errors.size() != n)
          return;
        if (x.lengths.size() == n && x.reasons.empty())
          write(x.elements, x.lengths, {});
        else if (x.reasons.size() == n && x.lengths.empty())
          for (std::size_t i = 0; i < n; ++i)
            write({x.elements[i]}, {}, x.reasons[i]);
      });
      break;
    case 4:
      decode<delivery_ack>(bytes, confirm);
      break;
    case 5:
      decode<rpc_job>(bytes, answer);
      break;
    case 6:
      decode<word_answers>(bytes, [](word_answers& x) {
        nothing(x.lengths.size() == x.words.size() ? &x : nullptr);
      });
      break;
    case 7:
      decode<partition_progress>(bytes, ask);
      break;
    case 8:
      decode<std::vector<partition_progress>>(bytes, [](auto& xs) {
        for (auto& x : xs)
          ask(x);
      });
      break;
    case 9:
      decode<record_batch>(bytes, [](record_batch&) {});
      break;
    case 10:
      decode<partition_offsets>(bytes, [](partition_offsets&) {});
      break;
    case 11:
      decode<rpc_reply>(bytes, [](rpc_reply& x) {
        rpc_job job;
        job.words.assign(x.lengths.size(), "word");
        std::vector<int32_t> out;
        std::string error;
        element_lengths(job, x.lengths, out, error);
      });
      break;
  }
  return 0;
}
