// Plain data that crosses actors (and CAF nodes). Every type here has an
// inspect overload and a type ID (messages/type_ids.hpp); registration in
// messages/registration.cpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/meta/type_name.hpp>

namespace rpcbatch {

/// The most buckets (batchers per ingest node) a node runs or spawns for a
/// peer.
inline constexpr uint32_t max_buckets = 256;

/// Where a word is in a record value: value.substr(at, size).
struct word_span {
  uint32_t at = 0;
  uint32_t size = 0;

  std::size_t end() const {
    return std::size_t{at} + size;
  }
};

/// One consumed Kafka record with its provenance.
struct input_record {
  int32_t partition = 0;
  int64_t offset = 0;
  /// Kafka record timestamp, milliseconds since the epoch.
  int64_t timestamp = 0;
  /// The record value; null values arrive empty with `null_value` set.
  std::string value;
  bool null_value = false;
  /// The epoch of the partition's assignment the record was read in (the
  /// consumer starts one at every assignment and when the log restarted).
  uint32_t epoch = 0;
  /// The position of the first word of `value` in its record: a record
  /// larger than the credit window enters in pieces, each a run of whole
  /// words of the value.
  uint32_t first_index = 0;
  /// The source's number of the record, in the order it was taken: the
  /// RPC stage serves the oldest words first, so that records finish in
  /// order and commits keep moving.
  uint64_t seq = 0;
  /// Where the words of `value` are, in order: the source measures them
  /// once (for credit and pieces) and hands them on with the record, so
  /// that the tokenizer cuts them out without scanning the value again.
  std::vector<word_span> words = {};
};

/// Records of the input topic (poll thread -> source), or records and
/// pieces of records that the source lets in (source -> tokenizer).
struct record_batch {
  std::vector<input_record> records;
};

/// One word occurrence and the record it came from.
struct element {
  std::string word;
  int32_t partition = 0;
  int64_t offset = 0;
  int64_t timestamp = 0;
  uint32_t epoch = 0;
  /// The word's position in its record (0, 1, ...): a word sent twice
  /// (after a batcher node was lost) is confirmed once.
  uint32_t index = 0;
  /// The record's sequence number (input_record::seq): lower is older.
  uint64_t seq = 0;
};

/// Words in record order (tokenizer -> router -> batcher).
struct word_batch {
  std::vector<element> elements;
};

/// A count of words that belong to one input record.
struct record_word_count {
  int32_t partition = 0;
  int64_t offset = 0;
  uint32_t words = 0;
  uint32_t epoch = 0;
};

/// Words of records whose output the broker acknowledged (sink -> source):
/// for records[i], `words` of its words, whose positions in the record
/// follow one another in `positions` (in the order of `records`).
struct delivery_ack {
  std::vector<record_word_count> records;
  std::vector<uint32_t> positions;
};

/// Which of a partition's records are done (source -> router, so that it
/// forgets the words it kept for sending again): every record of an older
/// epoch, and those of this epoch below `read_end` except the ones in
/// `pending` (ascending; none below `commit_point`).
struct partition_progress {
  int32_t partition = 0;
  uint32_t epoch = 0;
  /// Every record below is done: the commit point.
  int64_t commit_point = 0;
  /// The records read so far end here; of those from the commit point on,
  /// the ones in `pending` are not done.
  int64_t read_end = 0;
  std::vector<int64_t> pending;

