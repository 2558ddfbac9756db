#include "actors/observe/console_view.hpp"

#include <cstdio>
#include <ctime>
#include <sstream>
#include <vector>

#include <boost/json/serialize.hpp>

#include "actors/observe/json.hpp"

namespace rpcbatch {

namespace {

/// A number without trailing zeros; one decimal for rates and seconds.
std::string fmt(double x, int decimals = 0) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, x);
  return buf;
}

/// Columns padded to the widest cell.
class table {
public:
  explicit table(std::vector<std::string> header) {
    rows_.push_back(std::move(header));
  }

  void add(std::vector<std::string> row) {
    rows_.push_back(std::move(row));
  }

  /// The last column is not padded.
  std::vector<std::string> lines() const {
    std::vector<std::size_t> widths;
    for (auto& row : rows_)
      for (std::size_t i = 0; i < row.size(); ++i) {
        widths.resize(std::max(widths.size(), row.size()), 0);
        widths[i] = std::max(widths[i], row[i].size());
      }
    std::vector<std::string> out;
    for (auto& row : rows_) {
      std::string line;
      for (std::size_t i = 0; i < row.size(); ++i) {
        line += row[i];
        if (i + 1 < row.size())
          line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
      out.push_back(std::move(line));
    }
    return out;
  }

private:
  std::vector<std::vector<std::string>> rows_;
};

void pretty(std::ostringstream& out, const boost::json::value& v, int depth) {
  auto indent = [&](int d) {
    out << std::string(static_cast<std::size_t>(2 * d), ' ');
  };
  if (v.is_object() && !v.as_object().empty()) {
    out << "{\n";
    std::size_t i = 0;
    for (auto& [k, x] : v.as_object()) {
      indent(depth + 1);
      out << boost::json::serialize(boost::json::value(k)) << ": ";
      pretty(out, x, depth + 1);
      out << (++i < v.as_object().size() ? ",\n" : "\n");
    }
    indent(depth);
    out << "}";
  } else if (v.is_array() && !v.as_array().empty()) {
    out << "[\n";
    std::size_t i = 0;
    for (auto& x : v.as_array()) {
      indent(depth + 1);
      pretty(out, x, depth + 1);
      out << (++i < v.as_array().size() ? ",\n" : "\n");
    }
    indent(depth);
    out << "]";
  } else {
    out << boost::json::serialize(v);
  }
}

std::string flushes_text(const flush_counts& f) {
  return fmt(static_cast<double>(f.count)) + "/"
         + fmt(static_cast<double>(f.timer)) + "/"
         + fmt(static_cast<double>(f.end_of_window)) + "/"
         + fmt(static_cast<double>(f.bytes));
}

template <class T>
std::string num(T x) {
  return fmt(static_cast<double>(x));
}

} // namespace

std::string pretty_json(const boost::json::value& v) {
  std::ostringstream out;
  pretty(out, v, 0);
  out << "\n";
  return out.str();
}

