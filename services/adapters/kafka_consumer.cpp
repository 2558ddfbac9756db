#include "services/adapters/kafka_consumer.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <librdkafka/rdkafkacpp.h>

#include "services/adapters/kafka.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

constexpr const char* component = "kafka-consumer";

/// How long the final commit waits for a rebalance that runs meanwhile
/// (librdkafka's mock broker takes up to two rounds of ~5 s).
constexpr auto final_commit_patience = std::chrono::seconds(20);

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
    auto incremental = consumer->rebalance_protocol() == "COOPERATIVE";
    // on_assign assigns them, each at the offset where it starts; on_revoke
    // unassigns them once the source let go.
    if (err == RdKafka::ERR__ASSIGN_PARTITIONS)
      owner_.on_assign(std::move(parts), incremental);
    else
      owner_.on_revoke(std::move(parts), incremental,
                       consumer->assignment_lost());
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
    if (err == RdKafka::ERR_REBALANCE_IN_PROGRESS
        || err == RdKafka::ERR_ILLEGAL_GENERATION)
      owner_.hold_commits();
  }

private:
  kafka_consumer& owner_;
};

/// librdkafka's log lines, as every client's (route_kafka_logs), and the
/// group's join state from them: librdkafka 2.0.2 tells it nowhere else.
/// An asynchronous commit made while the group rebalances is answered
/// after the new generation formed, with ILLEGAL_GENERATION, and then
/// librdkafka drops its own generation and the member's assignment is lost
/// (a whole rebalance round more, and no commit for the revoke): commits
/// wait while the join state is not "steady".
class kafka_consumer::group_watcher : public RdKafka::EventCb {
public:
  explicit group_watcher(kafka_consumer& owner) : owner_(owner) {
    // nop
  }

