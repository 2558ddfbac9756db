// Fault scenarios for rpcbatch-node, measured from outside, shared by the
// fault bench (tests/bench/faults.cpp) and faults_test.cpp. Each scenario
// runs on a broker and a resolver of its own; every input word is unique
// (letters counted up from a number), so that each output maps back to its
// word and input partition, and missing and duplicate outputs are counted
// exactly.
//
// - kill_twice: the input as a backlog, one node at a time in the group
//   (sessions of 3 s): kill -9 at about 1/3 and at 2/3 of the words out, a
//   restart after each, the last one --bounded to finish.
// - join_leave: node A on the backlog; once a third of it is out, node B
//   joins the group; once B has partitions and a third of what was left
//   then is out too (and at least two thirds of the input), B gets SIGTERM
//   and leaves; A finishes (every input offset committed), then drains on
//   SIGTERM. The nodes' own session timeout.
//
// Meanwhile the committed offsets are polled (every 200 ms: moves back,
// the longest time they stood still, the first commit), the outputs are
// read as they come (progress, and their timestamps for when each input
// partition was last served), and the nodes' stderr is timed line by line
// (how long revokes took).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/harness.hpp"

namespace rpcbatch::test::faults {

// -- the input ----------------------------------------------------------------

/// Word number `n` in letters ([A-Za-z], 52 digits, least significant
/// first, so that the first letter and with it the bucket varies most).
std::string word_of(uint64_t n);

/// The number of a word_of() word; nothing for anything else.
std::optional<uint64_t> number_of(std::string_view word);

/// `words` unique words, `per_record` to a record (space separated);
/// record i goes to partition i % partitions (as produce_values writes it).
struct unique_input {
  uint64_t words = 0;
  std::size_t per_record = 30;
  int partitions = 12;

  std::vector<kafka_value> records() const;

  std::size_t record_count() const {
    return static_cast<std::size_t>((words + per_record - 1) / per_record);
  }

  int32_t partition_of(uint64_t word) const {
    return static_cast<int32_t>((word / per_record)
                                % static_cast<uint64_t>(partitions));
  }
};

// -- what the watchers see, as pure functions ---------------------------------

/// Wall-clock milliseconds since the epoch (Kafka timestamps are those).
int64_t wall_ms();

/// A line of a node's stderr and when it was written: the node's own time
/// stamp ("HH:MM:SS.mmm " at its start, UTC) if it has one, else when the
/// watcher received it.
struct log_line {
  int64_t ms = 0;
  std::string text;
};

/// When a line received at `received_ms` was written (see log_line).
int64_t line_time(std::string_view text, int64_t received_ms);

/// The revokes a node's log tells of. If it has lines "released N
/// partition(s) ... after X ms" (or "X s"), their durations; else each
/// revoke lasts from a line "revoking N partition(s)" to the next
/// "assigned N partition(s)" (or the next "revoking", or the last line).
struct revoke_stats {
  int count = 0;
  double longest_s = 0;
  /// Every revoke's duration in seconds, in log order.
  std::vector<double> seconds;
};

revoke_stats parse_revokes(const std::vector<log_line>& lines);

/// One output: its Kafka timestamp and its word's number.
struct output_stamp {
  int64_t ms = 0;
  uint64_t word = 0;
};

/// The longest time an input partition went without output while it still
/// had words to give: between `start_ms` and its first output, and between
/// consecutive outputs of its words (duplicates included), up to the first
/// output of its last word.
struct partition_gap {
  double longest_s = 0;
  int32_t partition = -1;
  /// When the gap began, seconds after start_ms.
  double at_s = 0;
};

partition_gap longest_partition_gap(const std::vector<output_stamp>& outputs,
                                    const unique_input& input,
                                    int64_t start_ms);

/// Committed offsets over time: moves back and standstills.
class commit_history {
public:
  /// `ends`: the end offset of every input partition (all committed: done);
  /// `start_ms`: when the run began (a standstill counts from there).
  commit_history(std::map<int32_t, int64_t> ends, int64_t start_ms);

  /// A poll's answer at `ms` (partitions without a commit: negative).
  void add(int64_t ms, const std::map<int32_t, int64_t>& committed);

  /// The run is over at `ms`: a standstill still going counts until then.
  void close(int64_t ms);

  /// "[3] 1200 -> 950 after 12.3 s" for every move back seen.
  const std::vector<std::string>& backwards() const {
    return backwards_;
  }

  /// The longest time (s) the committed offsets stood still while not
  /// everything was committed.
  double longest_standstill_s() const {
    return longest_ms_ / 1000.0;
  }

  /// When the first offset was committed (wall ms; -1: none).
  int64_t first_commit_ms() const {
    return first_commit_ms_;
  }

  /// The latest answer.
  const std::map<int32_t, int64_t>& latest() const {
    return latest_;
  }

  /// Committed offsets summed over the partitions (none: 0).
  int64_t committed_total() const;

  bool all_committed() const;

private:
  std::map<int32_t, int64_t> ends_;
  int64_t start_ms_;
  std::map<int32_t, int64_t> latest_;
  std::vector<std::string> backwards_;
  int64_t since_ms_;
  int64_t longest_ms_ = 0;
  int64_t first_commit_ms_ = -1;
  bool done_ = false;
};

// -- scenarios ----------------------------------------------------------------

struct setup {
  /// The node binary, then options of its own (last, so they win).
  std::vector<std::string> node{node_binary()};
  unique_input input{222000, 30, 12};
  /// Partitions of the output topic (the embedded broker keeps about 5 MiB
  /// per partition: enough of them for the outputs and their duplicates).
  int output_partitions = 24;
  int latency_ms = 20;
  /// The whole scenario; a wait that would go beyond fails it.
  std::chrono::seconds timeout{900};
  /// Progress lines as they happen (nothing: quiet).
  std::function<void(const std::string&)> say;
};

struct result {
  uint64_t words = 0;
  /// Records in the output topic.
  uint64_t outputs = 0;
  uint64_t missing = 0;
  uint64_t duplicates = 0;
  /// Outputs that are no input word's, or with a wrong value.
  uint64_t foreign = 0;
  std::vector<std::string> foreign_samples;
  /// Every input offset committed at the end.
  bool all_committed = false;
  std::vector<std::string> commits_backwards;
  /// From the first output to the first commit (s; -1: no commit).
  double first_output_to_commit_s = -1;
  /// From the first node's start to the end (the last node's exit).
  double total_s = 0;
  double longest_commit_standstill_s = 0;
  partition_gap longest_partition_gap;
  revoke_stats revokes;
  /// Committed share of the input records when each node was killed.
  std::vector<double> committed_at_kills;
  /// The nodes' exit codes, in start order (128 + 9 when killed).
  std::vector<int> exit_codes;
  /// Empty when the scenario ran to its end; else what went wrong (then
  /// the figures are partial).
  std::string failure;
  /// The end of every node's stderr, for failure messages.
  std::string logs;

  double duplicate_share() const {
    return words == 0 ? 0 : static_cast<double>(duplicates) / words;
  }
};

result kill_twice(const setup& s);

result join_leave(const setup& s);

/// One line of a result's figures (for progress output and test messages).
std::string describe(const result& r);

} // namespace rpcbatch::test::faults
