#include "actors/adapters/kafka_consumer.hpp"

#include <algorithm>
#include <utility>

#include <librdkafka/rdkafkacpp.h>

#include "actors/adapters/kafka.hpp"
#include "actors/adapters/log.hpp"

namespace rpcbatch {

namespace {

constexpr const char* component = "kafka-consumer";

using partition_list = std::vector<RdKafka::TopicPartition*>;

/// Owns the TopicPartition objects of a list for librdkafka calls.
struct owned_partitions {
  partition_list list;
  ~owned_partitions() {
    RdKafka::TopicPartition::destroy(list);
  }
};

owned_partitions to_partitions(const std::string& topic,
                               const std::vector<partition_offset>& xs) {
  owned_partitions out;
  for (auto& x : xs)
    out.list.push_back(
      RdKafka::TopicPartition::create(topic, x.partition, x.offset));
  return out;
}

} // namespace

class kafka_consumer::rebalancer : public RdKafka::RebalanceCb {
public:
  explicit rebalancer(kafka_consumer& owner) : owner_(owner) {
    // nop
  }

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    partition_list& partitions) override {
    std::vector<partition_offset> parts;
    for (auto* tp : partitions)
      parts.push_back(partition_offset{tp->partition(), -1});
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS) {
      // on_assign assigns them, each at the offset where it starts.
      owner_.on_assign(std::move(parts));
    } else {
      owner_.on_revoke(std::move(parts));
      consumer->unassign();
    }
  }

private:
  kafka_consumer& owner_;
};

namespace {

/// The partitions of a commit that the broker took, with their offsets.
std::vector<partition_offset> committed_of(const partition_list& offsets) {
  std::vector<partition_offset> out;
  for (auto* tp : offsets)
    if (tp->err() == RdKafka::ERR_NO_ERROR)
      out.push_back(partition_offset{tp->partition(), tp->offset()});
  return out;
}

} // namespace

class kafka_consumer::committer : public RdKafka::OffsetCommitCb {
public:
  explicit committer(kafka_consumer& owner) : owner_(owner) {
    // nop
  }

  void offset_commit_cb(RdKafka::ErrorCode err,
                        partition_list& offsets) override {
    if (err == RdKafka::ERR_NO_ERROR || err == RdKafka::ERR__NO_OFFSET) {
      ++owner_.commits_;
      owner_.confirmed(committed_of(offsets));
      return;
    }
    ++owner_.commit_failures_;
    log::warn(component, "offset commit failed: ", RdKafka::err2str(err));
  }

private:
  kafka_consumer& owner_;
};

std::map<std::string, std::string> consumer_defaults() {
  return {
    {"enable.auto.commit", "false"},
    {"enable.auto.offset.store", "false"},
    {"enable.partition.eof", "true"},
    {"session.timeout.ms", "6000"},
    {"heartbeat.interval.ms", "2000"},
    // Bounds the prefetched input held in memory.
    {"queued.max.messages.kbytes", "16384"},
    // A fetch that finds nothing waits at most this long for new records:
    // at 1,000 lines/s the latency from input to output is 28 ms at the
    // p50 (48 ms p99) with 10 ms, 96 ms with 100 and 416 ms with
    // librdkafka's 500, and a backlog runs as fast (same run, embedded
    // broker). The price: an idle consumer asks each broker 100 times a
    // second.
    {"fetch.wait.max.ms", "10"},
  };
}