  void event_cb(RdKafka::Event& event) override {
    if (event.type() == RdKafka::Event::EVENT_LOG
        && event.fac() == "CGRPJOINSTATE") {
      // "Group "G" changed join state steady -> init (state up)"
      auto text = event.str();
      auto arrow = text.find(" -> ");
      if (arrow != std::string::npos) {
        auto steady = text.compare(arrow + 4, 7, "steady ") == 0
                      || text.compare(arrow + 4, std::string::npos, "steady")
                           == 0;
        owner_.group_steady_ = steady;
        if (steady)
          ++owner_.steady_count_;
      }
    }
    log_kafka_event(event);
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
    // Incremental rebalances: a member that joins or leaves moves only the
    // partitions that change owner; the others are never stopped.
    {"partition.assignment.strategy", "cooperative-sticky"},
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
  // The group's join state comes from librdkafka's cgrp debug lines (see
  // group_watcher); they are written at the debug level only.
  auto& debug = all["debug"];
  if (debug.find("cgrp") == std::string::npos
      && debug.find("all") == std::string::npos)
    debug += debug.empty() ? "cgrp" : ",cgrp";
  auto conf = make_kafka_conf(all);
  rebalancer_ = std::make_unique<rebalancer>(*this);
  committer_ = std::make_unique<committer>(*this);
  watcher_ = std::make_unique<group_watcher>(*this);
  set_kafka_conf(*conf, rebalancer_.get());
  set_kafka_conf(*conf, committer_.get());
  set_kafka_conf(*conf, watcher_.get());
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
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> guard{mtx_};
  for (auto& x : offsets) {
    auto& r = requested_[x.partition];
    if (r.offset.epoch != x.epoch || r.offset.offset < x.offset)
      r = requested_commit{x, now};
  }
  to_commit_.insert(to_commit_.end(), offsets.begin(), offsets.end());
}

void kafka_consumer::commit_again_locked(
  std::chrono::steady_clock::time_point now) {
  // A commit the broker refused (a rebalance in progress, a coordinator
  // that moved) is not sent again by the source while its partition stands
  // still: asked for over a second ago and not confirmed, it goes again.
  for (auto& [p, r] : requested_) {
    auto a = assignment_.find(p);
    auto c = confirmed_.find(p);
    if (a == assignment_.end() || a->second.epoch != r.offset.epoch
        || (c != confirmed_.end() && c->second >= r.offset.offset)
        || now - r.at < std::chrono::seconds(1))
      continue;
    r.at = now;
    to_commit_.push_back(r.offset);
  }
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

std::vector<int32_t> kafka_consumer::assigned_now() const {
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<int32_t> out;
  for (auto& [p, a] : assignment_)
    out.push_back(p);
  return out;
}

void kafka_consumer::update_lag() {
  auto now = std::chrono::steady_clock::now();
  if (now - lag_updated_ < std::chrono::seconds(1))
    return;
  lag_updated_ = now;
  check_cluster();
  std::vector<partition_offset> parts;
  for (auto p : assigned_now())
    parts.push_back(partition_offset{p, 0});
  if (parts.empty()) {
    lag_ = 0;
    return;
  }
  // Both calls answer from local state: the high watermark of the last
  // fetch and the consumer's position.
  auto tps = to_partitions(opts_.topic, parts);
  if (consumer_->position(tps.list) != RdKafka::ERR_NO_ERROR)
    return;
  std::map<int32_t, int64_t> lags;
  int64_t lag = 0;
  for (auto* tp : tps.list) {
    int64_t low = 0;
    int64_t high = 0;
    if (consumer_->get_watermark_offsets(opts_.topic, tp->partition(), &low,
                                         &high)
          != RdKafka::ERR_NO_ERROR
        || high < 0 || tp->offset() < 0)
      continue; // nothing fetched yet: unknown
    lags[tp->partition()] = std::max<int64_t>(0, high - tp->offset());
    lag += lags[tp->partition()];
  }
  lag_ = lag;
  // A partition is unread while it has records to read, none was read
  // since the last update, and the poll thread could read.
  std::lock_guard<std::mutex> guard{mtx_};
  commit_again_locked(now);
  auto could_read = !blocked_since_ && !is_paused_;
  for (auto& [p, a] : assignment_) {
    auto l = lags.find(p);
    a.lag = l == lags.end() ? -1 : l->second;
    auto& r = reads_[p];
    if (r.read || a.lag <= 0 || !could_read)
      a.unread_since.reset();
    else if (!a.unread_since)
      a.unread_since = now;
    r.read = false;
  }
}

std::vector<consumer_partition> kafka_consumer::assignment() const {
  auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> guard{mtx_};
  std::vector<consumer_partition> out;
  for (auto& [p, a] : assignment_) {
    std::chrono::milliseconds unread{0};
    if (a.unread_since)
      unread = std::chrono::duration_cast<std::chrono::milliseconds>(
        now - *a.unread_since);
    out.push_back(consumer_partition{p, a.epoch, a.lag, unread});
  }
  return out;
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

void kafka_consumer::release(std::vector<partition_epoch> revoked,
                             std::vector<partition_offset> offsets) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto same = [](const partition_epoch& x, const partition_epoch& y) {
    return x.partition == y.partition && x.epoch == y.epoch;
  };
  if (!revoking_ || revoking_->size() != revoked.size()
      || !std::equal(revoked.begin(), revoked.end(), revoking_->begin(),
                     same)) {
    // The answer to a revoke given up on: its partitions were let go
    // uncommitted, and may be someone else's now.
    log::info(component, "late release of ", revoked.size(),
              " revoked partition(s) ignored");
    return;
  }
  released_ = std::move(offsets);
  cv_.notify_all();
}

std::map<int32_t, int64_t> kafka_consumer::end_offsets() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return end_offsets_;
}

std::string kafka_consumer::close(std::vector<partition_offset> final_offsets) {
  if (closing_)
    return {};
  running_ = false;
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
  auto result = commit_final(std::move(final_offsets));
  closing_ = true;
  consumer_->close();
  return result;
}

namespace {

/// The broker refused a commit because the group is rebalancing, or
/// rebalanced without this member's generation.
bool refused_for_rebalance(RdKafka::ErrorCode err) {
  return err == RdKafka::ERR_REBALANCE_IN_PROGRESS
         || err == RdKafka::ERR_ILLEGAL_GENERATION
         || err == RdKafka::ERR_UNKNOWN_MEMBER_ID;
}

} // namespace

std::string kafka_consumer::commit_final(std::vector<partition_offset> offsets) {
  // Offsets committed before (an idle node, everything confirmed) need no
  // commit, and so no group that may be rebalancing right now; nor do
  // those of partitions no longer assigned in their epochs.
  offsets = not_yet_confirmed(of_current_epochs(std::move(offsets)));
  auto deadline = std::chrono::steady_clock::now() + final_commit_patience;
  while (!offsets.empty()) {
    auto settled = steady_count_.load();
    auto tps = to_partitions(opts_.topic, offsets);
    auto err = consumer_->commitSync(tps.list);
    if (err == RdKafka::ERR_NO_ERROR || err == RdKafka::ERR__NO_OFFSET) {
      ++commits_;
      return {};
    }
    if (!refused_for_rebalance(err)
        || std::chrono::steady_clock::now() >= deadline)
      return "final offset commit failed: " + RdKafka::err2str(err);
    // A member that leaves at the same time rebalances the group. A commit
    // sent before the group is steady again carries the old generation and
    // is refused again: take part in the rebalance (nothing is consumed
    // any more) until the group settled after the refused commit.
    log::info(component, "final offset commit: ", RdKafka::err2str(err),
              "; committing again once the group settled");
    while (steady_count_ == settled
           && std::chrono::steady_clock::now() < deadline)
      std::unique_ptr<RdKafka::Message>{consumer_->consume(100)};
    auto n = offsets.size();
    offsets = still_ahead(std::move(offsets));
    if (offsets.size() < n)
      log::info(component, "final offset commit: ", n - offsets.size(),
                " partition(s) now another member's or committed further");
  }
  return {};
}

std::vector<partition_offset>
kafka_consumer::still_ahead(std::vector<partition_offset> offsets) {
  // Another member may have owned a partition meanwhile: only this
  // member's partitions (librdkafka's assignment: the one taken while
  // closing is not the source's), and only where the commit moves forward.
  std::set<int32_t> mine;
  {
    partition_list assigned;
    if (consumer_->assignment(assigned) == RdKafka::ERR_NO_ERROR)
      for (auto* tp : assigned)
        mine.insert(tp->partition());
    RdKafka::TopicPartition::destroy(assigned);
  }
  offsets.erase(std::remove_if(offsets.begin(), offsets.end(),
                               [&](const partition_offset& x) {
                                 return mine.count(x.partition) == 0;
                               }),
                offsets.end());
  if (offsets.empty())
    return offsets;
  auto tps = to_partitions(opts_.topic, offsets);
  if (consumer_->committed(tps.list, 5000) != RdKafka::ERR_NO_ERROR)
    return offsets;
  std::vector<partition_offset> out;
  for (std::size_t i = 0; i < offsets.size(); ++i)
    if (tps.list[i]->err() != RdKafka::ERR_NO_ERROR
        || tps.list[i]->offset() < offsets[i].offset)
      out.push_back(offsets[i]);
  return out;
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

std::vector<partition_offset>
kafka_consumer::of_current_epochs(std::vector<partition_offset> offsets) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto stale = [&](const partition_offset& x) {
    auto i = assignment_.find(x.partition);
    return i == assignment_.end() || i->second.epoch != x.epoch;
  };
  auto first = std::remove_if(offsets.begin(), offsets.end(), stale);
  if (first != offsets.end())
    log::debug(component, "not committing ", offsets.end() - first,
               " offset(s) of partitions no longer assigned in their epoch");
  offsets.erase(first, offsets.end());
  return offsets;
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

void kafka_consumer::hold_commits() {
  // The group is rebalancing: a commit sent now fails, and one that reaches
  // the broker after the new generation formed makes librdkafka count the
  // assignment as lost. Commits wait for the next assignment (at most a
  // session's length); the one of a revoke is made in the callback.
  commits_held_until_ = std::chrono::steady_clock::now()
                        + std::chrono::seconds(10);
}

void kafka_consumer::apply_requests() {
  std::vector<partition_offset> commits;
  bool pause_change = false;
  auto hold = !group_steady_
              || std::chrono::steady_clock::now() < commits_held_until_;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!hold)
      commits.swap(to_commit_);
    if (want_paused_ != is_paused_) {
      is_paused_ = want_paused_;
      pause_change = true;
    }
  }
  commit_now(of_current_epochs(std::move(commits)), false);
  if (pause_change)
    set_paused(assigned_now(), is_paused_);
}

