#include "actors/inspection.hpp"

#include <cstdio>
#include <set>
#include <sstream>

#include "messages/types.hpp"

namespace rpcbatch {

namespace {

constexpr flush_trigger all_triggers[] = {
  flush_trigger::count, flush_trigger::timer, flush_trigger::end_of_window,
  flush_trigger::bytes};

const boost::json::object* object_at(const boost::json::object& obj,
                                     std::string_view key) {
  auto v = obj.if_contains(key);
  return v != nullptr && v->is_object() ? &v->as_object() : nullptr;
}

/// The statuses of the actors of one role.
std::vector<std::pair<std::string, const boost::json::object*>>
of_role(const boost::json::object& status, std::string_view role) {
  std::vector<std::pair<std::string, const boost::json::object*>> out;
  for (auto& [name, value] : status)
    if (value.is_object() && role_of(name) == role)
      out.emplace_back(std::string{name}, &value.as_object());
  return out;
}

/// A field summed over every actor of a role.
double sum_of(const boost::json::object& status, std::string_view role,
              std::string_view field) {
  double n = 0;
  for (auto& [name, st] : of_role(status, role))
    n += number_at(*st, field);
  return n;
}

/// Whether an rpc-caller's circuit breaker is open (or half open).
bool breaker_open(const boost::json::object& st) {
  auto v = st.if_contains("breaker");
  return v != nullptr && v->is_string() && v->as_string() != "closed";
}

double flushes_of(const boost::json::object& st, flush_trigger t) {
  auto f = object_at(st, "flushes");
  return f ? number_at(*f, to_string(t)) : 0;
}

std::string fmt(double x) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", x);
  return buf;
}

std::string text_of(const boost::json::value* v) {
  if (v == nullptr)
    return "";
  if (v->is_string())
    return std::string{v->as_string()};
  if (v->is_number())
    return fmt(v->to_number<double>());
  if (v->is_bool())
    return v->as_bool() ? "yes" : "no";
  if (v->is_array()) {
    std::string out;
    for (auto& x : v->as_array())
      out += (out.empty() ? "" : ",") + text_of(&x);
    return "[" + out + "]";
  }
  return "";
}

/// Writes Prometheus text: HELP and TYPE once per metric family.
class exposition {
public:
  void family(const std::string& name, const char* type, const char* help) {
    out_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " "
         << type << "\n";
  }

  void sample(const std::string& name, double value,
              const std::map<std::string, std::string>& labels = {}) {
    out_ << name;
    if (!labels.empty()) {
      out_ << "{";
      bool first = true;
      for (auto& [k, v] : labels) {
        out_ << (first ? "" : ",") << k << "=\"" << escape(v) << "\"";
        first = false;
      }
      out_ << "}";
    }
    out_ << " " << fmt(value) << "\n";
  }

  /// A family with one unlabelled sample.
  void single(const std::string& name, const char* type, const char* help,
              double value) {
    family(name, type, help);
    sample(name, value);
  }