kafka_consumer::kafka_consumer(consumer_options opts)
  : opts_(std::move(opts)) {
  auto all = consumer_defaults();
  for (auto& [k, v] : opts_.properties)
    all[k] = v;
  // librdkafka must not choose a start offset on its own: its
  // auto.offset.reset would also apply to a committed offset that fell out
  // of retention and skip what the broker still holds (with "latest") or
  // hide that records were lost. With "error" it reports the partition
  // (on_offset_reset), and start_offsets gives every other one its offset.
  auto valid = [](const std::string& x, bool fail_too) {
    return x == "earliest" || x == "latest" || (fail_too && x == "fail");
  };
  if (!valid(opts_.offset_reset, false))
    throw std::runtime_error("kafka consumer: offset reset must be earliest "
                             "or latest, not '" + opts_.offset_reset + "'");
  if (!valid(opts_.on_offset_out_of_range, true))
    throw std::runtime_error("kafka consumer: an out-of-range offset resumes "
                             "at earliest or latest or fails, not '"
                             + opts_.on_offset_out_of_range + "'");
  all["auto.offset.reset"] = "error";
  auto conf = make_kafka_conf(all);
  rebalancer_ = std::make_unique<rebalancer>(*this);
  committer_ = std::make_unique<committer>(*this);
  set_kafka_conf(*conf, rebalancer_.get());
  set_kafka_conf(*conf, committer_.get());
  std::string err;
  consumer_.reset(RdKafka::KafkaConsumer::create(conf.get(), err));
  if (!consumer_)
    throw std::runtime_error("kafka consumer: " + err);
}

kafka_consumer::~kafka_consumer() {
  running_ = false;
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  if (!closing_.exchange(true))
    consumer_->close();
}

void kafka_consumer::start(consumer_events events) {
  events_ = std::move(events);
  running_ = true;
  thread_ = std::thread([this] { run(); });
}

void kafka_consumer::commit(std::vector<partition_offset> offsets) {
  std::lock_guard<std::mutex> guard{mtx_};
  to_commit_.insert(to_commit_.end(), offsets.begin(), offsets.end());
}

void kafka_consumer::update_pause_locked() {
  want_paused_ = operator_paused_ || !fetching_ || block_paused_;
}

void kafka_consumer::pause_for_operator(bool paused) {
  std::lock_guard<std::mutex> guard{mtx_};
  operator_paused_ = paused;
  update_pause_locked();
}

std::size_t kafka_consumer::assigned_partitions() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return assignment_.size();
}

void kafka_consumer::update_lag() {
  auto now = std::chrono::steady_clock::now();
  if (now - lag_updated_ < std::chrono::seconds(1))
    return;
  lag_updated_ = now;
  std::vector<partition_offset> parts;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto p : assignment_)
      parts.push_back(partition_offset{p, 0});
  }
  if (parts.empty()) {
    lag_ = 0;
    return;
  }
  // Both calls answer from local state: the high watermark of the last
  // fetch and the consumer's position.
  auto tps = to_partitions(opts_.topic, parts);
  if (consumer_->position(tps.list) != RdKafka::ERR_NO_ERROR)
    return;
  int64_t lag = 0;
  for (auto* tp : tps.list) {
    int64_t low = 0;
    int64_t high = 0;
    if (consumer_->get_watermark_offsets(opts_.topic, tp->partition(), &low,
                                         &high)
          != RdKafka::ERR_NO_ERROR
        || high < 0 || tp->offset() < 0)
      continue; // nothing fetched yet: unknown
    lag += std::max<int64_t>(0, high - tp->offset());
  }
  lag_ = lag;
}

void kafka_consumer::batch_taken() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (untaken_ > 0)
    --untaken_;
  cv_.notify_all();
}

void kafka_consumer::stop_for_drain() {
  std::lock_guard<std::mutex> guard{mtx_};
  fetching_ = false;
  update_pause_locked();
}

void kafka_consumer::release(std::vector<partition_offset> offsets) {
  std::lock_guard<std::mutex> guard{mtx_};
  released_ = std::move(offsets);
  cv_.notify_all();
}

std::map<int32_t, int64_t> kafka_consumer::end_offsets() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return end_offsets_;
}

