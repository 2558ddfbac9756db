// The inspector: what the console (over CAF's middleman) and the HTTP
// endpoints see of a node. It knows every actor of the node by name through
// the node's (or the batcher host's) directory; on an ingest node the
// directory names the hosts of the batcher nodes in use too, and their
// actors join the view, so one console shows the whole cluster.
// It samples every actor's status periodically: each status carries the
// actor's recent events, recorded where they happened
// (actors/observe/event_log.hpp), which the inspector keeps in a bounded
// ring; the differences between two samples are the words/s rates.
// Every answer is typed (messages/console.hpp). A remote part (a batcher
// node's host or actors) that does not answer within the remote budget is
// shown as not answering, with the last status it gave, and counted: a
// sick batcher node never holds a console query up.
// Operator controls (flush, pause, resume, drain) are refused unless the
// node allows them.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <caf/timespan.hpp>

#include "actors/observe/reporting.hpp"
#include "messages/actors.hpp"

namespace rpcbatch {

struct inspector_config {
  /// all, ingest or batcher.
  std::string role = "all";
  std::string version;
  /// The node's options in effect (name -> value).
  std::map<std::string, std::string> options;
  /// Whether operator controls are allowed (--console-control).
  bool control = false;
  /// What a control must carry if not empty (--console-control-token): with
  /// TLS every holder of a certificate of the CA reaches the console port,
  /// and libcaf_openssl cannot tell operators from nodes.
  std::string control_token;
  /// How often every actor's status is sampled for events and rates.
  caf::timespan sample_interval = std::chrono::seconds(1);
  /// How many events the ring keeps.
  std::size_t max_events = 1000;
  /// How long a view waits for the remote parts (batcher nodes' hosts and
  /// actors), all told.
  caf::timespan remote_budget = std::chrono::milliseconds(800);
};

/// What the inspector looks at; only the directory is required.
struct inspector_targets {
  /// The node or the batcher host: answers the actors by name.
  actor_directory directory;
  /// The node (drain); null on a batcher node.
  node_actor node;
};

/// What the inspector knows of a batcher node it reaches.
struct remote_node {
  /// Whether it answered the last view in time.
  bool answering = true;
  /// Requests to it (its host or its actors) not answered in time.
  uint64_t unanswered = 0;
};

struct inspector_state {
  static inline const char* name = "inspector";
  inspector_config cfg;
  inspector_targets targets;
  caf::actor_clock::time_point started;
  /// The newest view absorbed: every actor's status by name. Each view
  /// (periodic or asked for) yields the events since the one before; views
  /// are numbered when they start, and an older one arriving late is not
  /// absorbed.
  status_map last;
  uint64_t views_started = 0;
  uint64_t last_view = 0;
  /// Controls refused for a wrong or missing control token.
  uint64_t controls_refused = 0;
  /// A periodic sample is under way.
  bool sampling = false;
  /// Words per second of every actor, over at least half a sample interval
  /// since `rate_base` was taken.
  std::map<std::string, double> rates;
  status_map rate_base;
  std::optional<caf::actor_clock::time_point> rate_base_at;
  /// The most recent events, oldest first; ids count every event ever.
  std::deque<node_event> events;
  uint64_t next_event = 1;
  /// The sequence number of the newest event taken from each actor.
  std::map<std::string, uint64_t> events_seen;
  /// Every batcher node seen so far, by address.
  std::map<std::string, remote_node> remotes;
  /// Requests to remote parts not answered in time, on every node.
  uint64_t unanswered = 0;

  /// Appends an event (numbered, with the inspector's uptime when it
  /// happened) and drops the oldest beyond the ring's size.
  void record(node_event event, double uptime_seconds);
};

inspector_actor::behavior_type
inspector(inspector_actor::stateful_pointer<inspector_state> self,
          inspector_config cfg, inspector_targets targets);

} // namespace rpcbatch
