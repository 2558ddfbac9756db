#include "actors/observe/inspector.hpp"

#include <algorithm>
#include <ctime>
#include <functional>
#include <set>

#include <boost/json/serialize.hpp>

#include "actors/observe/countdown.hpp"
#include "actors/observe/inspection.hpp"
#include "actors/observe/status.hpp"
#include "services/adapters/kafka_consumer.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

using self_ptr = inspector_actor::stateful_pointer<inspector_state>;

/// Every actor the inspector reaches, with the status each answered.
struct view {
  actor_list actors;
  status_map status;
};

double uptime(self_ptr self) {
  return std::chrono::duration<double>(self->clock().now()
                                       - self->state.started)
    .count();
}

std::string error_json(const std::string& text) {
  return status_json({{"error", text}});
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

/// A batcher node answered (or not): an event when that changes.
void node_seen(self_ptr self, const std::string& address, bool up) {
  auto& st = self->state;
  auto [i, added] = st.nodes_up.emplace(address, up);
  if (!added && i->second == up)
    return;
  i->second = up;
  st.record(make_event(up ? "node_up" : "node_down", address,
                       up ? "batcher node answers"
                          : "batcher node does not answer",
                       1, unix_ms_now()),
            uptime(self));
}

/// Asks every actor for its status; the source's entry gets the consumer's
/// lag and the operator's pause.
void collect(self_ptr self, actor_list actors,
             std::function<void(view)> done) {
  auto list = std::make_shared<actor_list>(std::move(actors));
  collect_status(self, *list, [self, list, done](status_map status) {
    if (auto& consumer = self->state.targets.consumer)
      for (auto& [name, o] : status)
        if (auto src = caf::get_if<source_status>(&o.status.of)) {
          src->consumer_lag = consumer->lag();
          src->operator_paused = consumer->paused_by_operator();
          src->offsets_out_of_range = consumer->offsets_out_of_range();
          src->paused_for_credit = consumer->paused_for_credit();
        }
    done(view{std::move(*list), std::move(status)});
  });
}

/// Adds the actors of every batcher host in the directory's list that the
/// list does not name already (as "ADDRESS/NAME"), then collects. Nodes
/// that left the list count as down.
void add_remote_actors(self_ptr self, actor_list local,
                       std::function<void(view)> done) {
  std::vector<std::pair<std::string, actor_directory>> hosts;
  for (auto& e : local)
    if (e.role == "batcher-host" && !e.node.empty())
      hosts.emplace_back(e.node, caf::actor_cast<actor_directory>(e.handle));
  for (auto& [address, up] : self->state.nodes_up) {
    // A structured binding cannot be captured in C++17 (clang refuses).
    auto listed = std::any_of(hosts.begin(), hosts.end(),
                              [&a = address](auto& h) {
                                return h.first == a;
                              });
    if (!listed && up)
      node_seen(self, address, false);
  }
  struct found {
    actor_list actors;
    std::set<caf::actor_addr> known;
  };
  auto f = std::make_shared<found>(found{std::move(local), {}});
  for (auto& e : f->actors)
    f->known.insert(e.handle.address());
  auto left = countdown::start(hosts.size(), [self, f, done] {
    collect(self, std::move(f->actors), done);
  });
  for (auto& [address, host] : hosts)
    self->request(host, std::chrono::seconds(3), actors_atom::value)
      .then(
        [self, f, left, address = address](actor_list& remote) {
          node_seen(self, address, true);
          for (auto& e : remote)
            if (f->known.count(e.handle.address()) == 0)
              f->actors.push_back(
                {address + "/" + e.name, e.role, address, e.handle});
          left->settle();
        },
        [self, left, address = address](caf::error&) {
          node_seen(self, address, false);
          left->settle();
        });
}

/// A fresh view: the events since the last one, and the rates once half a
/// sample interval passed since their base.
void absorb(self_ptr self, uint64_t number, const view& v) {
  auto& st = self->state;
  if (number < st.last_view)
    return;
  st.last_view = number;
  // An actor that did not answer keeps its last status, so that its
  // counters do not start from 0 again when it answers next time.
  auto next = v.status;
  for (auto& e : v.actors)
    if (auto before = st.last.find(e.name);
        before != st.last.end() && next.count(e.name) == 0)
      next.emplace(e.name, before->second);
  auto events = moved_buckets(st.last, next, unix_ms_now());
  for (auto& [name, o] : v.status) {
    auto taken = take_events(name, o.status, st.events_seen[name]);
    events.insert(events.end(), taken.begin(), taken.end());
  }
  std::stable_sort(events.begin(), events.end(), [](auto& a, auto& b) {
    return a.at("unix_ms").as_int64() < b.at("unix_ms").as_int64();
  });
  for (auto& e : events)
    st.record(std::move(e), uptime(self));
  st.last = std::move(next);
  auto now = self->clock().now();
  if (st.rate_base_at) {
    auto dt = std::chrono::duration<double>(now - *st.rate_base_at).count();
    auto min_dt = std::chrono::duration<double>(st.cfg.sample_interval)
                    .count()
                  / 2;
    if (dt <= 0 || dt < min_dt)
      return;
    st.rates.clear();
    for (auto& [name, o] : v.status) {
      auto before = st.rate_base.find(name);
      if (before == st.rate_base.end() || throughput(o.status) < 0)
        continue;
      auto d = throughput(o.status) - throughput(before->second.status);
      st.rates[name] = std::max(0.0, d / dt);
    }
  }
  st.rate_base = v.status;
  st.rate_base_at = now;
}

/// Every actor of the node (and of its batcher nodes) with its status;
/// absorbed before `done` sees it.
void gather(self_ptr self, std::function<void(view)> done) {
  auto number = ++self->state.views_started;
  auto absorbed = [self, number, done](view v) {
    absorb(self, number, v);
    done(std::move(v));
  };
  self
    ->request<caf::message_priority::high>(
      self->state.targets.directory, caf::duration{std::chrono::seconds(5)},
      actors_atom::value)
    .then(
      [self, absorbed](actor_list& local) {
        add_remote_actors(self, std::move(local), absorbed);
      },
      [done](caf::error&) { done(view{}); });
}

/// Answers a request with what `f` makes of a fresh view.
template <class F>
caf::result<std::string> with_view(self_ptr self, F f) {
  auto rp = self->make_response_promise<std::string>();
  gather(self, [rp, f](view v) mutable { rp.deliver(f(v)); });
  return rp;
}

/// The periodic sample (unless one is still under way).
void take_sample(self_ptr self) {
  auto& st = self->state;
  if (st.sampling)
    return;
  st.sampling = true;
  gather(self, [self](view) { self->state.sampling = false; });
}

double rate_of(const inspector_state& st, const std::string& name) {
  auto i = st.rates.find(name);
  return i == st.rates.end() ? 0.0 : i->second;
}

std::string describe_nodes(self_ptr self, const view& v) {
  auto& st = self->state;
  auto totals = node_totals(v.status);
  totals["words_per_s"] = rate_of(st, "tokenizer");
  boost::json::array out;
  out.push_back({{"node", "local"},
                 {"role", st.cfg.role},
                 {"version", st.cfg.version},
                 {"uptime_s", uptime(self)},
                 {"control", st.cfg.control},
                 {"actors", v.actors.size()},
                 {"totals", std::move(totals)},
                 {"options", st.cfg.options}});
  for (auto& [address, up] : st.nodes_up) {
    uint64_t actors = 0;
    double rate = 0;
    for (auto& e : v.actors)
      if (e.node == address) {
        ++actors;
        rate += rate_of(st, e.name);
      }
    out.push_back({{"node", address},
                   {"role", "batcher"},
                   {"up", up},
                   {"actors", actors},
                   {"words_per_s", rate}});
  }
  return boost::json::serialize(out);
}

std::string describe_actors(self_ptr self, const view& v) {
  auto& st = self->state;
  boost::json::array out;
  for (auto& e : v.actors) {
    auto s = v.status.find(e.name);
    boost::json::object entry{{"name", e.name},
                              {"node", e.node.empty() ? "local" : e.node},
                              {"role", e.role},
                              {"words_per_s", rate_of(st, e.name)}};
    if (s != v.status.end()) {
      entry["mailbox"] = s->second.status.mailbox;
      entry["summary"] = summary_line(s->second.status);
      entry["status"] = status_object(s->second.status);
    } else {
      entry["summary"] = "(no answer)";
    }
    out.push_back(std::move(entry));
  }
  return boost::json::serialize(out);
}

/// The batcher called `name`: exactly, or "batcher-K" for "batcher-K@NODE".
std::optional<batcher_actor> find_batcher(const view& v,
                                          const std::string& name) {
  for (auto& e : v.actors)
    if (e.role == "batcher" && (e.name == name || e.name == name + "@" + e.node))
      return caf::actor_cast<batcher_actor>(e.handle);
  return std::nullopt;
}

/// Whether `given` is `expected`, in a time that does not depend on where
/// they differ.
bool same_token(const std::string& given, const std::string& expected) {
  if (expected.empty())
    return given.empty();
  unsigned char diff = given.size() != expected.size();
  for (std::size_t i = 0; i < given.size(); ++i)
    diff |= static_cast<unsigned char>(given[i])
            ^ static_cast<unsigned char>(expected[i % expected.size()]);
  return diff == 0;
}

caf::result<std::string> control(self_ptr self, const std::string& command,
                                 const std::string& argument,
                                 const std::string& token) {
  auto& st = self->state;
  if (!st.cfg.control)
    return error_json("refused: controls are off; start the node with "
                      "--console-control to allow them");
  if (!st.cfg.control_token.empty()
      && !same_token(token, st.cfg.control_token)) {
    ++st.controls_refused;
    log::warn("inspector", "a control (", command, ") with a wrong or no "
              "control token was refused");
    return error_json("refused: wrong or missing control token "
                      "(--control-token)");
  }
  auto done = [self, command, argument](std::string detail) {
    self->state.record(make_event("control", "console",
                                  command
                                    + (argument.empty() ? "" : " " + argument)
                                    + ": " + detail,
                                  1, unix_ms_now()),
                       uptime(self));
    return status_json({{"ok", true}, {"detail", detail}});
  };
  if (command == "pause" || command == "resume") {
    if (!st.targets.consumer)
      return error_json("this node has no consumer to " + command);
    st.targets.consumer->pause_for_operator(command == "pause");
    return done(command == "pause" ? "consumption paused"
                                   : "consumption resumed");
  }
  if (command == "drain") {
    if (!st.targets.node)
      return error_json("this node has no pipeline to drain");
    self->send(st.targets.node, drain_atom::value);
    return done("draining: the node stops once every word is written");
  }
  if (command != "flush")
    return error_json("unknown control '" + command
                      + "' (flush BATCHER, pause, resume, drain)");
  auto rp = self->make_response_promise<std::string>();
  gather(self, [self, rp, argument, done](view v) mutable {
    auto b = find_batcher(v, argument);
    if (!b) {
      rp.deliver(error_json("no batcher named '" + argument + "'"));
      return;
    }
    self->request(*b, std::chrono::seconds(5), end_of_window_atom::value)
      .then(
        [rp, done](uint64_t n) mutable {
          rp.deliver(done("flushed " + std::to_string(n) + " element(s)"));
        },
        [self, rp](caf::error& err) mutable {
          rp.deliver(error_json("flush failed: " + self->system().render(err)));
        });
  });
  return rp;
}

} // namespace