std::string kafka_consumer::close(std::vector<partition_offset> final_offsets) {
  running_ = false;
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  std::string result;
  // Offsets committed before (an idle node, everything confirmed) need no
  // commit, and so no group that may be rebalancing right now.
  final_offsets = not_yet_confirmed(std::move(final_offsets));
  if (!final_offsets.empty()) {
    auto tps = to_partitions(opts_.topic, final_offsets);
    // A member that leaves at the same time rebalances the group, and the
    // broker refuses commits in the middle of that: take part in the
    // rebalance (nothing is consumed any more) and commit again.
    auto deadline = std::chrono::steady_clock::now()
                    + std::min<std::chrono::milliseconds>(
                      opts_.revoke_timeout, std::chrono::seconds(10));
    auto err = consumer_->commitSync(tps.list);
    while ((err == RdKafka::ERR_REBALANCE_IN_PROGRESS
            || err == RdKafka::ERR_ILLEGAL_GENERATION
            || err == RdKafka::ERR_UNKNOWN_MEMBER_ID)
           && std::chrono::steady_clock::now() < deadline) {
      log::info(component, "final offset commit: ", RdKafka::err2str(err),
                "; committing again after the rebalance");
      std::unique_ptr<RdKafka::Message>{consumer_->consume(100)};
      err = consumer_->commitSync(tps.list);
    }
    if (err != RdKafka::ERR_NO_ERROR && err != RdKafka::ERR__NO_OFFSET)
      result = "final offset commit failed: " + RdKafka::err2str(err);
    else
      ++commits_;
  }
  closing_ = true;
  consumer_->close();
  return result;
}

void kafka_consumer::commit_now(const std::vector<partition_offset>& offsets,
                                bool sync) {
  if (offsets.empty())
    return;
  auto tps = to_partitions(opts_.topic, offsets);
  if (!sync) {
    consumer_->commitAsync(tps.list);
    return;
  }
  auto err = consumer_->commitSync(tps.list);
  if (err == RdKafka::ERR_NO_ERROR || err == RdKafka::ERR__NO_OFFSET) {
    ++commits_;
    confirmed(committed_of(tps.list));
  } else {
    ++commit_failures_;
    log::warn(component, "offset commit failed: ", RdKafka::err2str(err));
  }
}

void kafka_consumer::confirmed(const std::vector<partition_offset>& offsets) {
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& x : offsets) {
    auto& known = confirmed_[x.partition];
    known = std::max(known, x.offset);
  }
}

std::vector<partition_offset>
kafka_consumer::not_yet_confirmed(std::vector<partition_offset> offsets) const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto done = [&](const partition_offset& x) {
    auto i = confirmed_.find(x.partition);
    return i != confirmed_.end() && i->second >= x.offset;
  };
  offsets.erase(std::remove_if(offsets.begin(), offsets.end(), done),
                offsets.end());
  return offsets;
}

void kafka_consumer::apply_requests() {
  std::vector<partition_offset> commits;
  bool pause_change = false;
  bool pause = false;
  std::vector<int32_t> assignment;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    commits.swap(to_commit_);
    if (want_paused_ != is_paused_) {
      is_paused_ = want_paused_;
      pause_change = true;
      pause = is_paused_;
      assignment = assignment_;
    }
  }
  commit_now(commits, false);
  if (pause_change && !assignment.empty()) {
    std::vector<partition_offset> parts;
    for (auto p : assignment)
      parts.push_back(partition_offset{p, 0});
    auto tps = to_partitions(opts_.topic, parts);
    if (pause)
      consumer_->pause(tps.list);
    else
      consumer_->resume(tps.list);
  }
}

void kafka_consumer::on_assign(std::vector<partition_offset> parts) {
  {
    // Another member may have committed these partitions meanwhile.
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& p : parts)
      confirmed_.erase(p.partition);
  }
  if (!running_) {
    // Rejoining only to commit the final offsets: consume nothing.
    for (auto& p : parts)
      p.offset = RdKafka::Topic::OFFSET_INVALID;
    auto tps = to_partitions(opts_.topic, parts);
    consumer_->assign(tps.list);
    consumer_->pause(tps.list);
    return;
  }
  {
    auto tps = to_partitions(opts_.topic, start_offsets(parts));
    auto err = consumer_->assign(tps.list);
    if (err != RdKafka::ERR_NO_ERROR)
      log::warn(component, "assigning ", parts.size(), " partition(s) of ",
                opts_.topic, " failed: ", RdKafka::err2str(err));
  }
  bool paused;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    assignment_.clear();
    for (auto& p : parts) {
      assignment_.push_back(p.partition);
      auto i = end_offsets_.find(p.partition);
      p.offset = i == end_offsets_.end() ? -1 : i->second;
    }
    paused = is_paused_;
  }
  if (!parts.empty()) {
    // librdkafka keeps an application's pause of a partition through
    // unassign and assign: set it either way.
    auto tps = to_partitions(opts_.topic, parts);
    if (paused)
      consumer_->pause(tps.list);
    else
      consumer_->resume(tps.list);
  }
  log::info(component, "assigned ", parts.size(), " partition(s) of ",
            opts_.topic);
  events_.assigned(std::move(parts));
}