  std::string str() const {
    return out_.str();
  }

private:
  static std::string escape(const std::string& x) {
    std::string out;
    for (auto c : x) {
      if (c == '\\' || c == '"')
        out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    return out;
  }

  std::ostringstream out_;
};

void rpc_latency_histogram(exposition& x, const boost::json::object& status) {
  const std::string name = "rpcbatch_rpc_latency_seconds";
  std::vector<double> bounds;
  std::vector<double> counts;
  double sum_us = 0;
  for (auto& [actor, st] : of_role(status, "rpc-caller")) {
    auto b = st->if_contains("latency_bounds_us");
    auto c = st->if_contains("latency_counts");
    if (b == nullptr || c == nullptr || !b->is_array() || !c->is_array())
      continue;
    if (bounds.empty())
      for (auto& v : b->as_array())
        bounds.push_back(v.to_number<double>());
    counts.resize(c->as_array().size(), 0);
    for (std::size_t i = 0; i < counts.size(); ++i)
      counts[i] += c->as_array()[i].to_number<double>();
    sum_us += number_at(*st, "latency_us_sum");
  }
  x.family(name, "histogram", "Latency of successful resolveBatch calls.");
  double cumulative = 0;
  for (std::size_t i = 0; i < bounds.size() && i < counts.size(); ++i) {
    cumulative += counts[i];
    x.sample(name + "_bucket", cumulative, {{"le", fmt(bounds[i] / 1e6)}});
  }
  if (counts.size() > bounds.size())
    cumulative += counts.back();
  x.sample(name + "_bucket", cumulative, {{"le", "+Inf"}});
  x.sample(name + "_sum", sum_us / 1e6);
  x.sample(name + "_count", cumulative);
}

} // namespace

std::string role_of(std::string_view name) {
  auto slash = name.rfind('/');
  if (slash != std::string_view::npos)
    name.remove_prefix(slash + 1);
  name = name.substr(0, name.find('@'));
  if (name.compare(0, 8, "batcher-") == 0
      && name.find_first_not_of("0123456789", 8) == std::string_view::npos)
    return "batcher";
  return std::string{name};
}

std::string node_of(std::string_view name) {
  auto at = name.find('@');
  if (at != std::string_view::npos)
    return std::string{name.substr(at + 1)};
  auto slash = name.find('/');
  if (slash != std::string_view::npos)
    return std::string{name.substr(0, slash)};
  return "local";
}

double number_at(const boost::json::object& status, std::string_view field) {
  auto v = status.if_contains(field);
  return v != nullptr && v->is_number() ? v->to_number<double>() : 0;
}

const char* throughput_field(std::string_view role) {
  if (role == "source" || role == "tokenizer")
    return "words";
  if (role == "batcher")
    return "elements_flushed";
  if (role == "rpc-caller")
    return "elements_resolved";
  if (role == "sink")
    return "outputs";
  return "";
}

std::string summary_line(std::string_view role,
                         const boost::json::object& st) {
  auto n = [&](const char* field) { return fmt(number_at(st, field)); };
  std::string out;
  if (role == "batcher") {
    out = "bag " + n("bag_size") + " (" + n("bag_bytes") + " B), ";
    if (st.if_contains("cache_entries"))
      out += "cache " + n("cache_entries") + " (" + n("cache_hits")
             + " hits, " + n("cache_misses") + " misses), ";
    auto ms = number_at(st, "ms_to_flush");
    out += ms >= 0 ? "flush in " + fmt(ms) + " ms" : "no flush pending";
    out += ", flushed";
    for (auto t : all_triggers)
      out += std::string{t == flush_trigger::count ? " " : " / "}
             + fmt(flushes_of(st, t)) + " " + to_string(t);
  } else if (role == "rpc-caller") {
    out = "in flight " + n("inflight") + "/" + n("max_inflight") + ", waiting "
          + n("waiting") + ", calls " + n("calls") + " (" + n("failed_calls")
          + " failed, " + n("retries") + " retries), mean "
          + n("mean_latency_us") + " us";
    if (st.contains("breaker"))
      out += ", breaker " + text_of(st.if_contains("breaker"))
             + (breaker_open(st) ? " " + n("breaker_open_ms") + " ms, "
                                     + n("words_waiting") + " words waiting"
                                 : "");
  } else if (role == "source") {
    out = "assigned " + text_of(st.if_contains("assigned")) + ", records "
          + n("records") + ", words in flight " + n("words_in_flight")
          + ", lag " + n("consumer_lag")
          + (text_of(st.if_contains("waiting_for_credit")) == "yes"
               ? ", waiting for credit"
               : "")
          + (text_of(st.if_contains("operator_paused")) == "yes"
               ? ", held by operator"
               : "")
          + (text_of(st.if_contains("draining")) == "yes" ? ", draining" : "");
  } else if (role == "tokenizer") {
    out = "pieces " + n("pieces") + ", words " + n("words")
          + ", end of windows " + n("end_of_windows");
  } else if (role == "router") {
    out = "batches " + n("batches") + ", end of windows "
          + n("end_of_windows") + ", handovers " + n("handovers")
          + ", kept for resend " + n("kept_for_resend") + ", sent again "
          + n("resent");
  } else if (role == "sink") {
    out = "outputs " + n("outputs") + ", dead letters " + n("dead_letters")
          + ", queued " + n("queued") + ", delivery failures "
          + n("delivery_failures");
  } else {
    for (auto& [k, v] : st) {
      if (k == "mailbox" || v.is_object() || v.is_array())
        continue;
      out += (out.empty() ? "" : ", ") + std::string{k} + " " + text_of(&v);
    }
  }
  return out;
}

boost::json::object make_event(std::string kind, std::string actor,
                               std::string detail, uint64_t count) {
  return {{"kind", kind}, {"actor", actor}, {"detail", detail},
          {"count", count}};
}

std::vector<boost::json::object> diff_events(const boost::json::object& before,
                                             const boost::json::object& after) {
  static const boost::json::object none;
  std::vector<boost::json::object> out;
  auto delta = [](const boost::json::object& a, const boost::json::object& b,
                  const char* field) {
    return static_cast<uint64_t>(
      std::max(0.0, number_at(b, field) - number_at(a, field)));
  };
  for (auto& [name_sv, value] : after) {
    if (!value.is_object())
      continue;
    std::string name{name_sv};
    auto& now = value.as_object();
    auto prev_p = object_at(before, name);
    auto& prev = prev_p ? *prev_p : none;
    auto role = role_of(name);
    if (role == "batcher") {
      for (auto t : all_triggers) {
        auto d = flushes_of(now, t) - flushes_of(prev, t);
        if (d > 0)
          out.push_back(make_event("flush", name,
                                   std::string{"trigger "} + to_string(t),
                                   static_cast<uint64_t>(d)));
      }
    } else if (role == "rpc-caller") {
      if (auto d = delta(prev, now, "failed_calls")) {
        std::string codes;
        auto a = object_at(prev, "errors_by_code");
        if (auto b = object_at(now, "errors_by_code"))
          for (auto& [code, n] : *b) {
            auto was = a ? number_at(*a, code) : 0;
            if (n.to_number<double>() > was)
              codes += (codes.empty() ? "" : ", ") + std::string{code} + " x"
                       + fmt(n.to_number<double>() - was);
          }
        out.push_back(make_event("rpc_error", name, codes, d));
      }
      if (auto d = delta(prev, now, "retries"))
        out.push_back(make_event("retry", name, "calls retried", d));
      if (auto d = delta(prev, now, "dead_letter_jobs"))
        out.push_back(
          make_event("dead_letter", name, "batches to the dead-letter topic",
                     d));
      if (auto d = delta(prev, now, "breaker_opens"))
        out.push_back(make_event("breaker_open", name,
                                 "circuit breaker open: calls wait for the "
                                 "RPC target",
                                 d));
      // Every open period but a current one has closed.
      auto closes = [](const boost::json::object& st) {
        return number_at(st, "breaker_opens") - (breaker_open(st) ? 1 : 0);
      };
      if (auto d = closes(now) - closes(prev); d > 0)
        out.push_back(make_event("breaker_closed", name,
                                 "circuit breaker closed: waiting calls go",
                                 static_cast<uint64_t>(d)));
    } else if (role == "source") {
      if (auto d = delta(prev, now, "revokes"))
        out.push_back(make_event("rebalance", name, "partitions revoked", d));
      auto assigned = text_of(now.if_contains("assigned"));
      if (prev_p && assigned != text_of(prev.if_contains("assigned")))
        out.push_back(make_event("rebalance", name, "assigned " + assigned));
      if (auto d = delta(prev, now, "credit_stalls"))
        out.push_back(make_event("credit", name,
                                 "credit window spent: consuming waits", d));
    } else if (role == "router") {
      if (auto d = delta(prev, now, "resent"))
        out.push_back(make_event("resend", name,
                                 "unconfirmed words of a lost batcher node "
                                 "sent to new owners",
                                 d));
    }
  }
  // A bucket whose batcher now runs on another node.
  std::map<std::string, std::string> was;
  for (auto& [name, value] : before)
    if (role_of(name) == "batcher" && name.find('/') == std::string::npos)
      was[std::string{name.substr(0, name.find('@'))}] = node_of(name);
  for (auto& [name, value] : after) {
    auto base = std::string{name.substr(0, name.find('@'))};
    auto i = was.find(base);
    if (i != was.end() && i->second != node_of(name))
      out.push_back(make_event("rebalance", base,
                               "moved from " + i->second + " to "
                                 + node_of(name)));
  }
  return out;
}

boost::json::object node_totals(const boost::json::object& status) {
  boost::json::object flushes;
  for (auto t : all_triggers) {
    double n = 0;
    for (auto& [name, st] : of_role(status, "batcher"))
      n += flushes_of(*st, t);
    flushes[to_string(t)] = n;
  }
  return {{"records", sum_of(status, "source", "records")},
          {"words", sum_of(status, "source", "words")},
          {"outputs", sum_of(status, "sink", "outputs")},
          {"dlq", sum_of(status, "sink", "dead_letters")},
          {"rpc_calls", sum_of(status, "rpc-caller", "calls")},
          {"rpc_errors", sum_of(status, "rpc-caller", "failed_calls")},
          {"rpc_retries", sum_of(status, "rpc-caller", "retries")},
          {"flushes", std::move(flushes)},
          {"words_in_flight", sum_of(status, "source", "words_in_flight")},
          {"consumer_lag", sum_of(status, "source", "consumer_lag")}};
}

readiness_report readiness(const boost::json::object& status) {
  readiness_report out;
  auto line = [&](bool fine, const std::string& text) {
    out.ready = out.ready && fine;
    out.text += text + "\n";
  };
  for (auto& [name, st] : of_role(status, "source")) {
    auto assigned = st->if_contains("assigned");
    auto n = assigned && assigned->is_array() ? assigned->as_array().size()
                                              : 0;
    line(n > 0, name + ": " + fmt(static_cast<double>(n))
                  + " partition(s) assigned, "
                  + fmt(number_at(*st, "words_in_flight"))
                  + " word(s) in flight");
    if (number_at(*st, "stuck_count") > 0)
      line(false, name + ": stuck partition(s) "
                    + text_of(st->if_contains("stuck_partitions"))
                    + " (commit point not moving while records wait)");
  }
  for (auto& [name, st] : of_role(status, "rpc-caller")) {
    if (!breaker_open(*st))
      continue;
    line(false, name + ": circuit breaker "
                  + text_of(st->if_contains("breaker")) + " for "
                  + fmt(number_at(*st, "breaker_open_ms") / 1000)
                  + " s, " + fmt(number_at(*st, "words_waiting"))
                  + " word(s) waiting: the RPC target is failing");
  }
  return out;
}

const std::vector<summed_metric>& summed_metrics() {
  static const std::vector<summed_metric> metrics = {
    {"rpcbatch_records_total", "counter", "source", "records",
     "Records consumed."},
    {"rpcbatch_words_total", "counter", "source", "words",
     "Words of the records consumed."},
    {"rpcbatch_outputs_total", "counter", "sink", "outputs",
     "Output records written."},
    {"rpcbatch_dead_letters_total", "counter", "sink", "dead_letters",
     "Dead-letter records written."},
    {"rpcbatch_output_refusals_total", "counter", "sink",
     "permanent_refusals",
     "Output records Kafka refused for good, written as dead letters."},
    {"rpcbatch_outputs_produced_again_total", "counter", "sink", "reproduced",
     "Records produced again after a transient Kafka failure."},
    {"rpcbatch_rpc_calls_total", "counter", "rpc-caller", "calls",
     "resolveBatch calls started (retries included)."},
    {"rpcbatch_rpc_errors_total", "counter", "rpc-caller", "failed_calls",
     "resolveBatch calls that failed."},
    {"rpcbatch_rpc_retries_total", "counter", "rpc-caller", "retries",
     "resolveBatch calls retried after a transient error."},
    {"rpcbatch_kafka_deliveries_total", "counter", "sink", "delivered",
     "Records the broker confirmed."},
    {"rpcbatch_kafka_delivery_errors_total", "counter", "sink",
     "delivery_failures", "Records the broker failed to store."},
    {"rpcbatch_kafka_produce_errors_total", "counter", "sink",
     "produce_errors", "Records that could not be queued for the broker."},
    {"rpcbatch_kafka_commits_total", "counter", "source", "commits",
     "Offset commits done."},
    {"rpcbatch_rpc_inflight", "gauge", "rpc-caller", "inflight",
     "resolveBatch calls in flight."},
    {"rpcbatch_rpc_waiting", "gauge", "rpc-caller", "waiting",
     "Batches waiting for a free call slot."},
    {"rpcbatch_rpc_words_waiting", "gauge", "rpc-caller", "words_waiting",
     "Words of batches not answered yet (waiting, backing off, in flight)."},
    {"rpcbatch_rpc_breaker_opens_total", "counter", "rpc-caller",
     "breaker_opens", "Times a circuit breaker opened."},
    {"rpcbatch_words_in_flight", "gauge", "source", "words_in_flight",
     "Words let into the pipeline and not yet confirmed by the broker."},
    {"rpcbatch_credit_window", "gauge", "source", "window",
     "Words the source lets into the pipeline at most."},
    {"rpcbatch_words_waiting_for_credit", "gauge", "source", "held_words",
     "Words read and waiting for the credit window."},
    {"rpcbatch_credit_stalls_total", "counter", "source", "credit_stalls",
     "Times the credit window was spent while records waited."},
    {"rpcbatch_offsets_out_of_range_total", "counter", "source",
     "offsets_out_of_range",
     "Partitions whose offset was out of the range the broker holds."},
    {"rpcbatch_cache_hits_total", "counter", "batcher", "cache_hits",
     "Words answered from the result cache."},
    {"rpcbatch_cache_misses_total", "counter", "batcher", "cache_misses",
     "Words not in the result cache (asked, or waiting for a call)."},
    {"rpcbatch_cache_evictions_total", "counter", "batcher",
     "cache_evictions", "Result cache entries evicted to make room."},
    {"rpcbatch_cache_entries", "gauge", "batcher", "cache_entries",
     "Answers in the result cache."},
    {"rpcbatch_words_coalesced_total", "counter", "batcher", "coalesced",
     "Words that waited for a call already asking them instead of being "
     "asked again."},
    {"rpcbatch_stuck_partitions", "gauge", "source", "stuck_count",
     "Partitions whose commit point has not moved for --stuck-secs while "
     "records are pending."},
    {"rpcbatch_consumer_lag", "gauge", "source", "consumer_lag",
     "Records between the read position and the end of the input."},
    {"rpcbatch_kafka_queued", "gauge", "sink", "queued",
     "Records waiting in the producer's queue."},
    {"rpcbatch_words_sent_again_total", "counter", "router", "resent",
     "Unconfirmed words of lost batcher nodes sent to new owners."},
    {"rpcbatch_words_kept_for_resend", "gauge", "router", "kept_for_resend",
     "Words sent to batcher nodes and kept until their records are done."},
  };
  return metrics;
}

std::string prometheus_text(const boost::json::object& status,
                            double uptime_seconds) {
  exposition x;
  x.single("rpcbatch_up", "gauge", "The node answers.", 1);
  x.single("rpcbatch_uptime_seconds", "gauge", "Seconds since start.",
           uptime_seconds);
  for (auto& m : summed_metrics())
    x.single(m.name, m.type, m.help, sum_of(status, m.role, m.field));
  x.family("rpcbatch_flushes_total", "counter", "Batcher flushes by trigger.");
  for (auto t : all_triggers) {
    double n = 0;
    for (auto& [name, st] : of_role(status, "batcher"))
      n += flushes_of(*st, t);
    x.sample("rpcbatch_flushes_total", n, {{"trigger", to_string(t)}});
  }
  rpc_latency_histogram(x, status);
  x.family("rpcbatch_committed_offset", "gauge",
           "Next offset to read, as committed, per input partition.");
  for (auto& [name, st] : of_role(status, "source"))
    if (auto points = object_at(*st, "commit_points"))
      for (auto& [partition, offset] : *points)
        x.sample("rpcbatch_committed_offset", offset.to_number<double>(),
                 {{"partition", std::string{partition}}});
  x.family("rpcbatch_batcher_bag_size", "gauge",
           "Elements in a batcher's bag.");
  for (auto& [name, st] : of_role(status, "batcher"))
    x.sample("rpcbatch_batcher_bag_size", number_at(*st, "bag_size"),
             {{"actor", name}, {"node", node_of(name)}});
  x.family("rpcbatch_rpc_breaker_open", "gauge",
           "1 while an rpc-caller's circuit breaker is open, 0 otherwise.");
  for (auto& [name, st] : of_role(status, "rpc-caller"))
    x.sample("rpcbatch_rpc_breaker_open", breaker_open(*st) ? 1 : 0,
             {{"actor", name}, {"node", node_of(name)}});
  x.family("rpcbatch_actor_mailbox", "gauge",
           "Messages waiting in an actor's mailbox.");
  for (auto& [name, value] : status)
    if (value.is_object())
      x.sample("rpcbatch_actor_mailbox",
               number_at(value.as_object(), "mailbox"),
               {{"actor", std::string{name}}});
  return x.str();
}

} // namespace rpcbatch
