#include "actors/observe/console_view.hpp"

#include <cstdio>
#include <sstream>
#include <vector>

#include <boost/json/serialize.hpp>

namespace rpcbatch {

namespace {

const boost::json::value* at(const boost::json::value& v,
                             std::initializer_list<const char*> path) {
  auto p = &v;
  for (auto key : path) {
    if (!p->is_object())
      return nullptr;
    p = p->as_object().if_contains(key);
    if (p == nullptr)
      return nullptr;
  }
  return p;
}

double num(const boost::json::value& v,
           std::initializer_list<const char*> path) {
  auto p = at(v, path);
  return p != nullptr && p->is_number() ? p->to_number<double>() : 0;
}

std::string str(const boost::json::value& v,
                std::initializer_list<const char*> path) {
  auto p = at(v, path);
  if (p == nullptr)
    return "";
  if (p->is_string())
    return std::string{p->as_string()};
  return boost::json::serialize(*p);
}

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

std::string flushes_text(const boost::json::value& status) {
  return fmt(num(status, {"flushes", "count"})) + "/"
         + fmt(num(status, {"flushes", "timer"})) + "/"
         + fmt(num(status, {"flushes", "end_of_window"})) + "/"
         + fmt(num(status, {"flushes", "bytes"}));
}

} // namespace

std::string pretty_json(const boost::json::value& v) {
  std::ostringstream out;
  pretty(out, v, 0);
  out << "\n";
  return out.str();
}

std::string show_nodes(const boost::json::value& nodes) {
  std::ostringstream out;
  if (!nodes.is_array())
    return "";
  for (auto& n : nodes.as_array()) {
    out << str(n, {"node"}) << "  role " << str(n, {"role"});
    if (str(n, {"node"}) == "local") {
      auto& t = *at(n, {"totals"});
      out << "  version " << str(n, {"version"}) << "  up "
          << fmt(num(n, {"uptime_s"}), 1) << " s  actors "
          << fmt(num(n, {"actors"})) << "  controls "
          << (str(n, {"control"}) == "true" ? "on" : "off") << "\n"
          << "  records " << fmt(num(t, {"records"})) << "  words "
          << fmt(num(t, {"words"})) << "  outputs " << fmt(num(t, {"outputs"}))
          << "  dlq " << fmt(num(t, {"dlq"})) << "  words/s "
          << fmt(num(t, {"words_per_s"}), 1) << "  lag "
          << fmt(num(t, {"consumer_lag"})) << "\n"
          << "  rpc calls " << fmt(num(t, {"rpc_calls"})) << " (errors "
          << fmt(num(t, {"rpc_errors"})) << ", retries "
          << fmt(num(t, {"rpc_retries"})) << ")  flushes count/timer/eow/bytes "
          << flushes_text(t) << "\n  options:";
      if (auto opts = at(n, {"options"}); opts && opts->is_object())
        for (auto& [k, v] : opts->as_object())
          out << " " << std::string{k} << "="
              << (v.is_string() ? std::string{v.as_string()}
                                : boost::json::serialize(v));
      out << "\n";
    } else {
      out << "  " << (str(n, {"up"}) == "true" ? "up" : "DOWN") << "  actors "
          << fmt(num(n, {"actors"})) << "  words/s "
          << fmt(num(n, {"words_per_s"}), 1) << "\n";
    }
  }
  return out.str();
}

std::string show_actors(const boost::json::value& actors) {
  table t{{"ACTOR", "NODE", "MAILBOX", "WORDS/S", "STATE"}};
  if (actors.is_array())
    for (auto& a : actors.as_array())
      t.add({str(a, {"name"}), str(a, {"node"}), fmt(num(a, {"mailbox"})),
             fmt(num(a, {"words_per_s"}), 1), str(a, {"summary"})});
  std::string out;
  for (auto& line : t.lines())
    out += line + "\n";
  return out;
}

std::string show_events(const boost::json::value& events) {
  std::string out;
  if (!events.is_array())
    return out;
  for (auto& e : events.as_array()) {
    out += str(e, {"time"}) + "  " + str(e, {"kind"}) + "  " + str(e, {"actor"})
           + "  " + str(e, {"detail"});
    if (num(e, {"count"}) > 1)
      out += " (x" + fmt(num(e, {"count"})) + ")";
    out += "\n";
  }
  return out;
}

std::string watch_frame(const std::string& target,
                        const boost::json::value& nodes,
                        const boost::json::value& actors, int width,
                        int height) {
  std::vector<std::string> lines;
  const boost::json::value* local = nullptr;
  if (nodes.is_array() && !nodes.as_array().empty())
    local = &nodes.as_array().front();
  if (local != nullptr) {
    auto& t = *at(*local, {"totals"});
    lines.push_back("rpcbatch watch  " + target + "  role "
                    + str(*local, {"role"}) + "  up "
                    + fmt(num(*local, {"uptime_s"})) + " s   (q quits)");
    lines.push_back("records " + fmt(num(t, {"records"})) + "  words "
                    + fmt(num(t, {"words"})) + "  outputs "
                    + fmt(num(t, {"outputs"})) + "  words/s "
                    + fmt(num(t, {"words_per_s"}), 1) + "  in flight "
                    + fmt(num(t, {"words_in_flight"})) + "  lag "
                    + fmt(num(t, {"consumer_lag"})) + "  rpc calls "
                    + fmt(num(t, {"rpc_calls"})) + " errors "
                    + fmt(num(t, {"rpc_errors"})));
    for (auto& n : nodes.as_array())
      if (&n != local)
        lines.push_back("node " + str(n, {"node"}) + "  "
                        + (str(n, {"up"}) == "true" ? "up" : "DOWN"));
  }
  lines.emplace_back();
  table t{{"ACTOR", "MBOX", "BAG", "COUNTER", "FLUSH IN", "FLUSHES c/t/e/b",
           "IN FLIGHT", "WORDS/S", "LAG"}};
  if (actors.is_array())
    for (auto& a : actors.as_array()) {
      auto role = str(a, {"role"});
      auto& st = at(a, {"status"}) ? *at(a, {"status"}) : a;
      std::vector<std::string> row{str(a, {"name"}), fmt(num(a, {"mailbox"})),
                                   "", "", "", "", "",
                                   fmt(num(a, {"words_per_s"}), 1), ""};
      if (role == "batcher") {
        row[2] = fmt(num(st, {"bag_size"}));
        row[3] = fmt(num(st, {"counter"}));
        auto ms = num(st, {"ms_to_flush"});
        row[4] = ms >= 0 ? fmt(ms) + " ms" : "-";
        row[5] = flushes_text(st);
      } else if (role == "rpc-caller") {
        // In flight / the adaptive limit (a node without it: in flight).
        row[6] = fmt(num(st, {"inflight"}));
        if (at(st, {"inflight_limit"}) != nullptr)
          row[6] += "/" + fmt(num(st, {"inflight_limit"}));
        row[6] += " calls";
        auto breaker = str(st, {"breaker"});
        if (!breaker.empty() && breaker != "closed")
          row[6] += ", breaker " + breaker + ", "
                    + fmt(num(st, {"words_waiting"})) + " words wait";
      } else if (role == "source") {
        row[6] = fmt(num(st, {"words_in_flight"})) + " words";
        row[8] = fmt(num(st, {"consumer_lag"}));
      }
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
