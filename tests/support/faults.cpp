#include "tests/support/faults.hpp"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <limits>
#include <memory>
#include <mutex>
#include <regex>
#include <stdexcept>
#include <thread>
#include <utility>

#include <librdkafka/rdkafkacpp.h>

#include "services/adapters/kafka.hpp"
#include "services/tools/embedded_broker.hpp"
#include "services/tools/resolver_service.hpp"
#include "tests/support/process.hpp"

namespace rpcbatch::test::faults {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr std::string_view letters
  = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

constexpr int64_t day_ms = 24 * 3600 * 1000;

double seconds_between(clock_type::time_point from, clock_type::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

std::string fixed(double x, int decimals = 1) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, x);
  return buf;
}

} // namespace

// -- the input ----------------------------------------------------------------

std::string word_of(uint64_t n) {
  std::string out;
  do {
    out += letters[n % letters.size()];
    n /= letters.size();
  } while (n > 0);
  return out;
}

std::optional<uint64_t> number_of(std::string_view word) {
  // A last digit 'A' (0) is never written, except for 0 itself.
  if (word.empty() || (word.size() > 1 && word.back() == 'A'))
    return std::nullopt;
  constexpr auto max = std::numeric_limits<uint64_t>::max();
  uint64_t n = 0;
  for (auto i = word.size(); i-- > 0;) {
    auto digit = letters.find(word[i]);
    if (digit == std::string_view::npos
        || n > (max - digit) / letters.size())
      return std::nullopt;
    n = n * letters.size() + digit;
  }
  return n;
}

std::vector<kafka_value> unique_input::records() const {
  std::vector<kafka_value> out;
  out.reserve(record_count());
  for (uint64_t first = 0; first < words; first += per_record) {
    std::string text;
    for (auto n = first; n < std::min(words, first + per_record); ++n) {
      if (n > first)
        text += ' ';
      text += word_of(n);
    }
    out.emplace_back(std::move(text));
  }
  return out;
}

// -- what the watchers see ----------------------------------------------------

int64_t wall_ms() {
  using namespace std::chrono;
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch())
    .count();
}

int64_t line_time(std::string_view text, int64_t received_ms) {
  // "HH:MM:SS.mmm " (rpcbatch::log, UTC).
  auto digits = [&](std::size_t at, std::size_t n, int64_t& out) {
    out = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (i >= text.size() || text[i] < '0' || text[i] > '9')
        return false;
      out = out * 10 + (text[i] - '0');
    }
    return true;
  };
  int64_t h = 0;
  int64_t m = 0;
  int64_t s = 0;
  int64_t ms = 0;
  if (text.size() < 13 || text[2] != ':' || text[5] != ':' || text[8] != '.'
      || text[12] != ' ' || !digits(0, 2, h) || !digits(3, 2, m)
      || !digits(6, 2, s) || !digits(9, 3, ms) || h > 23 || m > 59 || s > 60)
    return received_ms;
  auto of_day = ((h * 60 + m) * 60 + s) * 1000 + ms;
  auto t = received_ms - received_ms % day_ms + of_day;
  // Written before midnight, received after (or the other way round).
  if (t - received_ms > day_ms / 2)
    t -= day_ms;
  else if (received_ms - t > day_ms / 2)
    t += day_ms;
  return t;
}

