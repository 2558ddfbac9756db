#include "messages/type_ids.hpp"

#include <algorithm>

#include <caf/actor_system_config.hpp>

namespace rpcbatch {

const char* to_string(flush_trigger x) {
  switch (x) {
    case flush_trigger::count:
      return "count";
    case flush_trigger::timer:
      return "timer";
    case flush_trigger::end_of_window:
      return "end_of_window";
    case flush_trigger::bytes:
      return "bytes";
  }
  return "unknown";
}

bool partition_progress::done(uint32_t record_epoch, int64_t offset) const {
  if (record_epoch != epoch)
    return record_epoch < epoch;
  if (offset < commit_point)
    return true;
  return offset < read_end
         && !std::binary_search(pending.begin(), pending.end(), offset);
}

std::string list_text(const std::vector<int32_t>& xs) {
  std::string out;
  for (auto x : xs)
    out += (out.empty() ? "" : ",") + std::to_string(x);
  return "[" + out + "]";
}

bool cancelled(const std::vector<partition_epoch>& xs, int32_t partition,
               uint32_t epoch) {
  return std::any_of(xs.begin(), xs.end(), [&](const partition_epoch& x) {
    return x.partition == partition && x.epoch == epoch;
  });
}

uint64_t& flush_counts::operator[](flush_trigger t) {
  switch (t) {
    case flush_trigger::count:
      return count;
    case flush_trigger::timer:
      return timer;
    case flush_trigger::end_of_window:
      return end_of_window;
    case flush_trigger::bytes:
      break;
  }
  return bytes;
}

uint64_t flush_counts::operator[](flush_trigger t) const {
  return const_cast<flush_counts&>(*this)[t];
}

flush_counts& flush_counts::operator+=(const flush_counts& other) {
  count += other.count;
  timer += other.timer;
  end_of_window += other.end_of_window;
  bytes += other.bytes;
  return *this;
}

latency_buckets latency_buckets::with_bounds(std::vector<uint64_t> bounds) {
  latency_buckets out;
  out.counts.resize(bounds.size() + 1, 0);
  out.bounds_us = std::move(bounds);
  return out;
}

void latency_buckets::record(uint64_t us) {
  sum_us += us;
  max_us = std::max(max_us, us);
  auto i = std::lower_bound(bounds_us.begin(), bounds_us.end(), us)
           - bounds_us.begin();
  ++counts[static_cast<std::size_t>(i)];
}

void register_message_types(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::rpcbatch>();
}

} // namespace rpcbatch