void kafka_consumer::set_paused(const std::vector<int32_t>& partitions,
                                bool paused) {
  if (partitions.empty())
    return;
  std::vector<partition_offset> parts;
  for (auto p : partitions)
    parts.push_back(partition_offset{p, 0});
  auto tps = to_partitions(opts_.topic, parts);
  if (paused)
    consumer_->pause(tps.list);
  else
    consumer_->resume(tps.list);
}

void kafka_consumer::assign(const std::vector<partition_offset>& parts) {
  auto tps = to_partitions(opts_.topic, parts);
  std::string what;
  if (incremental_) {
    std::unique_ptr<RdKafka::Error> err{consumer_->incremental_assign(tps.list)};
    if (err)
      what = err->str();
  } else if (auto err = consumer_->assign(tps.list);
             err != RdKafka::ERR_NO_ERROR) {
    what = RdKafka::err2str(err);
  }
  if (!what.empty())
    log::warn(component, "assigning ", parts.size(), " partition(s) of ",
              opts_.topic, " failed: ", what);
}

void kafka_consumer::start_epochs(std::vector<partition_offset>& parts) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& p : parts) {
      p.epoch = ++epoch_;
      assignment_[p.partition] = assigned_partition{p.epoch};
      reads_[p.partition] = read_state{p.epoch};
      auto i = end_offsets_.find(p.partition);
      p.offset = i == end_offsets_.end() ? -1 : i->second;
    }
  }
  events_.assigned(std::vector<partition_offset>{parts});
}