revoke_stats parse_revokes(const std::vector<log_line>& lines) {
  // Tolerant of words between the count and "partition" ("assigned 3 more
  // partition(s)").
  static const std::regex revoking{"revoking [0-9]+[^0-9].*partition"};
  static const std::regex released{"released [0-9]+[^0-9].*partition.* after "
                                   "([0-9]+(\\.[0-9]+)?) ?(ms|s)\\b"};
  static const std::regex assigned{"assigned [0-9]+[^0-9].*partition"};
  revoke_stats out;
  auto add = [&](double seconds) {
    ++out.count;
    out.seconds.push_back(seconds);
    out.longest_s = std::max(out.longest_s, seconds);
  };
  // A node that tells how long its revokes took: those durations.
  for (auto& line : lines) {
    std::smatch m;
    if (std::regex_search(line.text, m, released)) {
      auto x = std::stod(m[1].str());
      add(m[3].str() == "ms" ? x / 1000 : x);
    }
  }
  if (out.count > 0)
    return out;
  // Else from each "revoking" to the next "assigned" (or "revoking").
  std::optional<int64_t> open;
  for (auto& line : lines) {
    if (std::regex_search(line.text, revoking)) {
      if (open)
        add(static_cast<double>(line.ms - *open) / 1000);
      open = line.ms;
    } else if (open && std::regex_search(line.text, assigned)) {
      add(static_cast<double>(line.ms - *open) / 1000);
      open.reset();
    }
  }
  if (open)
    add(static_cast<double>(lines.back().ms - *open) / 1000);
  return out;
}

partition_gap longest_partition_gap(const std::vector<output_stamp>& outputs,
                                    const unique_input& input,
                                    int64_t start_ms) {
  constexpr auto never = std::numeric_limits<int64_t>::max();
  std::vector<int64_t> first(input.words, never);
  for (auto& o : outputs)
    if (o.word < input.words)
      first[o.word] = std::min(first[o.word], o.ms);
  // When each partition's last word was first out (never: a word missing,
  // then every output of the partition counts).
  std::vector<int64_t> done(static_cast<std::size_t>(input.partitions),
                            std::numeric_limits<int64_t>::min());
  for (uint64_t n = 0; n < input.words; ++n) {
    auto& d = done[static_cast<std::size_t>(input.partition_of(n))];
    d = std::max(d, first[n]);
  }
  std::vector<std::vector<int64_t>> stamps(done.size());
  for (auto& o : outputs)
    if (o.word < input.words) {
      auto p = static_cast<std::size_t>(input.partition_of(o.word));
      if (o.ms <= done[p])
        stamps[p].push_back(o.ms);
    }
  partition_gap out;
  for (std::size_t p = 0; p < stamps.size(); ++p) {
    auto& xs = stamps[p];
    std::sort(xs.begin(), xs.end());
    auto prev = start_ms;
    for (auto t : xs) {
      auto gap = static_cast<double>(t - prev) / 1000;
      if (gap > out.longest_s) {
        out.longest_s = gap;
        out.partition = static_cast<int32_t>(p);
        out.at_s = static_cast<double>(prev - start_ms) / 1000;
      }
      prev = std::max(prev, t);
    }
  }
  return out;
}

commit_history::commit_history(std::map<int32_t, int64_t> ends,
                               int64_t start_ms)
  : ends_(std::move(ends)), start_ms_(start_ms), since_ms_(start_ms) {
  // nop
}

void commit_history::add(int64_t ms,
                         const std::map<int32_t, int64_t>& committed) {
  bool moved = false;
  for (auto& [partition, offset] : committed) {
    auto i = latest_.find(partition);
    auto before = i == latest_.end() ? int64_t{-1} : i->second;
    if (offset == before)
      continue;
    moved = true;
    if (before >= 0 && offset < before)
      backwards_.push_back("[" + std::to_string(partition) + "] "
                           + std::to_string(before) + " -> "
                           + std::to_string(offset) + " after "
                           + fixed(static_cast<double>(ms - start_ms_) / 1000)
                           + " s");
  }
  latest_ = committed;
  if (first_commit_ms_ < 0 && committed_total() > 0)
    first_commit_ms_ = ms;
  if (done_ || !moved)
    return;
  longest_ms_ = std::max(longest_ms_, ms - since_ms_);
  since_ms_ = ms;
  done_ = all_committed();
}

void commit_history::close(int64_t ms) {
  if (!done_)
    longest_ms_ = std::max(longest_ms_, ms - since_ms_);
  done_ = true;
}

int64_t commit_history::committed_total() const {
  int64_t n = 0;
  for (auto& [partition, offset] : latest_)
    n += std::max<int64_t>(0, offset);
  return n;
}