std::vector<partition_offset>
kafka_consumer::start_offsets(std::vector<partition_offset> parts) {
  starts_.clear();
  if (parts.empty())
    return parts;
  constexpr int timeout_ms = 10000;
  auto tps = to_partitions(opts_.topic, parts);
  auto err = consumer_->committed(tps.list, timeout_ms);
  if (err != RdKafka::ERR_NO_ERROR)
    log::warn(component, "cannot look up the committed offsets of ",
              opts_.topic, ": ", RdKafka::err2str(err),
              "; librdkafka looks them up itself");
  std::string where;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    auto& p = parts[i];
    auto* tp = tps.list[i];
    start_point start;
    std::string text;
    if (err != RdKafka::ERR_NO_ERROR || tp->err() != RdKafka::ERR_NO_ERROR) {
      // librdkafka's own lookup; a partition without a commit then comes
      // back as ERR__AUTO_OFFSET_RESET (on_offset_reset).
      start.offset = RdKafka::Topic::OFFSET_INVALID;
      text = "its committed offset (looked up by librdkafka)";
    } else if (tp->offset() >= 0) {
      start = start_point{tp->offset(), true};
      text = "committed offset " + std::to_string(start.offset);
    } else if (opts_.offset_reset == "earliest") {
      start.offset = RdKafka::Topic::OFFSET_BEGINNING;
      text = "its earliest offset (nothing committed)";
    } else {
      // The end as of now, as a number: a logical end resolved later would
      // skip what arrives meanwhile.
      int64_t low = 0;
      int64_t high = 0;
      if (consumer_->query_watermark_offsets(opts_.topic, p.partition, &low,
                                             &high, timeout_ms)
          == RdKafka::ERR_NO_ERROR)
        start.offset = high;
      else
        start.offset = RdKafka::Topic::OFFSET_END;
      text = "its end"
             + (start.offset >= 0 ? ", offset " + std::to_string(start.offset)
                                  : "")
             + " (nothing committed)";
    }
    p.offset = start.offset;
    starts_[p.partition] = start;
    where += (i == 0 ? " [" : ", [") + std::to_string(p.partition) + "] at "
             + text;
  }
  log::info(component, opts_.topic, " starts:", where);
  return parts;
}

void kafka_consumer::on_offset_reset(int32_t partition, int64_t offset,
                                     const std::string& reason) {
  std::vector<int32_t> assignment;
  bool paused;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    assignment = assignment_;
    paused = is_paused_;
  }
  auto name = opts_.topic + " [" + std::to_string(partition) + "]";
  if (std::find(assignment.begin(), assignment.end(), partition)
      == assignment.end()) {
    log::debug(component, name, " is no longer assigned: ", reason);
    return;
  }
  // librdkafka's own lookup found no commit (start_offsets could not look
  // it up): a new partition, where --offset-reset decides.
  bool no_commit = offset < 0;
  const auto& policy = no_commit ? opts_.offset_reset
                                 : opts_.on_offset_out_of_range;
  std::string what;
  int64_t low = -1;
  int64_t high = -1;
  if (no_commit) {
    what = name + " has no committed offset";
  } else {
    ++offsets_out_of_range_;
    what = out_of_range_text(partition, offset, reason, low, high);
  }
  if (!fetching_) {
    // Draining: nothing is read any more; the next start decides.
    log::warn(component, what, "; left as it is while draining");
    return;
  }
  if (policy == "fail") {
    events_.fatal(what + "; --on-offset-out-of-range=fail: stopping");
    running_ = false;
    return;
  }
  bool earliest = policy == "earliest";
  auto at = earliest ? low : high;
  auto resume = (earliest ? "the earliest offset still held"
                          : "the end, skipping what is held before it")
                + (at >= 0 ? std::string{", "} + std::to_string(at) : "");
  if (no_commit)
    log::info(component, what, ": starting at the ",
              earliest ? "earliest offset" : "end");
  else
    log::warn(component, what, ": resuming at ", resume,
              " (--on-offset-out-of-range=", policy, ")");
  starts_[partition] = start_point{
    earliest ? RdKafka::Topic::OFFSET_BEGINNING : RdKafka::Topic::OFFSET_END,
    false};
  assign_again(partition, assignment, paused);
}