  /// Whether a record of this partition is done (or will be read again).
  bool done(uint32_t record_epoch, int64_t offset) const;
};

/// Why a batcher flushed.
enum class flush_trigger : uint8_t { count, timer, end_of_window, bytes };

const char* to_string(flush_trigger x);

/// A flushed bag (batcher -> rpc-caller): the unique words asked once, and
/// for each element the index of its word in `words`.
struct rpc_job {
  uint32_t bucket = 0;
  uint8_t trigger = 0;
  std::vector<std::string> words;
  std::vector<element> elements;
  std::vector<uint32_t> word_index;
};

/// The answers to a job's unique words (rpc-caller -> the batcher that sent
/// it, when its cache is on): lengths[i] answers words[i]; `failed`: the
/// job got no answer (it went to the dead-letter topic) and `lengths` is
/// empty.
struct word_answers {
  std::vector<std::string> words;
  std::vector<int32_t> lengths;
  bool failed = false;
};

/// Elements with their answers (rpc-caller -> sink): lengths[i] is the
/// length of elements[i].
struct resolved_batch {
  std::vector<element> elements;
  std::vector<int32_t> lengths;
};

/// Elements that cannot be written as output (rpc-caller or sink -> sink's
/// dead-letter topic), with the reason.
struct failed_batch {
  std::vector<element> elements;
  std::string reason;
};

/// Records of one delivery group that Kafka did not take (the producer's
/// delivery reports -> sink): elements[i] failed with librdkafka error code
/// errors[i]. Outputs carry their lengths (lengths[i]), dead letters their
/// reasons (reasons[i]); the other vector is empty.
struct undelivered_batch {
  std::vector<element> elements;
  std::vector<int32_t> lengths;
  std::vector<std::string> reasons;
  std::vector<int32_t> errors;
};

/// A gRPC answer handed from the gRPC thread to the rpc-caller.
struct rpc_reply {
  uint64_t job = 0;
  /// grpc::StatusCode; 0 is OK.
  int32_t code = 0;
  std::string error;
  std::vector<int32_t> lengths;
};

/// Partitions with an offset each (assignment: end offsets at start-up;
/// commits: next offset to read), in an epoch of the partition: every
/// assignment of a partition starts one, and so does a log that restarted
/// (topic recreated, log truncated). Nothing of an older epoch moves a
/// commit.
struct partition_offset {
  int32_t partition = 0;
  int64_t offset = 0;
  uint32_t epoch = 0;
};

/// A partition in one epoch: a revoke cancels the words of that epoch that
/// still wait in bags and queues (the partition's new owner redoes them).
struct partition_epoch {
  int32_t partition = 0;
  uint32_t epoch = 0;
};

/// A list of partitions as logs, events and summaries show it: "[0,2]".
std::string list_text(const std::vector<int32_t>& xs);

/// Whether `e` belongs to one of `xs` (a short list: a revoke's partitions).
bool cancelled(const std::vector<partition_epoch>& xs, int32_t partition,
               uint32_t epoch);

struct partition_offsets {
  std::vector<partition_offset> entries;
};

// -- inspection ---------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, word_span& x) {
  return f(caf::meta::type_name("word_span"), x.at, x.size);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, input_record& x) {
  return f(caf::meta::type_name("input_record"), x.partition, x.offset,
           x.timestamp, x.value, x.null_value, x.epoch, x.first_index, x.seq,
           x.words);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_batch& x) {
  return f(caf::meta::type_name("record_batch"), x.records);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, element& x) {
  return f(caf::meta::type_name("element"), x.word, x.partition, x.offset,
           x.timestamp, x.epoch, x.index, x.seq);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, word_batch& x) {
  return f(caf::meta::type_name("word_batch"), x.elements);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, record_word_count& x) {
  return f(caf::meta::type_name("record_word_count"), x.partition, x.offset,
           x.words, x.epoch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_progress& x) {
  return f(caf::meta::type_name("partition_progress"), x.partition, x.epoch,
           x.commit_point, x.read_end, x.pending);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delivery_ack& x) {
  return f(caf::meta::type_name("delivery_ack"), x.records, x.positions);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rpc_job& x) {
  return f(caf::meta::type_name("rpc_job"), x.bucket, x.trigger, x.words,
           x.elements, x.word_index);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, word_answers& x) {
  return f(caf::meta::type_name("word_answers"), x.words, x.lengths,
           x.failed);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resolved_batch& x) {
  return f(caf::meta::type_name("resolved_batch"), x.elements, x.lengths);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, failed_batch& x) {
  return f(caf::meta::type_name("failed_batch"), x.elements, x.reason);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, undelivered_batch& x) {
  return f(caf::meta::type_name("undelivered_batch"), x.elements, x.lengths,
           x.reasons, x.errors);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rpc_reply& x) {
  return f(caf::meta::type_name("rpc_reply"), x.job, x.code, x.error,
           x.lengths);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_offset& x) {
  return f(caf::meta::type_name("partition_offset"), x.partition, x.offset,
           x.epoch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_epoch& x) {
  return f(caf::meta::type_name("partition_epoch"), x.partition, x.epoch);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, partition_offsets& x) {
  return f(caf::meta::type_name("partition_offsets"), x.entries);
}

} // namespace rpcbatch