bool commit_history::all_committed() const {
  for (auto& [partition, end] : ends_) {
    auto i = latest_.find(partition);
    if (end > 0 && (i == latest_.end() || i->second < end))
      return false;
  }
  return true;
}

// -- the watchers -------------------------------------------------------------

namespace {

/// A consumer that never joins its group: assign() or committed() only.
std::unique_ptr<RdKafka::KafkaConsumer>
lone_consumer(const std::string& bootstrap, const std::string& group) {
  auto conf = make_kafka_conf({{"bootstrap.servers", bootstrap},
                               {"group.id", group},
                               {"enable.auto.commit", "false"},
                               {"enable.auto.offset.store", "false"},
                               {"enable.partition.eof", "false"},
                               {"fetch.wait.max.ms", "100"}});
  std::string err;
  std::unique_ptr<RdKafka::KafkaConsumer> c{
    RdKafka::KafkaConsumer::create(conf.get(), err)};
  if (!c)
    throw std::runtime_error("consumer: " + err);
  return c;
}

/// Reads the output topic from its start while the scenario runs: which
/// words came out how often, and when.
class output_watch {
public:
  output_watch(const std::string& bootstrap, const std::string& topic,
               uint64_t words)
    : bootstrap_(bootstrap), topic_(topic), counts_(words, 0) {
    consumer_ = lone_consumer(bootstrap, "rpcbatch-faults-reader");
    auto partitions = list_topics(*consumer_, std::chrono::seconds(10))
                        .at(topic);
    std::vector<RdKafka::TopicPartition*> parts;
    for (int32_t p = 0; p < partitions; ++p)
      parts.push_back(RdKafka::TopicPartition::create(
        topic, p, RdKafka::Topic::OFFSET_BEGINNING));
    auto rc = consumer_->assign(parts);
    RdKafka::TopicPartition::destroy(parts);
    if (rc != RdKafka::ERR_NO_ERROR)
      throw std::runtime_error("output reader: assign: "
                               + RdKafka::err2str(rc));
    thread_ = std::thread([this] { run(); });
  }

  ~output_watch() {
    stop();
  }

  output_watch(const output_watch&) = delete;
  output_watch& operator=(const output_watch&) = delete;

  uint64_t distinct() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return distinct_;
  }

  /// Waits until `n` distinct words were out (true), or until `deadline`
  /// or until `give_up` holds (checked every 100 ms; false).
  bool wait_distinct(uint64_t n, clock_type::time_point deadline,
                     const std::function<bool()>& give_up) {
    std::unique_lock<std::mutex> guard{mtx_};
    for (;;) {
      if (cv_.wait_for(guard, milliseconds(100),
                       [&] { return distinct_ >= n; }))
        return true;
      if (clock_type::now() >= deadline)
        return false;
      guard.unlock();
      auto stop = give_up();
      guard.lock();
      if (stop)
        return distinct_ >= n;
    }
  }

  /// Reads on up to the end offsets the topic has now, then stops; throws
  /// std::runtime_error after `timeout`.
  void finish(milliseconds timeout) {
    auto ends = end_offsets(bootstrap_, topic_);
    {
      std::unique_lock<std::mutex> guard{mtx_};
      auto done = [&] {
        for (auto& [partition, end] : ends) {
          auto i = next_.find(partition);
          if (end > 0 && (i == next_.end() || i->second < end))
            return false;
        }
        return true;
      };
      if (!cv_.wait_for(guard, timeout, done))
        throw std::runtime_error("the output reader did not reach the end "
                                 "of " + topic_ + " within "
                                 + std::to_string(timeout.count()) + " ms");
    }
    stop();
  }

  void stop() {
    stopping_ = true;
    if (thread_.joinable())
      thread_.join();
    if (consumer_) {
      consumer_->close();
      consumer_.reset();
    }
  }

  // After stop():

  const std::vector<uint32_t>& counts() const {
    return counts_;
  }

  const std::vector<output_stamp>& stamps() const {
    return stamps_;
  }

