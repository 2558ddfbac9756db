#include "actors/observe/inspector.hpp"

#include <algorithm>
#include <functional>
#include <set>

#include "actors/observe/countdown.hpp"
#include "actors/observe/inspection.hpp"
#include "actors/observe/reporting.hpp"
#include "services/adapters/log.hpp"

namespace rpcbatch {

namespace {

using self_ptr = inspector_actor::stateful_pointer<inspector_state>;
using time_point = caf::actor_clock::time_point;

/// Every actor the inspector reaches, with the status each answered, and
/// the batcher nodes asked and whether they answered in time.
struct view {
  actor_list actors;
  status_map status;
  std::map<std::string, bool> answered;
};

double uptime(self_ptr self) {
  return std::chrono::duration<double>(self->clock().now()
                                       - self->state.started)
    .count();
}

caf::error refused(std::string why) {
  return caf::make_error(caf::sec::runtime_error, std::move(why));
}

/// What is left of the remote budget (at least a millisecond).
caf::timespan left_until(self_ptr self, time_point deadline) {
  auto left = std::chrono::duration_cast<caf::timespan>(deadline
                                                        - self->clock().now());
  return std::max(left, caf::timespan{std::chrono::milliseconds(1)});
}

/// Takes in which batcher nodes answered this view in time; those that
/// did not (or left the directory) are marked and counted.
void note_answers(self_ptr self, const view& v) {
  auto& st = self->state;
  for (auto& [address, r] : st.remotes)
    if (v.answered.count(address) == 0)
      r.answering = false;
  for (auto& [address, ok] : v.answered) {
    auto& r = st.remotes[address];
    r.answering = ok;
    if (!ok) {
      ++r.unanswered;
      ++st.unanswered;
    }
  }
}

/// Asks every actor of the view for its status, those of batcher nodes
/// within what is left of the remote budget.
void collect(self_ptr self, std::shared_ptr<view> v, time_point deadline,
             std::function<void(view)> done) {
  collect_status(
    self, v->actors,
    [self, v, done](status_map status) {
      v->status = std::move(status);
      for (auto& e : v->actors)
        if (!e.node.empty() && v->status.count(e.name) == 0)
          v->answered[e.node] = false;
      note_answers(self, *v);
      done(std::move(*v));
    },
    left_until(self, deadline));
}

/// Adds the actors of every batcher host in the directory's list that the
/// list does not name already (as "ADDRESS/NAME"), then collects; a host
/// gets half the remote budget to answer.
void add_remote_actors(self_ptr self, actor_list local,
                       std::function<void(view)> done) {
  auto budget = self->state.cfg.remote_budget;
  auto deadline = self->clock().now() + budget;
  auto v = std::make_shared<view>();
  v->actors = std::move(local);
  std::vector<std::pair<std::string, actor_directory>> hosts;
  for (auto& e : v->actors) {
    if (!e.node.empty())
      v->answered.emplace(e.node, true);
    if (e.role == "batcher-host" && !e.node.empty())
      hosts.emplace_back(e.node, caf::actor_cast<actor_directory>(e.handle));
  }
  auto known = std::make_shared<std::set<caf::actor_addr>>();
  for (auto& e : v->actors)
    known->insert(e.handle.address());
  auto left = countdown::start(hosts.size(), [self, v, deadline, done] {
    collect(self, v, deadline, done);
  });
  for (auto& [address, host] : hosts)
    self->request(host, caf::duration{budget / 2}, actors_atom::value)
      .then(
        [v, known, left, address = address](actor_list& remote) {
          for (auto& e : remote)
            if (known->count(e.handle.address()) == 0)
              v->actors.push_back(
                {address + "/" + e.name, e.role, address, e.handle});
          left->settle();
        },
        [v, left, address = address](caf::error&) {
          v->answered[address] = false;
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
  std::vector<node_event> events;
  for (auto& [name, o] : v.status) {
    auto taken = take_events(name, o.status, st.events_seen[name]);
    events.insert(events.end(), taken.begin(), taken.end());
  }
  std::stable_sort(events.begin(), events.end(), [](auto& a, auto& b) {
    return a.unix_ms < b.unix_ms;
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
template <class T, class F>
caf::result<T> with_view(self_ptr self, F f) {
  auto rp = self->make_response_promise<T>();
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

node_summaries describe_nodes(self_ptr self, const view& v) {
  auto& st = self->state;
  node_summary local;
  local.node = "local";
  local.role = st.cfg.role;
  local.version = st.cfg.version;
  local.uptime_s = uptime(self);
  local.control = st.cfg.control;
  local.actors = v.actors.size();
  local.totals = totals_of(v.status);
  local.totals.words_per_s = rate_of(st, "tokenizer");
  local.words_per_s = local.totals.words_per_s;
  local.unanswered = st.unanswered;
  local.options = st.cfg.options;
  node_summaries out{std::move(local)};
  for (auto& [address, r] : st.remotes) {
    node_summary n;
    n.node = address;
    n.role = "batcher";
    n.answering = r.answering;
    n.unanswered = r.unanswered;
    for (auto& e : v.actors)
      if (e.node == address) {
        ++n.actors;
        n.words_per_s += rate_of(st, e.name);
      }
    out.push_back(std::move(n));
  }
  return out;
}

/// An actor of the view: its fresh status, or the last it gave.
actor_summary describe(self_ptr self, const view& v,
                       const directory_entry& e) {
  auto& st = self->state;
  actor_summary out;
  out.name = e.name;
  out.node = e.node.empty() ? "local" : e.node;
  out.role = e.role;
  out.words_per_s = rate_of(st, e.name);
  auto fresh = v.status.find(e.name);
  out.answering = fresh != v.status.end();
  auto last = st.last.find(e.name);
  if (out.answering)
    out.status = fresh->second.status;
  else if (last != st.last.end())
    out.status = last->second.status;
  out.summary = out.answering ? summary_line(out.status)
                : last != st.last.end()
                  ? "(not answering) " + summary_line(out.status)
                  : "(not answering)";
  out.status.events.clear();
  return out;
}

actor_summaries describe_actors(self_ptr self, const view& v) {
  actor_summaries out;
  for (auto& e : v.actors)
    out.push_back(describe(self, v, e));
  return out;
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

/// A control that was done: an event, and its outcome.
control_outcome done_control(self_ptr self, const std::string& command,
                             const std::string& argument,
                             std::string detail) {
  node_event e;
  e.unix_ms = unix_ms_now();
  e.kind = event_kind::control;
  e.actor = "console";
  e.detail = command + (argument.empty() ? "" : " " + argument) + ": "
             + detail;
  self->state.record(std::move(e), uptime(self));
  return {true, std::move(detail)};
}

/// The source of this node, if it has one.
std::optional<source_actor> find_source(const view& v) {
  for (auto& e : v.actors)
    if (e.role == "source" && e.node.empty())
      return caf::actor_cast<source_actor>(e.handle);
  return std::nullopt;
}

/// Pauses or resumes consuming through the source, which owns the
/// consumer.
caf::result<control_outcome> pause(self_ptr self, const std::string& command) {
  auto rp = self->make_response_promise<control_outcome>();
  gather(self, [self, rp, command](view v) mutable {
    auto source = find_source(v);
    if (!source) {
      rp.deliver(control_outcome{false, "this node has no consumer to "
                                          + command});
      return;
    }
    self->request(*source, std::chrono::seconds(5), pause_atom::value,
                  command == "pause")
      .then(
        [self, rp, command](bool paused) mutable {
          rp.deliver(done_control(self, command, "",
                                  paused ? "consumption paused"
                                         : "consumption resumed"));
        },
        [self, rp, command](caf::error& err) mutable {
          rp.deliver(control_outcome{false, command + " failed: "
                                              + self->system().render(err)});
        });
  });
  return rp;
}

caf::result<control_outcome> flush(self_ptr self, const std::string& name) {
  auto rp = self->make_response_promise<control_outcome>();
  gather(self, [self, rp, name](view v) mutable {
    auto b = find_batcher(v, name);
    if (!b) {
      rp.deliver(control_outcome{false, "no batcher named '" + name + "'"});
      return;
    }
    self->request(*b, std::chrono::seconds(5), end_of_window_atom::value)
      .then(
        [self, rp, name](uint64_t n) mutable {
          rp.deliver(done_control(self, "flush", name,
                                  "flushed " + std::to_string(n)
                                    + " element(s)"));
        },
        [self, rp](caf::error& err) mutable {
          rp.deliver(control_outcome{false, "flush failed: "
                                              + self->system().render(err)});
        });
  });
  return rp;
}

caf::result<control_outcome> control(self_ptr self, const std::string& command,
                                     const std::string& argument,
                                     const std::string& token) {
  auto& st = self->state;
  if (!st.cfg.control)
    return control_outcome{false, "refused: controls are off; start the "
                                  "node with --console-control to allow "
                                  "them"};
  if (!st.cfg.control_token.empty()
      && !same_token(token, st.cfg.control_token)) {
    ++st.controls_refused;
    log::warn("inspector", "a control (", command, ") with a wrong or no "
              "control token was refused");
    return control_outcome{false, "refused: wrong or missing control token "
                                  "(--control-token)"};
  }
  if (command == "pause" || command == "resume")
    return pause(self, command);
  if (command == "drain") {
    if (!st.targets.node)
      return control_outcome{false, "this node has no pipeline to drain"};
    self->send(st.targets.node, drain_atom::value);
    return done_control(self, command, argument,
                        "draining: the node stops once every word is "
                        "written");
  }
  if (command != "flush")
    return control_outcome{false, "unknown control '" + command
                                    + "' (flush BATCHER, pause, resume, "
                                      "drain)"};
  return flush(self, argument);
}

} // namespace

void inspector_state::record(node_event event, double uptime_seconds) {
  auto age = static_cast<double>(unix_ms_now() - event.unix_ms) / 1000;
  event.id = next_event++;
  event.uptime_s = std::max(0.0, uptime_seconds - age);
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
                                              st.remotes.size(),
                                              st.unanswered});
    },
    [=](nodes_atom) {
      return with_view<node_summaries>(
        self, [self](const view& v) { return describe_nodes(self, v); });
    },
    [=](actors_atom) {
      return with_view<actor_summaries>(
        self, [self](const view& v) { return describe_actors(self, v); });
    },
    [=](status_atom, std::string& name) -> caf::result<actor_summary> {
      auto rp = self->make_response_promise<actor_summary>();
      gather(self, [self, rp, name](view v) mutable {
        for (auto& e : v.actors)
          if (e.name == name) {
            rp.deliver(describe(self, v, e));
            return;
          }
        rp.deliver(refused("no actor named '" + name + "'"));
      });
      return rp;
    },
    [=](events_atom, const event_query& query) {
      return last_events(self->state.events, query);
    },
    [=](metrics_atom) {
      return with_view<metric_families>(self, [self](const view& v) {
        return metrics_of(v.status, uptime(self));
      });
    },
    [=](ready_atom) {
      return with_view<readiness_report>(
        self, [](const view& v) { return readiness(v.status); });
    },
    [=](control_atom, std::string& command, std::string& argument,
        std::string& token) {
      return control(self, command, argument, token);
    },
  };
}

} // namespace rpcbatch