void inspector_state::record(boost::json::object event,
                             double uptime_seconds) {
  auto at = event.at("unix_ms").as_int64();
  auto age = static_cast<double>(unix_ms_now() - at) / 1000;
  event["id"] = next_event++;
  event["time"] = utc_text(at);
  event["uptime_s"] = std::max(0.0, uptime_seconds - age);
  events.push_back(std::move(event));
  while (events.size() > cfg.max_events)
    events.pop_front();
}

inspector_actor::behavior_type
inspector(inspector_actor::stateful_pointer<inspector_state> self,
          inspector_config cfg, inspector_targets targets) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.targets = std::move(targets);
  st.started = self->clock().now();
  if (st.cfg.sample_interval.count() > 0)
    self->delayed_send(self, st.cfg.sample_interval, tick_atom::value);
  return {
    [=](tick_atom) {
      if (!from_itself(self))
        return;
      take_sample(self);
      self->delayed_send(self, self->state.cfg.sample_interval,
                         tick_atom::value);
    },
    [=](status_atom) {
      auto& st = self->state;
      return status_of(self, inspector_status{st.cfg.role, st.next_event - 1,
                                              st.cfg.control,
                                              st.controls_refused,
                                              st.nodes_up.size()});
    },
    [=](nodes_atom) {
      return with_view(self, [self](const view& v) {
        return describe_nodes(self, v);
      });
    },
    [=](actors_atom) {
      return with_view(self, [self](const view& v) {
        return describe_actors(self, v);
      });
    },
    [=](status_atom, std::string& name) {
      return with_view(self, [name](const view& v) {
        if (auto s = v.status.find(name); s != v.status.end())
          return status_json(status_object(s->second.status));
        for (auto& e : v.actors)
          if (e.name == name)
            return error_json("actor '" + name + "' did not answer");
        return error_json("no actor named '" + name + "'");
      });
    },
    [=](events_atom, uint32_t n, const std::string& kind) {
      return last_events(self->state.events, n, kind);
    },
    [=](metrics_atom) {
      return with_view(self, [self](const view& v) {
        return prometheus_text(v.status, uptime(self));
      });
    },
    [=](ready_atom) -> caf::result<bool, std::string> {
      auto rp = self->make_response_promise<bool, std::string>();
      gather(self, [rp](view v) mutable {
        auto r = readiness(v.status);
        rp.deliver(r.ready, std::move(r.text));
      });
      return rp;
    },
    [=](control_atom, std::string& command, std::string& argument,
        std::string& token) {
      return control(self, command, argument, token);
    },
  };
}

} // namespace rpcbatch