  uint64_t records() const {
    return records_;
  }

  uint64_t foreign() const {
    return foreign_;
  }

  const std::vector<std::string>& foreign_samples() const {
    return samples_;
  }

  /// A partition whose oldest records the broker dropped before they were
  /// read (the embedded broker keeps about 5 MiB per partition).
  const std::string& lost() const {
    return lost_;
  }

  const std::string& error() const {
    return error_;
  }

private:
  void run() {
    while (!stopping_) {
      std::unique_ptr<RdKafka::Message> m{consumer_->consume(100)};
      if (m->err() == RdKafka::ERR__TIMED_OUT
          || m->err() == RdKafka::ERR__PARTITION_EOF)
        continue;
      std::lock_guard<std::mutex> guard{mtx_};
      if (m->err() != RdKafka::ERR_NO_ERROR) {
        if (error_.empty())
          error_ = m->errstr();
        continue;
      }
      take(*m);
      cv_.notify_all();
    }
  }

  void take(RdKafka::Message& m) {
    auto partition = m.partition();
    if (next_.count(partition) == 0 && m.offset() > 0 && lost_.empty())
      lost_ = topic_ + " [" + std::to_string(partition) + "] starts at "
              + std::to_string(m.offset());
    next_[partition] = m.offset() + 1;
    ++records_;
    std::string key;
    if (m.key_pointer() != nullptr)
      key.assign(static_cast<const char*>(m.key_pointer()), m.key_len());
    std::string_view value;
    if (m.payload() != nullptr)
      value = {static_cast<const char*>(m.payload()), m.len()};
    auto n = number_of(key);
    if (!n || *n >= counts_.size() || value != expected_value(key)) {
      ++foreign_;
      if (samples_.size() < 5)
        samples_.push_back(key + "=" + std::string{value.substr(0, 80)});
      return;
    }
    if (counts_[*n]++ == 0)
      ++distinct_;
    stamps_.push_back(output_stamp{m.timestamp().timestamp, *n});
  }

  std::string bootstrap_;
  std::string topic_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<uint32_t> counts_;
  std::vector<output_stamp> stamps_;
  std::map<int32_t, int64_t> next_;
  uint64_t distinct_ = 0;
  uint64_t records_ = 0;
  uint64_t foreign_ = 0;
  std::vector<std::string> samples_;
  std::string lost_;
  std::string error_;
};

/// Polls the group's committed offsets every 200 ms into a commit_history.
class commit_watch {
public:
  commit_watch(const std::string& bootstrap, const std::string& group,
               const std::string& topic, std::map<int32_t, int64_t> ends,
               int64_t start_ms)
    : topic_(topic), partitions_(static_cast<int32_t>(ends.size())),
      history_(std::move(ends), start_ms) {
    consumer_ = lone_consumer(bootstrap, group);
    thread_ = std::thread([this] { run(); });
  }

  ~commit_watch() {
    stop();
  }

  commit_watch(const commit_watch&) = delete;
  commit_watch& operator=(const commit_watch&) = delete;

  /// Waits until every input offset is committed (true), or until
  /// `deadline` or until `give_up` holds (checked every poll; false).
  bool wait_all_committed(clock_type::time_point deadline,
                          const std::function<bool()>& give_up) {
    std::unique_lock<std::mutex> guard{mtx_};
    for (;;) {
      if (history_.all_committed())
        return true;
      if (clock_type::now() >= deadline || stopping_)
        return false;
      guard.unlock();
      auto stop = give_up();
      guard.lock();
      if (stop)
        return history_.all_committed();
      cv_.wait_until(guard, std::min(deadline, clock_type::now()
                                                 + milliseconds(250)));
    }
  }

  /// The committed share of the input's records as of the last poll.
  double committed_share(std::size_t records) const {
    std::lock_guard<std::mutex> guard{mtx_};
    return records == 0 ? 0
                        : static_cast<double>(history_.committed_total())
                            / static_cast<double>(records);
  }