void kafka_consumer::on_assign(std::vector<partition_offset> parts,
                               bool incremental) {
  incremental_ = incremental;
  // A new generation: commits go again.
  commits_held_until_ = {};
  std::vector<int32_t> partitions;
  {
    // Another member may have committed these partitions meanwhile.
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& p : parts) {
      confirmed_.erase(p.partition);
      partitions.push_back(p.partition);
    }
    if (!incremental)
      assignment_.clear();
  }
  if (!running_) {
    // Rejoining only to commit the final offsets: consume nothing.
    for (auto& p : parts)
      p.offset = RdKafka::Topic::OFFSET_INVALID;
    assign(parts);
    set_paused(partitions, true);
    return;
  }
  assign(start_offsets(parts));
  // librdkafka keeps an application's pause of a partition through
  // unassign and assign: set it either way.
  set_paused(partitions, is_paused_);
  log::info(component, "assigned ", parts.size(), " partition(s) of ",
            opts_.topic, incremental ? " (incremental)" : "");
  start_epochs(parts);
}

std::vector<partition_offset>
kafka_consumer::start_offsets(std::vector<partition_offset> parts) {
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
    } else if (opts_.offset_reset == "earliest" || cluster_replaced_) {
      start.offset = RdKafka::Topic::OFFSET_BEGINNING;
      text = cluster_replaced_
               ? "its earliest offset (nothing committed since the cluster "
                 "was replaced)"
               : "its earliest offset (nothing committed)";
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
  auto assignment = assigned_now();
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
  auto start = earliest ? RdKafka::Topic::OFFSET_BEGINNING
                        : RdKafka::Topic::OFFSET_END;
  if (no_commit) {
    log::info(component, what, ": starting at the ",
              earliest ? "earliest offset" : "end");
    assign_again({partition}, start);
    return;
  }
  // The log does not hold the offset where the partition was: it fell out
  // of retention, or the log restarted (topic recreated, log truncated).
  // Either way, what is read from here on is a new epoch of it.
  log::warn(component, what, ": resuming at ", resume,
            " (--on-offset-out-of-range=", policy, ") in a new epoch");
  assign_again({partition}, start);
  std::vector<partition_offset> parts{partition_offset{partition, -1}};
  start_epochs(parts);
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

void kafka_consumer::assign_again(const std::vector<int32_t>& partitions,
                                  int64_t start) {
  for (auto p : partitions)
    starts_[p] = start_point{start, false};
  // librdkafka 2.0.2 has stopped fetching a partition whose offset was
  // reset and refuses seek() in that state: assign it again. Incrementally,
  // only these partitions; otherwise all of them, the others at their
  // positions (where none was consumed yet: where they started).
  std::vector<partition_offset> parts;
  std::vector<int32_t> all = incremental_ ? partitions : assigned_now();
  for (auto p : all)
    parts.push_back(partition_offset{p, RdKafka::Topic::OFFSET_INVALID});
  auto tps = to_partitions(opts_.topic, parts);
  if (!incremental_)
    consumer_->position(tps.list);
  for (auto* tp : tps.list) {
    auto mine = std::find(partitions.begin(), partitions.end(),
                          tp->partition())
                != partitions.end();
    if (mine || tp->offset() < 0) {
      auto i = starts_.find(tp->partition());
      tp->set_offset(i == starts_.end() ? RdKafka::Topic::OFFSET_INVALID
                                        : i->second.offset);
    }
  }
  std::string error;
  if (incremental_) {
    std::unique_ptr<RdKafka::Error> out{consumer_->incremental_unassign(tps.list)};
    std::unique_ptr<RdKafka::Error> in{consumer_->incremental_assign(tps.list)};
    if (out || in)
      error = (out ? out : in)->str();
  } else if (auto err = consumer_->assign(tps.list);
             err != RdKafka::ERR_NO_ERROR) {
    error = RdKafka::err2str(err);
  }
  if (!error.empty()) {
    events_.fatal("cannot assign " + opts_.topic + " " + list_text(partitions)
                  + " again at a new start: " + error);
    running_ = false;
    return;
  }
  set_paused(all, is_paused_);
}

void kafka_consumer::restart_log(const std::vector<int32_t>& partitions,
                                 const std::string& why) {
  if (partitions.empty())
    return;
  log_restarts_ += partitions.size();
  log::error(component, opts_.topic, " ", list_text(partitions), ": ", why,
             ": the log restarted; reading it again from its earliest "
             "offset in a new epoch (what was read of it before and not "
             "committed is dropped)");
  assign_again(partitions, RdKafka::Topic::OFFSET_BEGINNING);
  std::vector<partition_offset> parts;
  for (auto p : partitions)
    parts.push_back(partition_offset{p, -1});
  start_epochs(parts);
}

void kafka_consumer::check_cluster() {
  auto id = consumer_->clusterid(0);
  if (id.empty() || id == cluster_id_)
    return;
  auto before = std::exchange(cluster_id_, id);
  if (before.empty())
    return;
  cluster_replaced_ = true;
  // Records not handed over yet may come from either cluster: the new
  // epochs read the new logs from their start.
  filling_ = record_batch{};
  filling_bytes_ = 0;
  pending_eofs_.clear();
  restart_log(assigned_now(), "the cluster id changed from " + before
                                + " to " + id + " (the cluster was replaced)");
}

void kafka_consumer::on_revoke(std::vector<partition_offset> parts,
                               bool incremental, bool lost) {
  std::vector<partition_epoch> revoked;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& p : parts)
      if (auto i = assignment_.find(p.partition); i != assignment_.end()) {
        p.epoch = i->second.epoch;
        revoked.push_back(partition_epoch{p.partition, p.epoch});
      }
  }
  std::vector<partition_offset> offsets;
  if (!closing_ && running_) {
    // Records read before the revoke go first: they belong to the old
    // assignment.
    hand_over_filling();
    log::info(component, "revoking ", parts.size(), " partition(s)",
              lost ? " (lost: the group went on without this member)" : "");
    events_.revoked(std::vector<partition_offset>{parts});
    // Lost partitions may have another owner already: nothing to commit.
    if (!lost)
      offsets = wait_for_release(revoked);
  }
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // Commits the source asked for meanwhile are not above the release's
    // own: sent after it, they could move the new owner's offsets back.
    auto of_revoked = [&](const partition_offset& x) {
      return cancelled(revoked, x.partition, x.epoch);
    };
    to_commit_.erase(std::remove_if(to_commit_.begin(), to_commit_.end(),
                                    of_revoked),
                     to_commit_.end());
  }
  commit_now(of_current_epochs(std::move(offsets)), true);
  {
    std::lock_guard<std::mutex> guard{mtx_};
    for (auto& p : parts) {
      assignment_.erase(p.partition);
      reads_.erase(p.partition);
      requested_.erase(p.partition);
    }
  }
  for (auto& p : parts)
    starts_.erase(p.partition);
  auto tps = to_partitions(opts_.topic, parts);
  if (incremental) {
    std::unique_ptr<RdKafka::Error> err{consumer_->incremental_unassign(tps.list)};
    if (err)
      log::warn(component, "unassigning ", parts.size(), " partition(s): ",
                err->str());
  } else {
    consumer_->unassign();
  }
}