std::string kafka_consumer::out_of_range_text(int32_t partition,
                                              int64_t offset,
                                              const std::string& reason,
                                              int64_t& low, int64_t& high) {
  auto i = starts_.find(partition);
  auto committed = i != starts_.end() && i->second.committed
                   && i->second.offset == offset;
  auto what = opts_.topic + " [" + std::to_string(partition) + "]: the "
              + (committed ? "committed " : "") + "offset "
              + std::to_string(offset) + " is out of range";
  if (consumer_->query_watermark_offsets(opts_.topic, partition, &low, &high,
                                         5000)
      == RdKafka::ERR_NO_ERROR)
    return what + " (the broker holds offsets " + std::to_string(low) + " to "
           + std::to_string(high) + ")";
  return what + " (" + reason + ")";
}

void kafka_consumer::assign_again(int32_t partition,
                                  const std::vector<int32_t>& assignment,
                                  bool paused) {
  auto start_of = [this](int32_t p) {
    auto i = starts_.find(p);
    return i == starts_.end() ? start_point{RdKafka::Topic::OFFSET_INVALID}
                              : i->second;
  };
  // librdkafka 2.0.2 has stopped fetching the partition and refuses seek()
  // in that state: assign again, the others at their positions (where none
  // was consumed yet: where they started).
  std::vector<partition_offset> parts;
  for (auto p : assignment)
    parts.push_back(partition_offset{p, RdKafka::Topic::OFFSET_INVALID});
  auto tps = to_partitions(opts_.topic, parts);
  consumer_->position(tps.list);
  for (auto* tp : tps.list)
    if (tp->partition() == partition || tp->offset() < 0)
      tp->set_offset(start_of(tp->partition()).offset);
  auto err = consumer_->assign(tps.list);
  if (err != RdKafka::ERR_NO_ERROR) {
    events_.fatal("cannot assign " + opts_.topic + " again after resetting "
                  + opts_.topic + " [" + std::to_string(partition)
                  + "]: " + RdKafka::err2str(err));
    running_ = false;
    return;
  }
  if (paused)
    consumer_->pause(tps.list);
  else
    consumer_->resume(tps.list);
}

void kafka_consumer::on_revoke(std::vector<partition_offset> parts) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    assignment_.clear();
    released_.reset();
  }
  if (closing_ || !running_)
    return;
  // Records read before the revoke go first: they belong to the old
  // assignment, and after the revoke they would look like new ones.
  hand_over_filling();
  log::info(component, "revoking ", parts.size(), " partition(s)");
  std::vector<int32_t> revoked;
  for (auto& p : parts)
    revoked.push_back(p.partition);
  events_.revoked(std::move(parts));
  std::vector<partition_offset> offsets;
  {
    std::unique_lock<std::mutex> guard{mtx_};
    auto ok = cv_.wait_for(guard, opts_.revoke_timeout, [this] {
      return released_.has_value() || !running_;
    });
    if (!ok)
      log::warn(component, "revoked partitions were not released within ",
                opts_.revoke_timeout.count(), " ms: giving them up ",
                "uncommitted (their records will be read again)");
    if (released_)
      offsets = std::move(*released_);
    released_.reset();
    // Commits the source asked for meanwhile are not above the release's
    // own: sent after it, they could move the new owner's offsets back.
    auto of_revoked = [&](const partition_offset& x) {
      return std::find(revoked.begin(), revoked.end(), x.partition)
             != revoked.end();
    };
    to_commit_.erase(std::remove_if(to_commit_.begin(), to_commit_.end(),
                                    of_revoked),
                     to_commit_.end());
  }
  commit_now(offsets, true);
}

void kafka_consumer::hand_over_filling() {
  if (!filling_.records.empty()) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      ++untaken_;
    }
    events_.records(std::exchange(filling_, record_batch{}));
    filling_bytes_ = 0;
  }
  for (auto& eof : pending_eofs_)
    events_.end_of_partition(eof);
  pending_eofs_.clear();
}