  /// Polls once more, stops and closes the history.
  const commit_history& stop() {
    if (!stopping_.exchange(true)) {
      cv_.notify_all();
      if (thread_.joinable())
        thread_.join();
      poll();
      std::lock_guard<std::mutex> guard{mtx_};
      history_.close(wall_ms());
      consumer_->close();
    }
    return history_;
  }

private:
  void run() {
    std::unique_lock<std::mutex> guard{mtx_};
    while (!stopping_) {
      guard.unlock();
      poll();
      guard.lock();
      cv_.wait_for(guard, milliseconds(200),
                   [this] { return stopping_.load(); });
    }
  }

  void poll() {
    std::vector<RdKafka::TopicPartition*> parts;
    for (int32_t p = 0; p < partitions_; ++p)
      parts.push_back(RdKafka::TopicPartition::create(topic_, p));
    auto rc = consumer_->committed(parts, 5000);
    std::map<int32_t, int64_t> committed;
    for (auto* tp : parts)
      committed[tp->partition()] = tp->err() == RdKafka::ERR_NO_ERROR
                                     ? tp->offset()
                                     : -1;
    RdKafka::TopicPartition::destroy(parts);
    if (rc != RdKafka::ERR_NO_ERROR)
      return; // the next poll asks again
    std::lock_guard<std::mutex> guard{mtx_};
    history_.add(wall_ms(), committed);
    cv_.notify_all();
  }

  std::string topic_;
  int32_t partitions_;
  std::unique_ptr<RdKafka::KafkaConsumer> consumer_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  commit_history history_;
};

/// A node process whose stderr lines are timed as they arrive.
class node_process {
public:
  node_process(std::string name, const std::vector<std::string>& argv)
    : name_(std::move(name)), process_(argv) {
    watcher_ = std::thread([this] { watch(); });
  }

  ~node_process() {
    process_.signal(SIGKILL);
    watcher_.join();
  }

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  const std::string& name() const {
    return name_;
  }

  child_process& process() {
    return process_;
  }

  bool exited() const {
    return process_.exit_code().has_value();
  }

  /// Waits until a line matches `pattern` (true), or until `deadline` or
  /// the end of the output (false).
  bool wait_for_line(const std::regex& pattern,
                     clock_type::time_point deadline) {
    std::unique_lock<std::mutex> guard{mtx_};
    std::size_t seen = 0;
    for (;;) {
      for (; seen < lines_.size(); ++seen)
        if (std::regex_search(lines_[seen].text, pattern))
          return true;
      if (closed_)
        return false;
      if (cv_.wait_until(guard, deadline) == std::cv_status::timeout
          && seen == lines_.size())
        return false;
    }
  }

  /// Kills the node (SIGKILL) and waits for it.
  int kill() {
    return process_.kill_and_wait();
  }

  std::vector<log_line> lines() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return lines_;
  }

  /// "--- A (exit 0):" and the end of its stderr.
  std::string log_tail(std::size_t n = 3000) const {
    auto code = process_.exit_code();
    return "--- node " + name_ + " ("
           + (code ? "exit " + std::to_string(*code) : std::string{"running"})
           + "):\n" + tail(process_.err(), n) + "\n";
  }

private:
  void watch() {
    bool closed = false;
    while (!closed) {
      closed = process_.wait_output_closed(milliseconds(50));
      collect(closed);
    }
  }

  void collect(bool closed) {
    auto err = process_.err();
    auto now = wall_ms();
    std::lock_guard<std::mutex> guard{mtx_};
    for (;;) {
      auto eol = err.find('\n', taken_);
      if (eol == std::string::npos)
        break;
      auto text = err.substr(taken_, eol - taken_);
      lines_.push_back(log_line{line_time(text, now), std::move(text)});
      taken_ = eol + 1;
    }
    if (closed) {
      if (taken_ < err.size()) {
        auto text = err.substr(taken_);
        lines_.push_back(log_line{line_time(text, now), std::move(text)});
        taken_ = err.size();
      }
      closed_ = true;
    }
    cv_.notify_all();
  }

  std::string name_;
  child_process process_;
  std::thread watcher_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<log_line> lines_;
  std::size_t taken_ = 0;
  bool closed_ = false;
};