std::string utc_text(int64_t unix_ms) {
  auto t = static_cast<std::time_t>(unix_ms / 1000);
  auto ms = unix_ms % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

boost::json::object actor_json(const actor_summary& actor) {
  auto out = status_object(actor.status);
  out["name"] = actor.name;
  out["node"] = actor.node;
  out["role"] = actor.role;
  out["answering"] = actor.answering;
  return out;
}

std::string show_actor(const actor_summary& actor) {
  return pretty_json(actor_json(actor));
}

std::string show_nodes(const node_summaries& nodes) {
  std::ostringstream out;
  for (auto& n : nodes) {
    out << n.node << "  role " << n.role;
    if (n.node == "local") {
      auto& t = n.totals;
      out << "  version " << n.version << "  up " << fmt(n.uptime_s, 1)
          << " s  actors " << num(n.actors) << "  controls "
          << (n.control ? "on" : "off") << "\n"
          << "  records " << num(t.records) << "  words " << num(t.words)
          << "  outputs " << num(t.outputs) << "  dlq " << num(t.dead_letters)
          << "  words/s " << fmt(t.words_per_s, 1) << "  lag "
          << num(t.consumer_lag) << "\n"
          << "  rpc calls " << num(t.rpc_calls) << " (errors "
          << num(t.rpc_errors) << ", retries " << num(t.rpc_retries)
          << ")  flushes count/timer/eow/bytes " << flushes_text(t.flushes)
          << "\n";
      if (n.unanswered > 0)
        out << "  requests to batcher nodes not answered in time: "
            << num(n.unanswered) << "\n";
      out << "  options:";
      for (auto& [k, v] : n.options)
        out << " " << k << "=" << v;
      out << "\n";
    } else {
      out << "  " << (n.answering ? "up" : "NOT ANSWERING") << "  actors "
          << num(n.actors) << "  words/s " << fmt(n.words_per_s, 1) << "\n";
    }
  }
  return out.str();
}

std::string show_actors(const actor_summaries& actors) {
  table t{{"ACTOR", "NODE", "MAILBOX", "WORDS/S", "STATE"}};
  for (auto& a : actors)
    t.add({a.name, a.node, num(a.status.mailbox), fmt(a.words_per_s, 1),
           a.summary});
  std::string out;
  for (auto& line : t.lines())
    out += line + "\n";
  return out;
}

std::string show_events(const node_events& events) {
  std::string out;
  for (auto& e : events) {
    out += utc_text(e.unix_ms) + "  " + to_string(e.kind) + "  " + e.actor
           + "  " + e.detail;
    if (e.count > 1)
      out += " (x" + num(e.count) + ")";
    out += "\n";
  }
  return out;
}

namespace {

/// The columns of `watch` that depend on what the actor is.
struct watch_cells {
  std::vector<std::string>& row;

  void operator()(const batcher_status& st) const {
    row[2] = num(st.bag_size);
    row[3] = num(st.counter);
    row[4] = st.ms_to_flush >= 0 ? num(st.ms_to_flush) + " ms" : "-";
    row[5] = flushes_text(st.flushes);
  }

  void operator()(const rpc_caller_status& st) const {
    // In flight / the adaptive limit.
    row[6] = num(st.inflight) + "/" + num(st.inflight_limit) + " calls";
    if (st.breaker_is_open())
      row[6] += ", breaker " + st.breaker + ", " + num(st.words_waiting)
                + " words wait";
  }

  void operator()(const source_status& st) const {
    row[6] = num(st.words_in_flight) + " words";
    row[8] = num(st.consumer_lag);
  }

  template <class T>
  void operator()(const T&) const {
    // nop
  }
};

} // namespace

std::string watch_frame(const std::string& target, const node_summaries& nodes,
                        const actor_summaries& actors, int width,
                        int height) {
  std::vector<std::string> lines;
  if (!nodes.empty()) {
    auto& local = nodes.front();
    auto& t = local.totals;
    lines.push_back("rpcbatch watch  " + target + "  role " + local.role
                    + "  up " + fmt(local.uptime_s) + " s   (q quits)");
    lines.push_back("records " + num(t.records) + "  words " + num(t.words)
                    + "  outputs " + num(t.outputs) + "  words/s "
                    + fmt(t.words_per_s, 1) + "  in flight "
                    + num(t.words_in_flight) + "  lag " + num(t.consumer_lag)
                    + "  rpc calls " + num(t.rpc_calls) + " errors "
                    + num(t.rpc_errors));
    for (std::size_t i = 1; i < nodes.size(); ++i)
      lines.push_back("node " + nodes[i].node + "  "
                      + (nodes[i].answering ? "up" : "NOT ANSWERING"));
  }
  lines.emplace_back();
  table t{{"ACTOR", "MBOX", "BAG", "COUNTER", "FLUSH IN", "FLUSHES c/t/e/b",
           "IN FLIGHT", "WORDS/S", "LAG"}};
  for (auto& a : actors) {
    std::vector<std::string> row{a.name, num(a.status.mailbox), "", "", "",
                                 "", "", fmt(a.words_per_s, 1), ""};
    caf::visit(watch_cells{row}, a.status.of);
    t.add(std::move(row));
  }
  for (auto& line : t.lines())
    lines.push_back(std::move(line));
  std::string out;
  int n = 0;
  for (auto& line : lines) {
    if (height > 0 && n++ >= height)
      break;
    if (width > 0 && static_cast<int>(line.size()) > width)
      line.resize(static_cast<std::size_t>(width));
    out += line + "\n";
  }
  return out;
}

} // namespace rpcbatch