bool kafka_consumer::wait_for_source() {
  constexpr int max_untaken = 2;
  bool may_read;
  bool was_paused = block_paused_;
  {
    // Short waits: rebalances and requests are served between them.
    std::unique_lock<std::mutex> guard{mtx_};
    may_read = cv_.wait_for(guard, std::chrono::milliseconds(100), [this] {
      return untaken_ < max_untaken || !running_;
    });
    auto now = std::chrono::steady_clock::now();
    if (may_read) {
      blocked_since_.reset();
      block_paused_ = false;
    } else if (!blocked_since_) {
      blocked_since_ = now;
    } else if (now - *blocked_since_ >= opts_.pause_after) {
      block_paused_ = true;
    }
    update_pause_locked();
  }
  if (!may_read && block_paused_) {
    apply_requests();
    poll_while_paused();
  } else if (may_read && was_paused) {
    apply_requests(); // resume before reading on
  }
  return may_read;
}

void kafka_consumer::poll_while_paused() {
  std::unique_ptr<RdKafka::Message> msg{consumer_->consume(100)};
  if (msg->err() != RdKafka::ERR__TIMED_OUT)
    take_message(*msg);
}

void kafka_consumer::take_message(RdKafka::Message& msg) {
  auto code = msg.err();
  if (code == RdKafka::ERR_NO_ERROR) {
    if (!fetching_)
      return;
    input_record rec;
    rec.partition = msg.partition();
    rec.offset = msg.offset();
    rec.timestamp = msg.timestamp().timestamp;
    if (msg.payload() == nullptr)
      rec.null_value = true;
    else
      rec.value.assign(static_cast<const char*>(msg.payload()), msg.len());
    filling_bytes_ += msg.len();
    filling_.records.push_back(std::move(rec));
  } else if (code == RdKafka::ERR__PARTITION_EOF) {
    // Reported after the records before it.
    pending_eofs_.push_back(partition_offset{msg.partition(), msg.offset()});
    if (filling_.records.empty())
      hand_over_filling();
  } else if (code == RdKafka::ERR__AUTO_OFFSET_RESET) {
    // A partition's offset is out of the range the broker holds
    // (auto.offset.reset=error, see the constructor).
    on_offset_reset(msg.partition(), msg.offset(), msg.errstr());
  } else {
    std::string text;
    if (consumer_->fatal_error(text) != RdKafka::ERR_NO_ERROR) {
      events_.fatal("consumer failed: " + text);
      running_ = false;
      return;
    }
    log::warn(component, msg.errstr());
  }
}

void kafka_consumer::run() {
  // The end offsets at start-up define the input of a bounded run.
  try {
    std::map<int32_t, int64_t> ends;
    for (auto& w : watermark_offsets(*consumer_, opts_.topic,
                                     std::chrono::seconds(10)))
      ends[w.partition] = w.high;
    std::lock_guard<std::mutex> guard{mtx_};
    end_offsets_ = std::move(ends);
  } catch (const std::exception& e) {
    log::warn(component, "no end offsets for ", opts_.topic, ": ", e.what());
  }
  auto rc = consumer_->subscribe({opts_.topic});
  if (rc != RdKafka::ERR_NO_ERROR) {
    events_.fatal("cannot subscribe to " + opts_.topic + ": "
                  + RdKafka::err2str(rc));
    return;
  }
  while (running_) {
    apply_requests();
    update_lag();
    if (!wait_for_source())
      continue;
    int timeout_ms = 100;
    while (running_ && filling_.records.size() < opts_.max_batch
           && filling_bytes_ < opts_.max_batch_bytes) {
      std::unique_ptr<RdKafka::Message> msg{consumer_->consume(timeout_ms)};
      timeout_ms = 0;
      auto code = msg->err();
      if (code == RdKafka::ERR__TIMED_OUT)
        break;
      take_message(*msg);
      if (code != RdKafka::ERR_NO_ERROR
          && code != RdKafka::ERR__PARTITION_EOF)
        break;
    }
    hand_over_filling();
  }
}

} // namespace rpcbatch