resolver_options resolver_at(int latency_ms) {
  resolver_options opts;
  opts.listen = "127.0.0.1:0";
  opts.latency_ms = latency_ms;
  return opts;
}

/// A broker and a resolver of its own with the input written, the nodes
/// and the watchers of one scenario run.
class scenario {
public:
  /// `short_sessions`: the nodes' consumer sessions last 3 s, not the
  /// node's default 6 s, so that the group drops a killed member sooner.
  scenario(const setup& s, bool short_sessions)
    : setup_(s), short_sessions_(short_sessions),
      deadline_(clock_type::now() + s.timeout),
      broker_(1, {{input_topic, s.input.partitions},
                  {output_topic, s.output_partitions},
                  {dlq_topic, 3}}),
      resolver_(resolver_at(s.latency_ms)) {
    resolver_.start();
    produce_values(broker_.bootstrap(), input_topic, s.input.records(),
                   std::chrono::minutes(2));
    ends_ = end_offsets(broker_.bootstrap(), input_topic);
    outputs_ = std::make_unique<output_watch>(broker_.bootstrap(),
                                              output_topic, s.input.words);
  }

  /// Starts a node with `extra` options; the first one starts the clock.
  node_process& start_node(const std::string& name,
                           const std::vector<std::string>& extra) {
    if (nodes_.empty()) {
      started_ = clock_type::now();
      start_ms_ = wall_ms();
      commits_ = std::make_unique<commit_watch>(broker_.bootstrap(),
                                                node_group, input_topic, ends_,
                                                start_ms_);
    }
    auto& node = setup_.node;
    std::vector<std::string> argv{node.front(),
                                  "--bootstrap-servers=" + broker_.bootstrap(),
                                  "--rpc-target=" + resolver_.address(),
                                  "--offset-reset=earliest", "--stats-secs=0",
                                  "--log-level=info"};
    if (short_sessions_) {
      // As node_test.cpp's SIGKILL case: the successor of a killed member
      // gets the partitions sooner.
      argv.push_back("--kafka.session.timeout.ms=3000");
      argv.push_back("--kafka.heartbeat.interval.ms=1000");
    }
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.insert(argv.end(), node.begin() + 1, node.end());
    nodes_.push_back(std::make_unique<node_process>(name, argv));
    say("node " + name + " started");
    return *nodes_.back();
  }

  clock_type::time_point deadline() const {
    return deadline_;
  }

  output_watch& outputs() {
    return *outputs_;
  }

  commit_watch& commits() {
    return *commits_;
  }

  uint64_t words() const {
    return setup_.input.words;
  }

  std::size_t records() const {
    return setup_.input.record_count();
  }

  /// Seconds since the first node started.
  double elapsed() const {
    return seconds_between(started_, clock_type::now());
  }

  void say(const std::string& what) const {
    if (setup_.say)
      setup_.say(fixed(elapsed()) + " s: " + what + " ("
                 + std::to_string(outputs_->distinct()) + " of "
                 + std::to_string(words()) + " words out)");
  }

  /// Waits until `n` distinct words are out; throws if the deadline
  /// passes or `node` exits first.
  void wait_words(uint64_t n, node_process& node) {
    if (outputs_->wait_distinct(n, deadline_,
                                [&] { return node.exited(); }))
      return;
    throw std::runtime_error(
      node.exited() ? "node " + node.name() + " exited with "
                        + std::to_string(*node.process().exit_code())
                        + " before " + std::to_string(n) + " words were out"
                    : "timed out waiting for " + std::to_string(n)
                        + " words out");
  }

  /// Waits for `node`'s exit; throws after the deadline.
  int wait_exit(node_process& node) {
    auto left = std::chrono::duration_cast<milliseconds>(
      deadline_ - clock_type::now());
    auto code = node.process().wait(std::max(left, milliseconds(1)));
    if (!code)
      throw std::runtime_error("timed out waiting for node " + node.name()
                               + " to exit");
    say("node " + node.name() + " exited with " + std::to_string(*code));
    return *code;
  }

