#include "actors/pipeline/offset_tracker.hpp"

#include <algorithm>

namespace rpcbatch {

uint64_t& offset_tracker::entry::bits_of(uint32_t index) {
  if (index < 64)
    return first_bits;
  if (more_bits.empty())
    more_bits.resize((words - 1) / 64);
  return more_bits[index / 64 - 1];
}

bool offset_tracker::entry::has(uint32_t index) const {
  auto bit = uint64_t{1} << (index % 64);
  if (index < 64)
    return (first_bits & bit) != 0;
  auto i = index / 64 - 1;
  return i < more_bits.size() && (more_bits[i] & bit) != 0;
}

namespace {

template <class Deque>
auto* find_pending(Deque& pending, int64_t offset) {
  auto i = std::lower_bound(pending.begin(), pending.end(), offset,
                            [](auto& e, int64_t o) { return e.offset < o; });
  return i == pending.end() || i->offset != offset || i->done() ? nullptr
                                                                : &*i;
}

} // namespace

offset_tracker::entry* offset_tracker::partition_state::find(int64_t offset) {
  return find_pending(pending, offset);
}

const offset_tracker::entry*
offset_tracker::partition_state::find(int64_t offset) const {
  return find_pending(pending, offset);
}

void offset_tracker::start(int32_t partition, uint32_t epoch) {
  if (auto p = parts_.find(partition); p != parts_.end()) {
    words_in_flight_ -= p->second.in_flight;
    parts_.erase(p);
  }
  epochs_[partition] = epoch;
}

uint32_t offset_tracker::epoch(int32_t partition) const {
  auto e = epochs_.find(partition);
  return e == epochs_.end() ? 0 : e->second;
}

uint32_t offset_tracker::dispatched(int32_t partition, int64_t offset,
                                    uint32_t words) {
  auto& ps = parts_[partition];
  if (words > 0) {
    auto& q = ps.pending;
    if (q.empty() || q.back().offset < offset) {
      q.push_back(entry{offset, words, 0, 0, 0, {}});
      ++ps.open;
    } else {
      // Read again from an older offset: in place, unless it is pending.
      auto i = std::lower_bound(q.begin(), q.end(), offset,
                                [](auto& e, int64_t o) {
                                  return e.offset < o;
                                });
      if (i == q.end() || i->offset != offset) {
        q.insert(i, entry{offset, words, 0, 0, 0, {}});
        ++ps.open;
      } else if (i->done()) {
        *i = entry{offset, words, 0, 0, 0, {}};
        ++ps.open;
      }
    }
  }
  if (ps.first < 0 || offset < ps.first)
    ps.first = offset;
  if (offset + 1 > ps.next)
    ps.next = offset + 1;
  return epochs_[partition];
}

bool offset_tracker::dispatched_before(int32_t partition,
                                       int64_t offset) const {
  auto p = parts_.find(partition);
  return p != parts_.end() && p->second.first <= offset
         && offset < p->second.next;
}

offset_tracker::entry* offset_tracker::find(int32_t partition, int64_t offset,
                                            uint32_t epoch,
                                            partition_state*& ps) {
  auto e = epochs_.find(partition);
  if (e == epochs_.end() || e->second != epoch)
    return nullptr;
  auto p = parts_.find(partition);
  if (p == parts_.end())
    return nullptr;
  ps = &p->second;
  return ps->find(offset);
}

void offset_tracker::sent(int32_t partition, int64_t offset, uint32_t epoch,
                          uint32_t n) {
  partition_state* ps = nullptr;
  auto* e = find(partition, offset, epoch, ps);
  if (e == nullptr)
    return;
  n = std::min(n, e->words - e->sent);
  e->sent += n;
  words_in_flight_ += n;
  ps->in_flight += n;
}

uint32_t offset_tracker::acked(const record_word_count& r,
                               const std::vector<uint32_t>& positions,
                               std::size_t first) {
  partition_state* ps = nullptr;
  auto* e = find(r.partition, r.offset, r.epoch, ps);
  if (e == nullptr)
    return 0;
  uint32_t fresh = 0;
  auto last = std::min(positions.size(), first + r.words);
  for (auto i = first; i < last; ++i) {
    auto index = positions[i];
    if (index >= e->sent)
      continue;
    auto& word = e->bits_of(index);
    auto bit = uint64_t{1} << (index % 64);
    if ((word & bit) == 0) {
      word |= bit;
      ++fresh;
    }
  }
  e->confirmed += fresh;
  ps->confirmed_words += fresh;
  words_in_flight_ -= fresh;
  ps->in_flight -= fresh;
  if (e->done()) {
    e->more_bits = {};
    --ps->open;
    while (!ps->pending.empty() && ps->pending.front().done())
      ps->pending.pop_front();
  }
  return fresh;
}

std::optional<int64_t> offset_tracker::commit_point(int32_t partition) const {
  auto p = parts_.find(partition);
  if (p == parts_.end() || p->second.next < 0)
    return std::nullopt;
  auto& ps = p->second;
  return ps.pending.empty() ? ps.next : ps.pending.front().offset;
}

std::vector<partition_offset> offset_tracker::take_commits() {
  std::vector<partition_offset> out;
  for (auto& [partition, ps] : parts_) {
    auto point = commit_point(partition);
    if (point && *point != ps.last_taken) {
      ps.last_taken = *point;
      out.push_back(partition_offset{partition, *point, epoch(partition)});
    }
  }
  return out;
}

bool offset_tracker::confirmed(const element& e) const {
  auto epoch = epochs_.find(e.partition);
  auto p = parts_.find(e.partition);
  if (epoch == epochs_.end() || epoch->second != e.epoch || p == parts_.end())
    return true;
  auto* entry = p->second.find(e.offset);
  return entry == nullptr || entry->has(e.index);
}

std::vector<partition_progress> offset_tracker::progress() const {
  std::vector<partition_progress> out;
  for (auto& [partition, epoch] : epochs_) {
    partition_progress d{partition, epoch, 0, 0, {}};
    if (auto p = parts_.find(partition); p != parts_.end()) {
      d.commit_point = commit_point(partition).value_or(0);
      d.read_end = std::max<int64_t>(p->second.next, 0);
      for (auto& e : p->second.pending)
        if (!e.done())
          d.pending.push_back(e.offset);
    }
    out.push_back(std::move(d));
  }
  return out;
}

std::vector<partition_offset>
offset_tracker::commits_of(const std::vector<int32_t>& partitions) const {
  std::vector<partition_offset> out;
  for (auto partition : partitions)
    if (auto point = commit_point(partition))
      out.push_back(partition_offset{partition, *point, epoch(partition)});
  return out;
}

uint64_t offset_tracker::confirmed_words(int32_t partition) const {
  auto p = parts_.find(partition);
  return p == parts_.end() ? 0 : p->second.confirmed_words;
}

std::size_t offset_tracker::pending_records(int32_t partition) const {
  auto p = parts_.find(partition);
  return p == parts_.end() ? 0 : p->second.open;
}

std::size_t offset_tracker::pending_records() const {
  std::size_t n = 0;
  for (auto& [partition, ps] : parts_)
    n += ps.open;
  return n;
}

int64_t offset_tracker::words_in_flight(int32_t partition) const {
  auto p = parts_.find(partition);
  return p == parts_.end() ? 0 : p->second.in_flight;
}

void offset_tracker::forget(int32_t partition) {
  if (auto p = parts_.find(partition); p != parts_.end()) {
    words_in_flight_ -= p->second.in_flight;
    parts_.erase(p);
  }
  ++epochs_[partition];
}

std::vector<int32_t> offset_tracker::partitions() const {
  std::vector<int32_t> out;
  for (auto& [partition, ps] : parts_)
    out.push_back(partition);
  return out;
}

} // namespace rpcbatch