std::vector<partition_offset>
kafka_consumer::wait_for_release(const std::vector<partition_epoch>& revoked) {
  auto t0 = std::chrono::steady_clock::now();
  std::vector<partition_offset> offsets;
  bool released;
  {
    std::unique_lock<std::mutex> guard{mtx_};
    revoking_ = revoked;
    released_.reset();
    released = cv_.wait_for(guard, opts_.revoke_timeout, [this] {
      return released_.has_value() || !running_;
    });
    released = released && released_.has_value();
    if (released_)
      offsets = std::move(*released_);
    released_.reset();
    revoking_.reset();
  }
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              std::chrono::steady_clock::now() - t0)
              .count();
  if (released)
    log::info(component, "released ", revoked.size(), " partition(s) after ",
              ms, " ms");
  else if (running_)
    log::warn(component, "revoked partitions were not released within ", ms,
              " ms: giving them up uncommitted (their records will be read ",
              "again)");
  return offsets;
}

void kafka_consumer::hand_over_filling() {
  // A record fetched from a replaced cluster must not go on in an old
  // epoch.
  check_cluster();
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
    auto r = reads_.find(msg.partition());
    if (r == reads_.end())
      return; // no longer assigned
    if (msg.offset() <= r->second.last_handed) {
      // The log restarted under this assignment: what was read of it
      // before goes on in the old epoch, this record starts a new one.
      hand_over_filling();
      log_restarts_ += 1;
      log::error(component, opts_.topic, " [", msg.partition(), "]: offset ",
                 msg.offset(), " comes after offset ", r->second.last_handed,
                 ": the log restarted; a new epoch starts here");
      std::vector<partition_offset> parts{partition_offset{msg.partition()}};
      start_epochs(parts);
      r = reads_.find(msg.partition());
    }
    r->second.last_handed = msg.offset();
    r->second.read = true;
    input_record rec;
    rec.epoch = r->second.epoch;
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
    auto r = reads_.find(msg.partition());
    if (r == reads_.end())
      return;
    pending_eofs_.push_back(
      partition_offset{msg.partition(), msg.offset(), r->second.epoch});
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