  /// Stops the nodes and the watchers and fills in `r`.
  void finish(result& r, double total_s) {
    r.words = words();
    r.total_s = total_s;
    for (auto& node : nodes_)
      if (!node->exited())
        node->kill();
    commit_history none{ends_, start_ms_};
    const auto& history = commits_ ? commits_->stop() : none;
    try {
      outputs_->finish(std::chrono::minutes(2));
    } catch (const std::exception& e) {
      outputs_->stop();
      add_failure(r, e.what());
    }
    if (!outputs_->lost().empty())
      add_failure(r, "outputs dropped by the broker before they were read: "
                       + outputs_->lost());
    if (!outputs_->error().empty())
      add_failure(r, "output reader: " + outputs_->error());
    r.outputs = outputs_->records();
    r.foreign = outputs_->foreign();
    r.foreign_samples = outputs_->foreign_samples();
    for (auto c : outputs_->counts()) {
      if (c == 0)
        ++r.missing;
      else
        r.duplicates += c - 1;
    }
    r.all_committed = history.all_committed();
    r.commits_backwards = history.backwards();
    r.longest_commit_standstill_s = history.longest_standstill_s();
    auto& stamps = outputs_->stamps();
    if (!stamps.empty() && history.first_commit_ms() >= 0) {
      auto first = std::min_element(stamps.begin(), stamps.end(),
                                    [](auto& x, auto& y) {
                                      return x.ms < y.ms;
                                    })
                     ->ms;
      r.first_output_to_commit_s
        = static_cast<double>(history.first_commit_ms() - first) / 1000;
    }
    r.longest_partition_gap = longest_partition_gap(stamps, setup_.input,
                                                    start_ms_);
    for (auto& node : nodes_) {
      auto revokes = parse_revokes(node->lines());
      r.revokes.count += revokes.count;
      r.revokes.longest_s = std::max(r.revokes.longest_s,
                                     revokes.longest_s);
      r.revokes.seconds.insert(r.revokes.seconds.end(),
                               revokes.seconds.begin(),
                               revokes.seconds.end());
      r.exit_codes.push_back(node->process().exit_code().value_or(-1));
      r.logs += node->log_tail();
    }
  }

  static void add_failure(result& r, const std::string& what) {
    r.failure += (r.failure.empty() ? "" : "; ") + what;
  }

private:
  const setup& setup_;
  bool short_sessions_;
  clock_type::time_point deadline_;
  embedded_broker broker_;
  resolver_server resolver_;
  std::map<int32_t, int64_t> ends_;
  clock_type::time_point started_ = clock_type::now();
  int64_t start_ms_ = wall_ms();
  std::unique_ptr<output_watch> outputs_;
  std::unique_ptr<commit_watch> commits_;
  std::vector<std::unique_ptr<node_process>> nodes_;
};

} // namespace

// -- scenarios ----------------------------------------------------------------

result kill_twice(const setup& s) {
  result r;
  scenario run{s, true};
  double total = 0;
  try {
    for (int i = 1; i <= 2; ++i) {
      auto& node = run.start_node(std::to_string(i), {});
      run.wait_words(run.words() * static_cast<uint64_t>(i) / 3, node);
      r.committed_at_kills.push_back(
        run.commits().committed_share(run.records()));
      node.kill();
      run.say("node " + node.name() + " killed (SIGKILL), "
              + fixed(100 * r.committed_at_kills.back())
              + "% of the input records committed");
    }
    auto& last = run.start_node("3", {"--bounded"});
    auto code = run.wait_exit(last);
    total = run.elapsed();
    if (code != 0)
      scenario::add_failure(r, "the bounded run exited with "
                                 + std::to_string(code));
    // The bounded run committed its last offsets before it exited: one
    // more poll sees them.
    run.commits().wait_all_committed(clock_type::now()
                                       + std::chrono::seconds(5),
                                     [] { return false; });
  } catch (const std::exception& e) {
    total = run.elapsed();
    scenario::add_failure(r, e.what());
  }
  run.finish(r, total);
  return r;
}

