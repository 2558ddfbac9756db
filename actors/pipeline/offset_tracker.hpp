// Per-partition offset tracking for at-least-once commits: a record is
// registered with its number of words when it is taken, its words enter the
// pipeline (all at once, or in pieces as credit allows), and it is done once
// the broker confirmed the output of each of them (by position, so a word
// written twice counts once); the
// commit point of a partition is the lowest offset not done
// (the highest contiguous done offset + 1). Every assignment of a partition
// has its own epoch (the consumer's, see start()): counts and
// acknowledgements of an epoch that was forgotten (revoked, or superseded
// by a new assignment or a log that restarted) are ignored, so that they
// cannot mix with the records read in the new one, and commits name their
// epoch.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "messages/types.hpp"

namespace rpcbatch {

class offset_tracker {
public:
  /// Starts `epoch` of `partition` (an assignment, or a log that
  /// restarted): whatever was tracked of the partition is forgotten.
  void start(int32_t partition, uint32_t epoch);

  /// The partition's current epoch.
  uint32_t epoch(int32_t partition) const;

  /// A record of `words` words was taken in the partition's current epoch
  /// (a record without words is done at once). Returns that epoch, which
  /// its words must carry.
  uint32_t dispatched(int32_t partition, int64_t offset, uint32_t words);

  /// Whether the record was dispatched before in the partition's current
  /// epoch: its offset lies between the lowest and the highest dispatched
  /// (the consumer reads a partition in order, but may start again from an
  /// older offset).
  bool dispatched_before(int32_t partition, int64_t offset) const;

  /// `n` more words of the record entered the pipeline (positions `sent`,
  /// `sent` + 1, ... of it): they are in flight until confirmed.
  void sent(int32_t partition, int64_t offset, uint32_t epoch, uint32_t n);

  /// The broker confirmed the outputs of `r.words` words of the record, at
  /// the positions `positions[first]`, ... The record is done when every
  /// word of it was confirmed. A position that was never sent is ignored.
  /// Returns how many of them were not confirmed before.
  uint32_t acked(const record_word_count& r, const std::vector<uint32_t>& positions,
                 std::size_t first = 0);

  /// The offset to commit (next to read), if anything was dispatched.
  std::optional<int64_t> commit_point(int32_t partition) const;

  /// Commit points of every partition that moved since the last call, in
  /// their epochs.
  std::vector<partition_offset> take_commits();

  /// Whether the word's output needs no more writing: confirmed, its record
  /// done, or its epoch over (read again).
  bool confirmed(const element& e) const;

  /// Which records of every partition ever dispatched are done, with its
  /// epoch.
  std::vector<partition_progress> progress() const;

  /// Commit points of `partitions` (whether they moved or not).
  std::vector<partition_offset>
  commits_of(const std::vector<int32_t>& partitions) const;

  /// Words of `partition` confirmed so far (each once), in its epoch.
  uint64_t confirmed_words(int32_t partition) const;

  /// Records of `partition` not done yet.
  std::size_t pending_records(int32_t partition) const;

  std::size_t pending_records() const;

  /// Words sent but not yet confirmed, over every partition: the credit
  /// in use.
  int64_t words_in_flight() const {
    return words_in_flight_;
  }

  /// Words of `partition` sent but not yet confirmed.
  int64_t words_in_flight(int32_t partition) const;

  /// Forgets a partition (after it was revoked and committed) and ends its
  /// epoch: what still comes of it is ignored.
  void forget(int32_t partition);

  std::vector<int32_t> partitions() const;

private:
  struct entry {
    int64_t offset = 0;
    /// Words of the record, sent so far, confirmed so far.
    uint32_t words = 0;
    uint32_t sent = 0;
    uint32_t confirmed = 0;
    /// Positions confirmed so far, a bit each: the first 64 in place, the
    /// rest (records of more words) on the heap.
    uint64_t first_bits = 0;
    std::vector<uint64_t> more_bits;

    bool done() const {
      return confirmed == words;
    }
    /// The word of bits that holds `index`'s bit.
    uint64_t& bits_of(uint32_t index);
    bool has(uint32_t index) const;
  };

  struct partition_state {
    /// Records not done, and done ones above the first that is not, in
    /// ascending offsets: the consumer reads in order, so records join at
    /// the back and leave at the front (no allocation per record).
    std::deque<entry> pending;
    /// Entries of `pending` not done.
    std::size_t open = 0;
    /// The lowest offset dispatched, and one past the highest.
    int64_t first = -1;
    int64_t next = -1;
    int64_t last_taken = -1;
    uint64_t confirmed_words = 0;
    int64_t in_flight = 0;

    entry* find(int64_t offset);
    const entry* find(int64_t offset) const;
  };

  /// The entry of a record of the current epoch, or null.
  entry* find(int32_t partition, int64_t offset, uint32_t epoch,
              partition_state*& ps);

  std::map<int32_t, partition_state> parts_;
  std::map<int32_t, uint32_t> epochs_;
  int64_t words_in_flight_ = 0;
};

} // namespace rpcbatch