result join_leave(const setup& s) {
  static const std::regex has_partitions{
    "assigned [1-9][0-9]*[^0-9].*partition"};
  result r;
  // The node's own session timeout: the embedded broker's group waits that
  // long less a second for every member to join again after a member came
  // or went (Kafka waits up to the rebalance timeout, max.poll.interval.ms);
  // a member that takes longer is left out of the new generation.
  scenario run{s, false};
  double total = 0;
  try {
    auto& a = run.start_node("A", {});
    run.wait_words(run.words() / 3, a);
    auto& b = run.start_node("B", {});
    if (!b.wait_for_line(has_partitions, run.deadline()))
      throw std::runtime_error("node B got no partitions");
    // B works for a while: it leaves once a third of what was left when
    // it got partitions is out too, and two thirds of the input.
    auto out = run.outputs().distinct();
    run.say("node B has partitions");
    run.wait_words(std::max(2 * run.words() / 3,
                            out + (run.words() - out) / 3),
                   a);
    if (b.exited())
      throw std::runtime_error("node B exited before it was asked to");
    b.process().signal(SIGTERM);
    run.say("node B asked to leave (SIGTERM)");
    auto code = run.wait_exit(b);
    if (code != 0)
      scenario::add_failure(r, "node B exited with " + std::to_string(code));
    if (!run.commits().wait_all_committed(run.deadline(),
                                          [&] { return a.exited(); }))
      throw std::runtime_error(a.exited() ? "node A exited before it "
                                            "committed the whole input"
                                          : "timed out waiting for the "
                                            "whole input to be committed");
    total = run.elapsed();
    run.say("every input offset committed");
    a.process().signal(SIGTERM);
    code = run.wait_exit(a);
    if (code != 0)
      scenario::add_failure(r, "node A exited with " + std::to_string(code));
  } catch (const std::exception& e) {
    total = run.elapsed();
    scenario::add_failure(r, e.what());
  }
  run.finish(r, total);
  return r;
}

std::string describe(const result& r) {
  auto out = "missing " + std::to_string(r.missing) + ", duplicates "
             + std::to_string(r.duplicates) + " ("
             + fixed(100 * r.duplicate_share()) + "% of "
             + std::to_string(r.words) + " words), foreign "
             + std::to_string(r.foreign) + ", all committed "
             + (r.all_committed ? "yes" : "NO") + ", commits backwards "
             + (r.commits_backwards.empty()
                  ? std::string{"never"}
                  : std::to_string(r.commits_backwards.size()) + "x (e.g. "
                      + r.commits_backwards.front() + ")")
             + "; first output to first commit "
             + (r.first_output_to_commit_s < 0
                  ? std::string{"-"}
                  : fixed(r.first_output_to_commit_s) + " s")
             + ", total " + fixed(r.total_s) + " s, commits still for "
             + fixed(r.longest_commit_standstill_s) + " s at most, "
             + "longest partition gap "
             + fixed(r.longest_partition_gap.longest_s) + " s (["
             + std::to_string(r.longest_partition_gap.partition)
             + "] from " + fixed(r.longest_partition_gap.at_s) + " s), "
             + std::to_string(r.revokes.count) + " revoke(s)";
  if (r.revokes.count > 0)
    out += ", longest " + fixed(r.revokes.longest_s) + " s";
  if (!r.committed_at_kills.empty()) {
    out += ", committed at the kills:";
    for (auto x : r.committed_at_kills)
      out += " " + fixed(100 * x) + "%";
  }
  out += ", exit codes";
  for (auto c : r.exit_codes)
    out += " " + std::to_string(c);
  if (!r.failure.empty())
    out += "; FAILED: " + r.failure;
  return out;
}

} // namespace rpcbatch::test::faults
